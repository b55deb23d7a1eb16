//! Path-dependent TreeSHAP (Lundberg et al. 2018, Algorithm 2), as XGBoost and LightGBM
//! compute `pred_contribs` / `pred_contrib`.
//!
//! For one row and one tree, the walk visits every node. At each split the row's own branch
//! (the *hot* child, chosen by exactly the rules prediction uses: thresholds, missing values,
//! categorical sets) and the other (*cold*) child are both followed; the path carries, per
//! feature met on the way, the fraction of training cover that goes the same way when the
//! feature is unknown (`zero`) and whether the row goes that way when it is known (`one`).
//! At a leaf, each feature's share of the leaf value is the Shapley weight of the path with
//! that feature unwound. A feature met twice on one path is merged into one entry, as the
//! libraries do. The bias of a tree is its expected value: the leaf values weighted by cover.
//!
//! Each tree adds its contributions to the outputs its leaves add to; the bias also holds
//! the ensemble's base score, so a row's contributions add up to its raw margin. Forests are
//! explained like their raw margin: the sum of the trees, before any averaging (divide by the
//! number of trees for the averaged prediction, as `shap` reports for scikit-learn forests).
//!
//! Two departures from the paper's code change nothing but rounding, and halve the time on
//! deep trees: at a leaf, every feature the row does not follow gets one share computed once
//! (see `Walk::leaf`), and the weight updates multiply by a table of `1 / k` instead of
//! dividing. `random_trees_match_the_shapley_definition` checks the result against the
//! Shapley values computed from their definition, subset by subset.
//!
//! Everything is computed in `f64`. XGBoost computes the same formulas in `f32`, so its
//! figures differ from these in the last digits of a `f32` (see `docs/batch.md`).

use std::cell::RefCell;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::family::link::Precision;
use crate::family::tree::{Node, SplitRule, Step, Tree, TreeEnsemble};

/// Trees deeper than this are not explained: the path buffer grows with the square of the
/// depth, and no boosted model is this deep.
pub(crate) const MAX_DEPTH: usize = 256;

/// Followed features unwound side by side at a leaf (see `Walk::hot_shares`).
const LANES: usize = 4;

/// No feature: the root's placeholder on every path.
const NO_FEATURE: u32 = u32::MAX;

/// One feature on the current path.
#[derive(Debug, Clone, Copy)]
struct PathElement {
    feature: u32,
    /// The fraction of cover that follows this path when the feature is unknown.
    zero: f64,
    /// 1 when the row follows this path, 0 when not.
    one: f64,
    /// The permutation weight of the subsets of this size.
    weight: f64,
}

const EMPTY: PathElement = PathElement {
    feature: NO_FEATURE,
    zero: 0.0,
    one: 0.0,
    weight: 0.0,
};

/// An ensemble prepared for TreeSHAP.
#[derive(Debug)]
pub(crate) struct TreeShap {
    /// The bias of each raw output: the base score plus every tree's expected value.
    bias: Vec<f64>,
    /// Path elements a walk needs, for the deepest tree.
    path_len: usize,
    /// `1 / k` for every path length `k` a walk meets (`[0]` is unused): the weight updates
    /// multiply instead of dividing, several times faster in the innermost loops.
    recip: Vec<f64>,
}

