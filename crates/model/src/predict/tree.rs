//! A tree ensemble compiled for speed. See the [module overview](super).

use std::cell::RefCell;

use ndarray::ArrayView2;

use crate::family::link::Precision;
use crate::family::tree::{Missing, Node, SplitRule, Tree, TreeEnsemble};

/// Rows scored together, tree by tree: small enough for the block's features and margins to
/// stay in L1/L2 cache, large enough to amortise walking the tree array.
const BLOCK_ROWS: usize = 64;

/// Rows that walk one tree in lock-step.
const LANES: usize = 8;

/// Trees this deep or shallower are walked in lock-step for exactly `depth` steps; deeper
/// (typically unbalanced) trees are walked row by row until a leaf.
const MAX_LOCKSTEP_DEPTH: usize = 10;

const FEATURE_MASK: u32 = (1 << 29) - 1;
/// The node sends missing values left.
const DEFAULT_LEFT: u32 = 1 << 31;
/// Zero (`|x| <= 1e-35`) is missing at this node (LightGBM's missing type `Zero`).
const ZERO_IS_MISSING: u32 = 1 << 30;
/// The node is a leaf (its `left` is itself).
const LEAF: u32 = 1 << 29;

/// LightGBM's `kZeroThreshold`, as in the reference.
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// A feature value in the type the model compares in.
trait Value: Copy + PartialOrd + Send + Sync + 'static {
    const ZERO: Self;
    const INFINITY: Self;
    fn from_f64(x: f64) -> Self;
    fn is_nan(self) -> bool;
    fn is_zero_missing(self) -> bool;
}

impl Value for f32 {
    const ZERO: Self = 0.0;
    const INFINITY: Self = f32::INFINITY;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline(always)]
    fn is_zero_missing(self) -> bool {
        f64::from(self.abs()) <= ZERO_THRESHOLD
    }
}

impl Value for f64 {
    const ZERO: Self = 0.0;
    const INFINITY: Self = f64::INFINITY;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline(always)]
    fn is_zero_missing(self) -> bool {
        self.abs() <= ZERO_THRESHOLD
    }
}

