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
/// (typically unbalanced) trees stop a group early once all its rows rest on leaves.
const MAX_LOCKSTEP_DEPTH: usize = 12;

/// Zero (`|x| <= 1e-35`) is missing at this node (LightGBM's missing type `Zero`); the rest
/// of `FastNode::feature` is the column.
const ZERO_IS_MISSING: u32 = 1 << 31;

/// LightGBM's `kZeroThreshold`, as in the reference.
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// A feature value in the type the model compares in.
trait Value: Copy + PartialOrd + Send + Sync + 'static + std::ops::Neg<Output = Self> {
    const ZERO: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    fn from_f64(x: f64) -> Self;
    fn next_down(self) -> Self;
    fn is_zero_missing(self) -> bool;
}

impl Value for f32 {
    const ZERO: Self = 0.0;
    const INFINITY: Self = f32::INFINITY;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn next_down(self) -> Self {
        f32::next_down(self)
    }
    #[inline(always)]
    fn is_zero_missing(self) -> bool {
        f64::from(self.abs()) <= ZERO_THRESHOLD
    }
}

impl Value for f64 {
    const ZERO: Self = 0.0;
    const INFINITY: Self = f64::INFINITY;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    fn next_down(self) -> Self {
        f64::next_down(self)
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

/// One node in canonical form: a row goes to `left + 1` exactly when
/// `!(row[feature] <= threshold)`, which is also what a missing (`NaN`) value does.
///
/// Every split of every library is rewritten into this one test when the ensemble is
/// compiled. A node whose missing values go left gets its children swapped and reads the
/// *negated* feature, which the row buffer holds beside the plain one; strict comparisons
/// (`x < t`) become `x <= t'` with `t'` the next value below `t`. So a step is a load, a
/// compare and an add, with no branch on the data.
///
/// 12 bytes with `f32` thresholds, 16 with `f64`. A leaf reads the buffer's constant zero
/// column against `+inf` and so points to itself.
#[derive(Debug, Clone, Copy)]
struct FastNode<T> {
    threshold: T,
    /// The column of the row buffer, possibly with [`ZERO_IS_MISSING`].
    feature: u32,
    left: u32,
}

/// How a tree is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Exactly `depth` steps per row, rows in lock-step.
    Lockstep,
    /// Rows in lock-step until all of a group's rows rest on leaves.
    UntilRest,
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
    /// The features of the ensemble.
    features: usize,
    /// The block buffer's row stride: the features, a constant zero that leaves read, and the
    /// negated features.
    stride: usize,
    base_score: Vec<A>,
    /// How inputs are read before the trees see them ([`SplitRule::read`]).
    rule: SplitRule,
    /// Some node treats zero as missing (LightGBM's missing type `Zero`).
    zero_missing: bool,
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
    /// LightGBM and histogram gradient boosting: `f64` input, `x <= t`, `f64` sums.
    LightgbmF64(Engine<f64, f64, false>),
}

thread_local! {
    static BLOCK_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static BLOCK_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    static MARGINS_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static MARGINS_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    static READ: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
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

/// The canonical threshold of a split whose missing values go right: `go right` must be
/// `!(x <= t')`. `None` when no such `t'` exists.
fn plain_threshold<T: Value>(rule: SplitRule, t: T) -> Option<T> {
    match rule {
        // `x < t` is `x <= next_down(t)`; below negative infinity there is nothing.
        SplitRule::LessThanF32 => (t != T::NEG_INFINITY).then(|| t.next_down()),
        SplitRule::LessEqualF64 | SplitRule::LightGbm | SplitRule::LessEqualF32Input => Some(t),
    }
}

/// The canonical threshold on the negated feature of a split whose missing values go left
/// (its children swapped): `go right` (to the original left child) must be `!(-x <= t')`,
/// that is `x` goes left in the original test.
fn swapped_threshold<T: Value>(rule: SplitRule, t: T) -> Option<T> {
    match rule {
        // Left iff `x < t` iff `-x > -t` iff `!(-x <= -t)`.
        SplitRule::LessThanF32 => Some(-t),
        // Left iff `x <= t` iff `-x >= -t` iff `!(-x < -t)` iff `!(-x <= next_down(-t))`.
        SplitRule::LessEqualF64 | SplitRule::LightGbm | SplitRule::LessEqualF32Input => {
            (-t != T::NEG_INFINITY).then(|| (-t).next_down())
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
        let mut engine = Engine {
            nodes: Vec::new(),
            values: Vec::new(),
            trees: Vec::with_capacity(ensemble.trees.len()),
            leaf_width,
            features: ensemble.num_features,
            stride: 2 * ensemble.num_features + 1,
            base_score: ensemble
                .base_score
                .iter()
                .map(|&b| A::from_f64(b))
                .collect(),
            rule: ensemble.split_rule,
            zero_missing: false,
        };
        for tree in &ensemble.trees {
            let depth = tree.depth();
            let root = engine.nodes.len();
            let laid_out = tree.linear.is_none()
                && engine
                    .lay_out(tree, ensemble.split_rule, &threshold)
                    .is_some();
            let walk = if !laid_out {
                engine.nodes.truncate(root);
                engine.values.truncate(root * leaf_width);
                Walk::Reference
            } else if depth <= MAX_LOCKSTEP_DEPTH {
                Walk::Lockstep
            } else {
                Walk::UntilRest
            };
            engine.trees.push(TreeInfo {
                root: root as u32,
                depth: depth as u32,
                output: tree.output,
                walk,
            });
        }
        engine
    }

    /// Appends `tree` breadth-first, siblings side by side, every split in canonical form.
    /// Returns `None` for a tree the canonical form cannot express (categorical splits, a
    /// threshold at negative infinity), which then keeps the reference walk.
    fn lay_out(
        &mut self,
        tree: &Tree,
        rule: SplitRule,
        threshold: &impl Fn(f64) -> T,
    ) -> Option<()> {
        let width = self.leaf_width;
        let zero_column = self.features as u32;
        let base = self.nodes.len();
        // (source node, position in the new layout)
        let mut queue = std::collections::VecDeque::from([(0usize, base)]);
        self.push_placeholder();
        while let Some((source, at)) = queue.pop_front() {
            match &tree.nodes[source] {
                Node::Leaf { leaf } => {
                    self.nodes[at] = FastNode {
                        threshold: T::INFINITY,
                        feature: zero_column,
                        left: at as u32,
                    };
                    let start = *leaf as usize * width;
                    for k in 0..width {
                        self.values[at * width + k] = A::from_f64(tree.leaf_values[start + k]);
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
                    let missing_goes_left = match missing {
                        // NaN counts as 0.0, so its direction is fixed per node.
                        Missing::AsZero => rule.goes_left(0.0, *t),
                        Missing::Nan | Missing::Zero => *default_left,
                    };
                    // In canonical form missing values go right: when they should go left,
                    // swap the children and test the negated feature.
                    let (column, canonical, first, second) = if missing_goes_left {
                        let column = self.features as u32 + 1 + feature;
                        (
                            column,
                            swapped_threshold(rule, threshold(*t))?,
                            *right,
                            *left,
                        )
                    } else {
                        (
                            *feature,
                            plain_threshold(rule, threshold(*t))?,
                            *left,
                            *right,
                        )
                    };
                    let flags = if *missing == Missing::Zero {
                        self.zero_missing = true;
                        ZERO_IS_MISSING
                    } else {
                        0
                    };
                    let children = self.nodes.len();
                    self.push_placeholder();
                    self.push_placeholder();
                    self.nodes[at] = FastNode {
                        threshold: canonical,
                        feature: column | flags,
                        left: children as u32,
                    };
                    queue.push_back((first as usize, children));
                    queue.push_back((second as usize, children + 1));
                }
                Node::Categorical { .. } => return None,
            }
        }
        Some(())
    }

    fn push_placeholder(&mut self) {
        self.nodes.push(FastNode {
            threshold: T::ZERO,
            feature: 0,
            left: 0,
        });
        self.values
            .extend(std::iter::repeat_n(A::ZERO, self.leaf_width));
    }

    /// One step from node `index` for row `lane` of a group. `ZERO_MISSING` is false when no
    /// node of the ensemble treats zero as missing, which leaves the step a load, a compare
    /// and an add.
    #[inline(always)]
    fn step<const ZERO_MISSING: bool>(&self, index: u32, group: &[T], lane: usize) -> u32 {
        debug_assert!((index as usize) < self.nodes.len());
        debug_assert!(group.len() == self.stride * LANES && lane < LANES);
        // SAFETY: `index` is the root of a laid-out tree or a child written by `lay_out`, all
        // of which are positions in `nodes`. A node's column is a validated feature, that
        // feature's negated copy, or the zero column: all below `stride`, so
        // `column * LANES + lane` is inside the group. Only the ZERO_IS_MISSING bit can be set
        // above the column, and it is masked off.
        let node = unsafe { *self.nodes.get_unchecked(index as usize) };
        let column = if ZERO_MISSING {
            node.feature & !ZERO_IS_MISSING
        } else {
            node.feature
        };
        let x = unsafe { *group.get_unchecked(column as usize * LANES + lane) };
        // False for NaN: missing values go right, where compilation put their default child.
        // The negated comparison is the point: it is true for NaN.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let mut go_right = !(x <= node.threshold);
        if ZERO_MISSING {
            go_right |= node.feature & ZERO_IS_MISSING != 0 && x.is_zero_missing();
        }
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
            READ.with_borrow_mut(|read| self.score_block(ensemble, view, block, margins, read));
            for (dst, &m) in raw[start * raw_width..end * raw_width]
                .iter_mut()
                .zip(margins.iter())
            {
                *dst = m.to_f64();
            }
            start = end;
        }
    }

    /// Copies a block of rows into the buffer, read ([`SplitRule::read`]) and converted. Rows are grouped by `LANES`, and
    /// each group is stored column by column (`group[column * LANES + lane]`), so a lane's
    /// value is at a constant offset from the group and lock-step walks need no per-row
    /// pointers. A row's columns are its features, a zero, and its features negated; a last
    /// partial group is padded with zero rows whose results are never read.
    fn fill_block(&self, view: ArrayView2<'_, f64>, block: &mut Vec<T>) {
        let group_len = self.stride * LANES;
        let groups = view.nrows().div_ceil(LANES);
        block.clear();
        block.resize(groups * group_len, T::ZERO);
        let negated = self.features + 1;
        let rule = self.rule;
        for (r, row) in view.rows().into_iter().enumerate() {
            let group = &mut block[(r / LANES) * group_len..][..group_len];
            let lane = r % LANES;
            for (j, &x) in row.iter().enumerate() {
                let x = T::from_f64(rule.read(x));
                group[j * LANES + lane] = x;
                group[(negated + j) * LANES + lane] = -x;
            }
        }
    }

    fn score_block(
        &self,
        ensemble: &TreeEnsemble,
        view: ArrayView2<'_, f64>,
        block: &[T],
        margins: &mut [A],
        read: &mut Vec<f64>,
    ) {
        read.clear();
        let raw_width = self.base_score.len();
        let rows = view.nrows();
        let width = self.leaf_width;
        for (t, info) in self.trees.iter().enumerate() {
            let out = info.output as usize;
            match info.walk {
                Walk::Lockstep if self.zero_missing => {
                    self.walk::<true, false>(info, block, margins, rows, raw_width)
                }
                Walk::Lockstep => self.walk::<false, false>(info, block, margins, rows, raw_width),
                Walk::UntilRest if self.zero_missing => {
                    self.walk::<true, true>(info, block, margins, rows, raw_width)
                }
                Walk::UntilRest => self.walk::<false, true>(info, block, margins, rows, raw_width),
                Walk::Reference => {
                    let tree = &ensemble.trees[t];
                    let rule = ensemble.split_rule;
                    let features = self.features;
                    // The block's rows as the library reads them, contiguous: filled once per
                    // block, on the first tree that needs it.
                    if read.is_empty() {
                        for row in view.rows() {
                            read.extend(row.iter().map(|&x| rule.read(x)));
                        }
                    }
                    for (r, row) in read.chunks_exact(features).enumerate() {
                        let value = |f: usize| row[f];
                        let leaf = tree.leaf_for(rule, value);
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

    /// Walks the `LANES` rows of each group through a tree in lock-step, for at most `depth`
    /// steps; leaves loop to themselves, so no row needs to stop on its own, and the lanes'
    /// independent walks (and cache misses) overlap in the processor.
    ///
    /// With `STOP_AT_REST` (deep trees, whose paths differ widely in length) a group stops as
    /// soon as none of its rows moved; shallow trees walk exactly `depth` steps with no such
    /// test. Lock-step matters even for deep trees: a row-by-row walk was six times slower at
    /// depth 12.
    #[inline]
    fn walk<const ZERO_MISSING: bool, const STOP_AT_REST: bool>(
        &self,
        info: &TreeInfo,
        block: &[T],
        margins: &mut [A],
        rows: usize,
        raw_width: usize,
    ) {
        let out = info.output as usize;
        for (g, group) in block.chunks_exact(self.stride * LANES).enumerate() {
            let mut index = [info.root; LANES];
            for _ in 0..info.depth {
                let mut moved = false;
                for (lane, i) in index.iter_mut().enumerate() {
                    let next = self.step::<ZERO_MISSING>(*i, group, lane);
                    moved |= next != *i;
                    *i = next;
                }
                if STOP_AT_REST && !moved {
                    break;
                }
            }
            let first = g * LANES;
            for (lane, &i) in index.iter().enumerate().take(rows - first) {
                self.add_leaf(
                    margins,
                    (first + lane) * raw_width + out,
                    i,
                    self.leaf_width,
                );
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