/// Per-thread buffers, reused across calls so a thread allocates only on its first.
#[derive(Default)]
struct Scratch {
    path: Vec<PathElement>,
    phi: Vec<f64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl TreeShap {
    /// Prepares `ensemble`, or `None` when a tree lacks covers, has linear leaves or is deeper
    /// than [`MAX_DEPTH`].
    pub(crate) fn new(ensemble: &TreeEnsemble) -> Option<TreeShap> {
        let mut bias: Vec<f64> = match ensemble.precision {
            Precision::Double => ensemble.base_score.clone(),
            Precision::Single => ensemble
                .base_score
                .iter()
                .map(|&b| f64::from(b as f32))
                .collect(),
        };
        let mut deepest = 0;
        let width = ensemble.leaf_width;
        let mut means = Vec::new();
        for tree in &ensemble.trees {
            if tree.cover.len() != tree.nodes.len() || tree.linear.is_some() {
                return None;
            }
            deepest = deepest.max(tree.depth());
            expected_values(tree, width, &mut means);
            let out = tree.output as usize;
            for (b, m) in bias[out..out + width].iter_mut().zip(&means[..width]) {
                *b += m;
            }
        }
        if deepest > MAX_DEPTH {
            return None;
        }
        // Level d of the walk keeps d + 1 elements; the leaves sit at depth `deepest + 1`
        // counting the root's placeholder.
        let levels = deepest + 2;
        Some(TreeShap {
            bias,
            path_len: levels * (levels + 1) / 2,
            recip: (0..=levels + 1)
                .map(|k| if k == 0 { 0.0 } else { 1.0 / k as f64 })
                .collect(),
        })
    }

    /// Writes the contributions of every row (`out` is `rows x raw_width * (features + 1)`).
    pub(crate) fn contribs_into(
        &self,
        ensemble: &TreeEnsemble,
        features: ArrayView2<'_, f64>,
        mut out: ArrayViewMut2<'_, f64>,
    ) {
        let stride = ensemble.num_features + 1;
        let rule = ensemble.split_rule;
        SCRATCH.with(|cell| {
            let mut fresh = Scratch::default();
            let mut borrowed = cell.try_borrow_mut();
            let Scratch { path, phi } = match borrowed.as_deref_mut() {
                Ok(scratch) => scratch,
                Err(_) => &mut fresh,
            };
            path.resize(self.path_len, EMPTY);
            phi.resize(self.bias.len() * stride, 0.0);
            for (row, mut dst) in features.rows().into_iter().zip(out.rows_mut()) {
                phi.fill(0.0);
                for (k, &b) in self.bias.iter().enumerate() {
                    phi[k * stride + ensemble.num_features] = b;
                }
                let value = |f: usize| rule.read(row[f]);
                for tree in &ensemble.trees {
                    Walk {
                        tree,
                        rule,
                        row: &value,
                        width: ensemble.leaf_width,
                        phi: &mut phi[tree.output as usize * stride..],
                        stride,
                        recip: &self.recip,
                    }
                    .node(0, 0, &[], path, 1.0, 1.0, NO_FEATURE);
                }
                dst.assign(&ndarray::ArrayView1::from(&phi[..]));
            }
        });
    }
}

/// The expected value of each of `tree`'s `width` outputs, weighted by cover, into
/// `means[..width]` (which it uses as scratch, `nodes x width`).
fn expected_values(tree: &Tree, width: usize, means: &mut Vec<f64>) {
    let nodes = &tree.nodes;
    means.clear();
    means.resize(nodes.len() * width, 0.0);
    // Children come after parents: one backward pass settles every mean.
    for n in (0..nodes.len()).rev() {
        match &nodes[n] {
            Node::Leaf { leaf } => {
                let at = *leaf as usize * width;
                means[n * width..(n + 1) * width]
                    .copy_from_slice(&tree.leaf_values[at..at + width]);
            }
            Node::Numeric { left, right, .. } | Node::Categorical { left, right, .. } => {
                let (l, r) = (*left as usize, *right as usize);
                for k in 0..width {
                    means[n * width + k] = (means[l * width + k] * tree.cover[l]
                        + means[r * width + k] * tree.cover[r])
                        / tree.cover[n];
                }
            }
        }
    }
}

/// One row's walk through one tree.
struct Walk<'a, R> {
    tree: &'a Tree,
    rule: SplitRule,
    row: &'a R,
    width: usize,
    /// The row's contributions from this tree's first output on.
    phi: &'a mut [f64],
    stride: usize,
    /// [`TreeShap::recip`].
    recip: &'a [f64],
}