/// A margin accumulator: `f32` for XGBoost, `f64` for the others.
trait Accumulator: Copy + Send + Sync + 'static + std::ops::AddAssign {
    const ZERO: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Accumulator for f32 {
    const ZERO: Self = 0.0;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Accumulator for f64 {
    const ZERO: Self = 0.0;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// One node: 12 bytes with `f32` thresholds, 16 with `f64`. The right child is `left + 1`.
#[derive(Debug, Clone, Copy)]
struct FastNode<T> {
    threshold: T,
    /// The feature index in the low 29 bits, and the flags above.
    feature: u32,
    left: u32,
}

/// How a tree is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Exactly `depth` steps per row, rows in lock-step.
    Lockstep,
    /// Until a leaf, row by row.
    UntilLeaf,
    /// The reference evaluator (categorical splits, linear leaves).
    Reference,
}

#[derive(Debug, Clone, Copy)]
struct TreeInfo {
    root: u32,
    depth: u32,
    output: u32,
    walk: Walk,
}

/// The compiled form of one ensemble, generic over the comparison type `T`, the accumulator
/// `A`, and whether the comparison is strict (`x < t`, XGBoost) or not (`x <= t`).
#[derive(Debug)]
struct Engine<T, A, const STRICT: bool> {
    nodes: Vec<FastNode<T>>,
    /// `leaf_width` values per node (zero at internal nodes), indexed like `nodes`.
    values: Vec<A>,
    trees: Vec<TreeInfo>,
    leaf_width: usize,
    /// The block buffer's row stride: the features plus a constant zero that leaves read.
    stride: usize,
    base_score: Vec<A>,
    /// How inputs are read before the trees see them ([`SplitRule::read`]).
    rule: SplitRule,
}

/// A tree ensemble compiled for fast, exact prediction.
#[derive(Debug)]
pub(crate) struct CompiledTrees(Compiled);

#[derive(Debug)]
enum Compiled {
    /// XGBoost: `f32` input, `x < t`, `f32` sums.
    XgboostF32(Engine<f32, f32, true>),
    /// scikit-learn trees: `f32` input against `f64` thresholds, which is `x <= t'` with `t'`
    /// the largest `f32` not above `t`; `f64` sums.
    SklearnF32(Engine<f32, f64, false>),
    /// LightGBM and histogram gradient boosting: `f64` input (LightGBM's read through
    /// [`SplitRule::read`]), `x <= t`, `f64` sums.
    LightgbmF64(Engine<f64, f64, false>),
}

thread_local! {
    static BLOCK_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static BLOCK_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    static MARGINS_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static MARGINS_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

impl CompiledTrees {
    /// Compiles a validated ensemble, or returns `None` when its combination of split rule and
    /// precision has no compiled form (the reference evaluator then serves it).
    pub(crate) fn compile(ensemble: &TreeEnsemble) -> Option<CompiledTrees> {
        match (ensemble.split_rule, ensemble.precision) {
            (SplitRule::LessThanF32, Precision::Single) => {
                Some(Compiled::XgboostF32(Engine::compile(ensemble, |t| {
                    t as f32
                })))
            }
            (SplitRule::LessEqualF32Input, Precision::Double) => Some(Compiled::SklearnF32(
                Engine::compile(ensemble, f32_at_or_below),
            )),
            (SplitRule::LessEqualF64 | SplitRule::LightGbm, Precision::Double) => {
                Some(Compiled::LightgbmF64(Engine::compile(ensemble, |t| t)))
            }
            _ => None,
        }
        .map(CompiledTrees)
    }

    /// Writes the raw margins of every row of `features` into `raw` (`rows x raw_width`,
    /// row-major): the base score plus the sum of the trees, before any averaging, like
    /// [`TreeEnsemble`]'s reference evaluator.
    pub(crate) fn raw_margins(
        &self,
        ensemble: &TreeEnsemble,
        features: ArrayView2<'_, f64>,
        raw: &mut [f64],
    ) {
        match &self.0 {
            Compiled::XgboostF32(engine) => BLOCK_F32.with_borrow_mut(|block| {
                MARGINS_F32.with_borrow_mut(|margins| {
                    engine.raw_margins(ensemble, features, raw, block, margins)
                })
            }),
            Compiled::SklearnF32(engine) => BLOCK_F32.with_borrow_mut(|block| {
                MARGINS_F64.with_borrow_mut(|margins| {
                    engine.raw_margins(ensemble, features, raw, block, margins)
                })
            }),
            Compiled::LightgbmF64(engine) => BLOCK_F64.with_borrow_mut(|block| {
                MARGINS_F64.with_borrow_mut(|margins| {
                    engine.raw_margins(ensemble, features, raw, block, margins)
                })
            }),
        }
    }
}

/// The largest `f32` that is not above `t`: for an `f32` value `x`, `x as f64 <= t` exactly
/// when `x <= f32_at_or_below(t)`.
fn f32_at_or_below(t: f64) -> f32 {
    let rounded = t as f32;
    if f64::from(rounded) > t {
        // Rounding went up: step one f32 toward negative infinity.
        rounded.next_down()
    } else {
        rounded
    }
}

impl<T: Value, A: Accumulator, const STRICT: bool> Engine<T, A, STRICT> {
    fn compile(ensemble: &TreeEnsemble, threshold: impl Fn(f64) -> T) -> Self {
        let leaf_width = ensemble.leaf_width;
        let zero_column = ensemble.num_features as u32;
        let mut engine = Engine {
            nodes: Vec::new(),
            values: Vec::new(),
            trees: Vec::with_capacity(ensemble.trees.len()),
            leaf_width,
            stride: ensemble.num_features + 1,
            base_score: ensemble
                .base_score
                .iter()
                .map(|&b| A::from_f64(b))
                .collect(),
            rule: ensemble.split_rule,
        };
        for tree in &ensemble.trees {
            let depth = tree.depth();
            let special = tree.linear.is_some()
                || tree
                    .nodes
                    .iter()
                    .any(|n| matches!(n, Node::Categorical { .. }));
            let walk = if special {
                Walk::Reference
            } else if depth <= MAX_LOCKSTEP_DEPTH {
                Walk::Lockstep
            } else {
                Walk::UntilLeaf
            };
            let root = engine.nodes.len() as u32;
            if walk != Walk::Reference {
                engine.lay_out(
                    tree,
                    leaf_width,
                    zero_column,
                    ensemble.split_rule,
                    &threshold,
                );
            }
            engine.trees.push(TreeInfo {
                root,
                depth: depth as u32,
                output: tree.output,
                walk,
            });
        }
        engine
    }

    /// Appends `tree` breadth-first, siblings side by side.
    fn lay_out(
        &mut self,
        tree: &Tree,
        leaf_width: usize,
        zero_column: u32,
        rule: SplitRule,
        threshold: &impl Fn(f64) -> T,
    ) {
        let base = self.nodes.len();
        // (source node, position in the new layout)
        let mut queue = std::collections::VecDeque::from([(0usize, base)]);
        self.push_placeholder(leaf_width);
        while let Some((source, at)) = queue.pop_front() {
            match &tree.nodes[source] {
                Node::Leaf { leaf } => {
                    // A leaf reads the constant zero column against +inf, goes "left", and
                    // so stays where it is: lock-step walks may overshoot it safely.
                    self.nodes[at] = FastNode {
                        threshold: T::INFINITY,
                        feature: zero_column | LEAF,
                        left: at as u32,
                    };
                    let start = *leaf as usize * leaf_width;
                    for k in 0..leaf_width {
                        self.values[at * leaf_width + k] = A::from_f64(tree.leaf_values[start + k]);
                    }
                }
                Node::Numeric {
                    feature,
                    threshold: t,
                    missing,
                    default_left,
                    left,
                    right,
                } => {
                    let mut flags = 0;
                    let nan_goes_left = match missing {
                        // NaN counts as 0.0, so its direction is fixed per node.
                        Missing::AsZero => rule.goes_left(0.0, *t),
                        Missing::Nan => *default_left,
                        Missing::Zero => {
                            flags |= ZERO_IS_MISSING;
                            *default_left
                        }
                    };
                    if nan_goes_left {
                        flags |= DEFAULT_LEFT;
                    }
                    let children = self.nodes.len();
                    self.push_placeholder(leaf_width);
                    self.push_placeholder(leaf_width);
                    self.nodes[at] = FastNode {
                        threshold: threshold(*t),
                        feature: *feature | flags,
                        left: children as u32,
                    };
                    queue.push_back((*left as usize, children));
                    queue.push_back((*right as usize, children + 1));
                }
                Node::Categorical { .. } => {
                    unreachable!("trees with categorical splits use the reference walk")
                }
            }
        }
    }

    fn push_placeholder(&mut self, leaf_width: usize) {
        self.nodes.push(FastNode {
            threshold: T::ZERO,
            feature: 0,
            left: 0,
        });
        self.values.extend(std::iter::repeat_n(A::ZERO, leaf_width));
    }

    /// One step from node `index` for the row `row`.
    #[inline(always)]
    fn step(&self, index: u32, row: &[T]) -> u32 {
        let node = self.nodes[index as usize];
        let x = row[(node.feature & FEATURE_MASK) as usize];
        let missing = x.is_nan() || (node.feature & ZERO_IS_MISSING != 0 && x.is_zero_missing());
        let go_right = if missing {
            node.feature & DEFAULT_LEFT == 0
        } else if STRICT {
            // Not missing, so `x >= t` is exactly "not `x < t`".
            x >= node.threshold
        } else {
            x > node.threshold
        };
        node.left + u32::from(go_right)
    }

    fn raw_margins(
        &self,
        ensemble: &TreeEnsemble,
        features: ArrayView2<'_, f64>,
        raw: &mut [f64],
        block: &mut Vec<T>,
        margins: &mut Vec<A>,
    ) {
        let raw_width = self.base_score.len();
        let rows = features.nrows();
        let mut start = 0;
        while start < rows {
            let end = (start + BLOCK_ROWS).min(rows);
            let view = features.slice(ndarray::s![start..end, ..]);
            self.fill_block(view, block);
            margins.clear();
            for _ in start..end {
                margins.extend_from_slice(&self.base_score);
            }
            self.score_block(ensemble, view, block, margins);
            for (dst, &m) in raw[start * raw_width..end * raw_width]
                .iter_mut()
                .zip(margins.iter())
            {
                *dst = m.to_f64();
            }
            start = end;
        }
    }

    /// Copies a block of rows into the contiguous buffer, read and converted, with the zero
    /// column.
    fn fill_block(&self, view: ArrayView2<'_, f64>, block: &mut Vec<T>) {
        block.clear();
        let rule = self.rule;
        for row in view.rows() {
            block.extend(row.iter().map(|&x| T::from_f64(rule.read(x))));
            block.push(T::ZERO);
        }
    }

    fn score_block(
        &self,
        ensemble: &TreeEnsemble,
        view: ArrayView2<'_, f64>,
        block: &[T],
        margins: &mut [A],
    ) {
        let raw_width = self.base_score.len();
        let rows = view.nrows();
        let stride = self.stride;
        let width = self.leaf_width;
        for (t, info) in self.trees.iter().enumerate() {
            let out = info.output as usize;
            match info.walk {
                Walk::Lockstep => {
                    let mut r = 0;
                    while r + LANES <= rows {
                        let mut index = [info.root; LANES];
                        for _ in 0..info.depth {
                            for (lane, i) in index.iter_mut().enumerate() {
                                let row = &block[(r + lane) * stride..(r + lane + 1) * stride];
                                *i = self.step(*i, row);
                            }
                        }
                        for (lane, &i) in index.iter().enumerate() {
                            self.add_leaf(margins, (r + lane) * raw_width + out, i, width);
                        }
                        r += LANES;
                    }
                    for r in r..rows {
                        let row = &block[r * stride..(r + 1) * stride];
                        let mut i = info.root;
                        for _ in 0..info.depth {
                            i = self.step(i, row);
                        }
                        self.add_leaf(margins, r * raw_width + out, i, width);
                    }
                }
                Walk::UntilLeaf => {
                    for r in 0..rows {
                        let row = &block[r * stride..(r + 1) * stride];
                        let mut i = info.root;
                        while self.nodes[i as usize].feature & LEAF == 0 {
                            i = self.step(i, row);
                        }
                        self.add_leaf(margins, r * raw_width + out, i, width);
                    }
                }
                Walk::Reference => {
                    let tree = &ensemble.trees[t];
                    let rule = ensemble.split_rule;
                    for (r, row) in view.rows().into_iter().enumerate() {
                        let value = |f: usize| rule.read(row[f]);
                        let leaf = tree.leaf_for(ensemble.split_rule, value);
                        let at = r * raw_width + out;
                        if width == 1 {
                            margins[at] += A::from_f64(tree.leaf_value(leaf, 1, value));
                        } else {
                            let start = leaf as usize * width;
                            for k in 0..width {
                                margins[at + k] += A::from_f64(tree.leaf_values[start + k]);
                            }
                        }
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn add_leaf(&self, margins: &mut [A], at: usize, node: u32, width: usize) {
        let start = node as usize * width;
        for k in 0..width {
            margins[at + k] += self.values[start + k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_at_or_below_preserves_the_comparison() {
        for t in [
            0.1,
            -0.1,
            1.0,
            1e-40,
            -1e-40,
            3.4e38,
            1e39,
            -1e39,
            f64::INFINITY,
        ] {
            let down = f32_at_or_below(t);
            for x in [down, down.next_up(), down.next_down(), t as f32] {
                assert_eq!(f64::from(x) <= t, x <= down, "t={t} x={x}");
            }
        }
    }
}