impl<R: Fn(usize) -> f64> Walk<'_, R> {
    /// Visits `node` with the parent's path (`depth` elements), extended by the edge that
    /// led here; `storage` holds this node's path and those of its descendants.
    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        node: usize,
        depth: usize,
        parent: &[PathElement],
        storage: &mut [PathElement],
        zero: f64,
        one: f64,
        feature: u32,
    ) {
        let (path, further) = storage.split_at_mut(depth + 1);
        path[..depth].copy_from_slice(&parent[..depth]);
        extend(path, depth, zero, one, feature, self.recip);
        let tree = self.tree;
        let split = &tree.nodes[node];
        let (hot, cold, split_feature) = match tree.step(split, self.rule, self.row) {
            Step::Leaf(leaf) => {
                self.leaf(leaf, path, depth);
                return;
            }
            Step::Child(hot) => match split {
                Node::Numeric {
                    feature,
                    left,
                    right,
                    ..
                }
                | Node::Categorical {
                    feature,
                    left,
                    right,
                    ..
                } => (hot, if hot == *left { *right } else { *left }, *feature),
                Node::Leaf { .. } => return,
            },
        };
        let cover = tree.cover[node];
        let hot_zero = tree.cover[hot as usize] / cover;
        let cold_zero = tree.cover[cold as usize] / cover;
        let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
        let mut depth = depth;
        // A feature already on the path: undo its earlier split and merge the two.
        if let Some(i) = path[1..=depth]
            .iter()
            .position(|e| e.feature == split_feature)
        {
            let i = i + 1;
            incoming_zero = path[i].zero;
            incoming_one = path[i].one;
            unwind(path, depth, i, self.recip);
            depth -= 1;
        }
        let path = &*path;
        self.node(
            hot as usize,
            depth + 1,
            path,
            further,
            hot_zero * incoming_zero,
            incoming_one,
            split_feature,
        );
        self.node(
            cold as usize,
            depth + 1,
            path,
            further,
            cold_zero * incoming_zero,
            0.0,
            split_feature,
        );
    }

    /// Shares leaf `leaf`'s values among the features of the path (`depth + 1` elements).
    ///
    /// Each feature's share is the total weight of the path with that feature unwound, times
    /// `one - zero`. `one` is 0 or 1 (a row follows a branch or not; merged features multiply
    /// such flags), which splits the work in two:
    /// - every feature the row does not follow (`one == 0`) has the same share: unwinding it
    ///   divides each weight by its `zero`, and the share multiplies by `-zero` again, leaving
    ///   `-sum(weight[j] * (depth + 1) / (depth - j))`, computed once per leaf;
    /// - the features the row follows (`one == 1`) are unwound as in the paper, without its
    ///   divisions by `one`, [`LANES`] at a time (see [`Walk::hot_shares`]).
    ///
    /// This is the paper's result with fewer operations: the cold features' loop is gone, and
    /// it is the larger half of the work of a leaf, on average.
    fn leaf(&mut self, leaf: u32, path: &[PathElement], depth: usize) {
        let values = &self.tree.leaf_values[leaf as usize * self.width..][..self.width];
        let recip = self.recip;
        let mut cold_share = None;
        let mut hot = [0usize; LANES];
        let mut count = 0;
        for i in 1..=depth {
            let element = path[i];
            debug_assert!(element.one == 0.0 || element.one == 1.0);
            if element.one == 0.0 {
                let share = *cold_share.get_or_insert_with(|| {
                    let mut sum = 0.0;
                    for j in 0..depth {
                        sum += path[j].weight * recip[depth - j];
                    }
                    -sum * (depth + 1) as f64
                });
                self.add(values, element.feature, share);
            } else {
                hot[count] = i;
                count += 1;
                if count == LANES {
                    self.hot_shares(values, path, depth, &hot[..count]);
                    count = 0;
                }
            }
        }
        if count > 0 {
            self.hot_shares(values, path, depth, &hot[..count]);
        }
    }

    /// The shares of the followed features at `hot` (at most [`LANES`]): each unwinding is a
    /// chain of dependent multiplications, so several run side by side in one loop over the
    /// path, and the compiler keeps them in registers (or vector lanes).
    fn hot_shares(&mut self, values: &[f64], path: &[PathElement], depth: usize, hot: &[usize]) {
        let recip = self.recip;
        let total = (depth + 1) as f64;
        let mut zero = [0.0; LANES];
        for (z, &i) in zero.iter_mut().zip(hot) {
            *z = path[i].zero * recip[depth + 1];
        }
        let mut next = [path[depth].weight; LANES];
        let mut sum = [0.0; LANES];
        for j in (0..depth).rev() {
            let up = total * recip[j + 1];
            // `weight * zero * (depth - j)` folded into one factor off the dependent chain.
            let back = up * (depth - j) as f64;
            let w = path[j].weight;
            for lane in 0..LANES {
                sum[lane] += next[lane] * up;
                next[lane] = w - next[lane] * (back * zero[lane]);
            }
        }
        for (lane, &i) in hot.iter().enumerate() {
            let element = path[i];
            self.add(values, element.feature, sum[lane] * (1.0 - element.zero));
        }
    }

    /// Adds `share` of each of the leaf's `values` to `feature`'s contribution to each output.
    fn add(&mut self, values: &[f64], feature: u32, share: f64) {
        for (k, &v) in values.iter().enumerate() {
            self.phi[k * self.stride + feature as usize] += share * v;
        }
    }
}

/// Adds a feature to the path of `depth` elements, updating every subset weight.
fn extend(
    path: &mut [PathElement],
    depth: usize,
    zero: f64,
    one: f64,
    feature: u32,
    recip: &[f64],
) {
    path[depth] = PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let inverse = recip[depth + 1];
    let (zero, one) = (zero * inverse, one * inverse);
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64;
        path[i].weight = zero * path[i].weight * (depth - i) as f64;
    }
}

/// Removes element `index` from the path of `depth + 1` elements, undoing its [`extend`].
fn unwind(path: &mut [PathElement], depth: usize, index: usize, recip: &[f64]) {
    let PathElement { zero, one, .. } = path[index];
    let total = (depth + 1) as f64;
    let inverse = recip[depth + 1];
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let weight = path[i].weight;
            path[i].weight = next * total * recip[i + 1] / one;
            next = weight - path[i].weight * zero * (depth - i) as f64 * inverse;
        } else {
            path[i].weight = path[i].weight * total * recip[depth - i] / zero;
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::link::Link;
    use crate::family::tree::{Aggregation, Missing};
    use ndarray::array;

    /// A stump on feature 1 with covers 4 (left, value -1) and 6 (right, value 1).
    fn stump() -> TreeEnsemble {
        TreeEnsemble {
            num_features: 2,
            split_rule: SplitRule::LessEqualF64,
            precision: Precision::Double,
            leaf_width: 1,
            base_score: vec![0.5],
            aggregation: Aggregation::Sum,
            link: Link::Identity,
            trees: vec![Tree {
                output: 0,
                nodes: vec![
                    Node::Numeric {
                        feature: 1,
                        threshold: 0.0,
                        missing: Missing::Nan,
                        default_left: true,
                        left: 1,
                        right: 2,
                    },
                    Node::Leaf { leaf: 0 },
                    Node::Leaf { leaf: 1 },
                ],
                leaf_values: vec![-1.0, 1.0],
                category_words: vec![],
                linear: None,
                cover: vec![10.0, 4.0, 6.0],
            }],
        }
    }

    #[test]
    fn a_stump_gives_its_feature_the_gap_to_the_expectation() {
        let ensemble = stump();
        let shap = TreeShap::new(&ensemble).unwrap();
        // Expected value 0.2; the bias adds the base score.
        let mut out = ndarray::Array2::zeros((3, 3));
        let rows = array![[7.0, 1.0], [7.0, -1.0], [7.0, f64::NAN]];
        shap.contribs_into(&ensemble, rows.view(), out.view_mut());
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        for (row, feature) in [(0, 0.8), (1, -1.2), (2, -1.2)] {
            assert!(
                close(out[[row, 1]], feature),
                "row {row}: {}",
                out[[row, 1]]
            );
            assert_eq!(out[[row, 0]], 0.0, "feature 0 is never used");
            assert!(close(out[[row, 2]], 0.7), "bias {}", out[[row, 2]]);
        }
    }

    /// SplitMix64: reproducible values without a dependency.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A random tree over `features` features, up to `depth` deep, with features repeated
    /// along paths (so the walk merges them) and covers that add up.
    fn random_tree(random: &mut Random, features: usize, depth: usize, width: usize) -> Tree {
        fn grow(
            random: &mut Random,
            tree: &mut Tree,
            at: usize,
            cover: f64,
            depth: usize,
            features: usize,
            width: usize,
        ) {
            tree.cover[at] = cover;
            if depth == 0 || (at > 0 && random.unit() < 0.2) {
                let leaf = (tree.leaf_values.len() / width) as u32;
                tree.leaf_values
                    .extend((0..width).map(|_| random.unit() * 4.0 - 2.0));
                tree.nodes[at] = Node::Leaf { leaf };
                return;
            }
            let (left, right) = (tree.nodes.len(), tree.nodes.len() + 1);
            tree.nodes
                .extend([Node::Leaf { leaf: 0 }, Node::Leaf { leaf: 0 }]);
            tree.cover.extend([0.0, 0.0]);
            tree.nodes[at] = Node::Numeric {
                feature: random.below(features) as u32,
                threshold: random.unit() * 2.0 - 1.0,
                missing: Missing::Nan,
                default_left: random.unit() < 0.5,
                left: left as u32,
                right: right as u32,
            };
            let share = 0.05 + 0.9 * random.unit();
            grow(
                random,
                tree,
                left,
                cover * share,
                depth - 1,
                features,
                width,
            );
            grow(
                random,
                tree,
                right,
                cover * (1.0 - share),
                depth - 1,
                features,
                width,
            );
        }
        let mut tree = Tree {
            output: 0,
            nodes: vec![Node::Leaf { leaf: 0 }],
            leaf_values: vec![],
            category_words: vec![],
            linear: None,
            cover: vec![0.0],
        };
        grow(random, &mut tree, 0, 100.0, depth, features, width);
        tree
    }

    /// The expected value of output `k` of `tree` at `node` when only the features in `known`
    /// are known: a known feature's split follows the row, an unknown one averages its
    /// children by cover. This is the value function path-dependent TreeSHAP explains.
    fn conditional(
        tree: &Tree,
        node: usize,
        row: &[f64],
        known: u32,
        k: usize,
        width: usize,
    ) -> f64 {
        match &tree.nodes[node] {
            Node::Leaf { leaf } => tree.leaf_values[*leaf as usize * width + k],
            split @ Node::Numeric {
                feature,
                left,
                right,
                ..
            } => {
                if known & (1 << feature) != 0 {
                    let Step::Child(next) = tree.step(split, SplitRule::LessEqualF64, |f| row[f])
                    else {
                        unreachable!("a split has children")
                    };
                    conditional(tree, next as usize, row, known, k, width)
                } else {
                    let (l, r) = (*left as usize, *right as usize);
                    (tree.cover[l] * conditional(tree, l, row, known, k, width)
                        + tree.cover[r] * conditional(tree, r, row, known, k, width))
                        / tree.cover[node]
                }
            }
            Node::Categorical { .. } => unreachable!("no categorical splits here"),
        }
    }

    /// Exact Shapley values by the definition: every subset of the other features, weighted
    /// by `|S|! (M - |S| - 1)! / M!`.
    fn brute_force(ensemble: &TreeEnsemble, row: &[f64]) -> Vec<f64> {
        let m = ensemble.num_features;
        let width = ensemble.leaf_width;
        let factorial = |n: usize| (1..=n).map(|i| i as f64).product::<f64>();
        let value = |known: u32, k: usize| -> f64 {
            ensemble
                .trees
                .iter()
                .map(|t| conditional(t, 0, row, known, k, width))
                .sum()
        };
        let mut phi = vec![0.0; width * (m + 1)];
        for k in 0..width {
            for i in 0..m {
                for known in 0u32..(1 << m) {
                    if known & (1 << i) != 0 {
                        continue;
                    }
                    let size = known.count_ones() as usize;
                    let weight = factorial(size) * factorial(m - size - 1) / factorial(m);
                    phi[k * (m + 1) + i] += weight * (value(known | (1 << i), k) - value(known, k));
                }
            }
            phi[k * (m + 1) + m] = ensemble.base_score[k] + value(0, k);
        }
        phi
    }

    #[test]
    fn random_trees_match_the_shapley_definition() {
        let mut random = Random(7);
        for case in 0..40 {
            let features = 2 + case % 4;
            let width = 1 + case % 2;
            let trees = (0..1 + case % 3)
                .map(|_| random_tree(&mut random, features, 2 + case % 5, width))
                .collect();
            let ensemble = TreeEnsemble {
                num_features: features,
                split_rule: SplitRule::LessEqualF64,
                precision: Precision::Double,
                leaf_width: width,
                base_score: (0..width).map(|k| 0.25 * k as f64).collect(),
                aggregation: Aggregation::Sum,
                link: Link::Identity,
                trees,
            };
            let shap = TreeShap::new(&ensemble).unwrap();
            let rows = ndarray::Array2::from_shape_fn((8, features), |_| {
                if random.unit() < 0.1 {
                    f64::NAN
                } else {
                    random.unit() * 2.4 - 1.2
                }
            });
            let mut out = ndarray::Array2::zeros((8, width * (features + 1)));
            shap.contribs_into(&ensemble, rows.view(), out.view_mut());
            for (r, row) in rows.rows().into_iter().enumerate() {
                let want = brute_force(&ensemble, row.as_slice().unwrap());
                for (j, (&got, &want)) in out.row(r).iter().zip(&want).enumerate() {
                    assert!(
                        (got - want).abs() <= 1e-10 * want.abs().max(1.0),
                        "case {case}, row {r}, column {j}: TreeSHAP gives {got}, the definition {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn trees_without_covers_cannot_be_explained() {
        let mut ensemble = stump();
        ensemble.trees[0].cover.clear();
        assert!(TreeShap::new(&ensemble).is_none());
    }
}
