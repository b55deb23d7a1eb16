//! A tree ensemble compiled for speed. See the [module overview](super).

use std::cell::RefCell;

#[cfg(target_arch = "x86_64")]
mod binned;

// The engine's value and sum types, with what the binned walk needs of them where it exists.
#[cfg(target_arch = "x86_64")]
use binned::{BinnedSum as EngineSum, BinnedValue as EngineValue};
#[cfg(not(target_arch = "x86_64"))]
use {Accumulator as EngineSum, Value as EngineValue};

use ndarray::ArrayView2;

use crate::family::link::Precision;
use crate::family::tree::{Missing, Node, SplitRule, Tree, TreeEnsemble, category_goes_left};

/// Rows scored together, tree by tree: small enough for the block's features and margins to
/// stay in L1/L2 cache, large enough to amortise walking the tree array.
const BLOCK_ROWS: usize = 64;

/// Rows scored together when the compiled trees outgrow [`CACHE_BYTES`]: every block reads
/// all the trees from a slower cache, so larger blocks read them fewer times. (Measured: 300
/// trees of depth 12, 8 MB compiled, 1.5x faster than with 64-row blocks; models that fit
/// were no faster.)
const LARGE_MODEL_BLOCK_ROWS: usize = 256;

/// The compiled size above which a model counts as large: a typical L2 cache per core.
const CACHE_BYTES: usize = 2 << 20;

/// Rows that walk one tree in lock-step: enough independent walks to hide the latency of a
/// step's two dependent loads. (Measured, 300 trees, one thread: 16 rows scored XGBoost's
/// trees of depth 6, 8 and 12 14%, 20% and 44% faster than 8 rows, LightGBM's 6%, 11% and
/// 47%; 32 rows were slower than 8.)
const LANES: usize = 16;

/// Trees that one row walks in lock-step when a block has fewer rows than [`LANES`]. (Measured,
/// one row through 300 trees of depth 8: sixteen trees took 2% less time than eight with
/// XGBoost's, 10-12% less with LightGBM's, where each step waits on a cache miss; twelve were
/// slower than eight.)
const TREE_LANES: usize = 16;

/// Trees this deep or shallower are walked in lock-step for exactly `depth` steps; deeper
/// (typically unbalanced) trees stop a group early once all its rows rest on leaves.
const MAX_LOCKSTEP_DEPTH: usize = 12;

/// Trees this deep or shallower may be stored complete ([`CompleteNode`]).
const MAX_COMPLETE_DEPTH: usize = 10;

/// A tree is walked complete only if that takes at most this many times its own nodes:
/// padding a lopsided tree to `2^depth` leaves would cost more cache than it saves steps.
const MAX_COMPLETE_PADDING: usize = 4;

/// A tree too lopsided to walk complete still gets a complete copy for single rows when that
/// takes at most this many times its nodes: a run of trees walked side by side by one row
/// then needs no test per step. (Measured: XGBoost, 300 trees of depth 8 of which 14 too
/// sparse for [`MAX_COMPLETE_PADDING`], one row in 4.4-4.5 µs instead of 5.1-5.2 µs; walking
/// those 14 complete in blocks as well made blocks 2-3% slower.)
const MAX_FEW_ROWS_PADDING: usize = 16;

/// Zero (`|x| <= 1e-35`) is missing at this node (LightGBM's missing type `Zero`); the rest
/// of `FastNode::feature` is the column.
const ZERO_IS_MISSING: u32 = 1 << 31;

/// This node tests membership in a set of categories ([`CategorySplit`]), not a threshold.
const CATEGORICAL: u32 = 1 << 30;

/// The flags a node's `feature` may carry above its column.
const NODE_FLAGS: u32 = ZERO_IS_MISSING | CATEGORICAL;

/// LightGBM's `kZeroThreshold`, as in the reference.
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// A feature value in the type the model compares in.
trait Value: Copy + PartialOrd + Send + Sync + 'static + std::ops::Neg<Output = Self> {
    const ZERO: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
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
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
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
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
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

/// What a categorical node tests, beside its [`FastNode`] (which holds the column, with
/// [`CATEGORICAL`], and the left child): the reference's test, step for step.
#[derive(Debug, Clone, Copy, Default)]
struct CategorySplit {
    /// The set's bitset in [`Engine::category_words`].
    words_start: u32,
    words_len: u32,
    set_goes_left: bool,
    default_left: bool,
}

/// A numeric split rewritten into the canonical test, with its children in the order the
/// test sends rows: `first` on `x <= threshold`, `second` otherwise (and on missing values).
struct CanonicalSplit<T> {
    column: u32,
    threshold: T,
    flags: u32,
    first: u32,
    second: u32,
}

/// A split of a tree stored complete: node `i`'s children are `2i + 1` (left) and `2i + 2`
/// (right), so a step needs no child pointer: `next = 2i + 1 + go_right`, with the same
/// canonical test as [`FastNode`]. The column is stored multiplied by `LANES`, the offset of
/// the feature within a group. A leaf above the last level becomes a chain of splits that
/// always go left (the zero column against `+inf`) down to its slot among the `2^depth` leaf
/// values.
///
/// 8 bytes with `f32` thresholds, 16 with `f64`. XGBoost 3.1 reported up to 2x from the same
/// idea for the top levels of its trees.
#[derive(Debug, Clone, Copy)]
struct CompleteNode<T> {
    threshold: T,
    /// `column * LANES`, possibly with [`ZERO_IS_MISSING`].
    offset: u32,
}

/// How a tree is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Exactly `depth` steps per row, rows in lock-step, through a tree stored complete.
    Complete(StoredComplete),
    /// Exactly `depth` steps per row, rows in lock-step.
    Lockstep,
    /// Rows in lock-step until all of a group's rows rest on leaves.
    UntilRest,
    /// The reference evaluator (categorical splits, linear leaves).
    Reference,
}

#[derive(Debug, Clone, Copy)]
struct TreeInfo {
    /// For the walks by nodes: the root's position in `nodes`.
    root: u32,
    depth: u32,
    output: u32,
    walk: Walk,
    /// For a tree walked by nodes: a copy stored complete, which only single rows walk
    /// ([`MAX_FEW_ROWS_PADDING`]).
    single_row_copy: Option<StoredComplete>,
    /// Its index in [`Engine::binned`], when blocks walk it binned.
    #[cfg(target_arch = "x86_64")]
    binned: Option<u32>,
}

impl TreeInfo {
    /// The tree stored complete, if it is: walked so, or copied for single rows.
    fn stored_complete(&self) -> Option<StoredComplete> {
        match self.walk {
            Walk::Complete(stored) => Some(stored),
            _ => self.single_row_copy,
        }
    }
}

/// Where a tree stored complete is: its `2^depth - 1` splits from `splits` in
/// [`Engine::complete`], its `2^depth` leaf slots from `first_leaf` in [`Engine::leaves`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StoredComplete {
    splits: u32,
    first_leaf: u32,
}

/// The compiled form of one ensemble, generic over the comparison type `T`, the accumulator
/// `A`, and whether the comparison is strict (`x < t`, XGBoost) or not (`x <= t`).
#[derive(Debug)]
struct Engine<T, A, const STRICT: bool> {
    nodes: Vec<FastNode<T>>,
    /// `leaf_width` values per node (zero at internal nodes), indexed like `nodes`.
    values: Vec<A>,
    /// The splits of the trees stored complete, `2^depth - 1` per tree.
    complete: Vec<CompleteNode<T>>,
    /// `leaf_width` values per leaf slot of the trees stored complete, `2^depth` per tree.
    leaves: Vec<A>,
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
    /// For categorical nodes, their test, indexed like `nodes`; empty when there are none.
    category_splits: Vec<CategorySplit>,
    /// The bitsets of every categorical node, all trees' together.
    category_words: Vec<u32>,
    /// Rows per block.
    block_rows: usize,
    /// The binned walk, when the ensemble and the CPU qualify.
    #[cfg(target_arch = "x86_64")]
    binned: Option<binned::Binned<T, A>>,
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
    #[cfg(target_arch = "x86_64")]
    static BINS: RefCell<Vec<binned::Line>> = const { RefCell::new(Vec::new()) };
    #[cfg(target_arch = "x86_64")]
    static ROW_BINS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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

    /// The engine's report: how many of the trees each walk serves.
    pub(crate) fn report(&self) -> crate::family::Engine {
        let trees = match &self.0 {
            Compiled::XgboostF32(engine) => &engine.trees,
            Compiled::SklearnF32(engine) => &engine.trees,
            Compiled::LightgbmF64(engine) => &engine.trees,
        };
        let (mut complete, mut nodes, mut reference, mut binned) = (0, 0, 0, 0);
        for tree in trees {
            #[cfg(target_arch = "x86_64")]
            if tree.binned.is_some() {
                binned += 1;
            }
            match tree.walk {
                Walk::Complete(_) => complete += 1,
                Walk::Lockstep | Walk::UntilRest => nodes += 1,
                Walk::Reference => reference += 1,
            }
        }
        crate::family::Engine::Trees {
            complete,
            nodes,
            reference,
            binned,
        }
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

impl<T: EngineValue, A: EngineSum, const STRICT: bool> Engine<T, A, STRICT> {
    fn compile(ensemble: &TreeEnsemble, threshold: impl Fn(f64) -> T) -> Self {
        let leaf_width = ensemble.leaf_width;
        let mut engine = Engine {
            nodes: Vec::new(),
            values: Vec::new(),
            complete: Vec::new(),
            leaves: Vec::new(),
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
            category_splits: Vec::new(),
            category_words: Vec::new(),
            block_rows: BLOCK_ROWS,
            #[cfg(target_arch = "x86_64")]
            binned: None,
        };
        for tree in &ensemble.trees {
            let depth = tree.depth();
            let mut info = TreeInfo {
                root: 0,
                depth: depth as u32,
                output: tree.output,
                walk: Walk::Reference,
                single_row_copy: None,
                #[cfg(target_arch = "x86_64")]
                binned: None,
            };
            if tree.linear.is_some() {
                engine.trees.push(info);
                continue;
            }
            let padding = (2usize << depth.min(MAX_COMPLETE_DEPTH)).div_ceil(tree.nodes.len());
            let categorical = tree
                .nodes
                .iter()
                .any(|node| matches!(node, Node::Categorical { .. }));
            if depth <= MAX_COMPLETE_DEPTH && padding <= MAX_FEW_ROWS_PADDING && !categorical {
                match engine.store_complete(tree, ensemble.split_rule, &threshold) {
                    Some(stored) if padding <= MAX_COMPLETE_PADDING => {
                        info.walk = Walk::Complete(stored);
                        engine.trees.push(info);
                        continue;
                    }
                    copy => info.single_row_copy = copy,
                }
            }
            let root = engine.nodes.len();
            let words = engine.category_words.len();
            info.root = root as u32;
            info.walk = if engine
                .lay_out(tree, ensemble.split_rule, &threshold)
                .is_none()
            {
                engine.nodes.truncate(root);
                engine.values.truncate(root * leaf_width);
                engine.category_splits.truncate(root);
                engine.category_words.truncate(words);
                Walk::Reference
            } else if depth <= MAX_LOCKSTEP_DEPTH {
                Walk::Lockstep
            } else {
                Walk::UntilRest
            };
            engine.trees.push(info);
        }
        if engine.compiled_bytes() > CACHE_BYTES {
            engine.block_rows = LARGE_MODEL_BLOCK_ROWS;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some((binned, indices)) = binned::Binned::compile(ensemble, &threshold) {
            for (info, index) in engine.trees.iter_mut().zip(indices) {
                info.binned = index;
            }
            engine.binned = Some(binned);
        }
        engine
    }

    /// Appends `tree` breadth-first, siblings side by side, every numeric split in canonical
    /// form and every categorical split as the reference tests it. Returns `None` for a tree
    /// the layout cannot express (a threshold at negative infinity; categorical splits under
    /// a rule whose category codes are not in the block, [`SplitRule::LessEqualF32Input`]),
    /// which then keeps the reference walk.
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
                node @ Node::Numeric { .. } => {
                    let split = self.canonical(node, rule, threshold)?;
                    let children = self.nodes.len();
                    self.push_placeholder();
                    self.push_placeholder();
                    self.nodes[at] = FastNode {
                        threshold: split.threshold,
                        feature: split.column | split.flags,
                        left: children as u32,
                    };
                    queue.push_back((split.first as usize, children));
                    queue.push_back((split.second as usize, children + 1));
                }
                &Node::Categorical {
                    feature,
                    words_start,
                    words_len,
                    set_goes_left,
                    default_left,
                    left,
                    right,
                } => {
                    // The block holds `f32(x)` for this rule, and its categories are read
                    // from `x` itself.
                    if rule == SplitRule::LessEqualF32Input {
                        return None;
                    }
                    let children = self.nodes.len();
                    self.push_placeholder();
                    self.push_placeholder();
                    self.nodes[at] = FastNode {
                        threshold: T::ZERO,
                        feature: feature | CATEGORICAL,
                        left: children as u32,
                    };
                    if self.category_splits.len() < self.nodes.len() {
                        self.category_splits
                            .resize(self.nodes.len(), CategorySplit::default());
                    }
                    let words = tree
                        .category_words
                        .get(words_start as usize..(words_start + words_len) as usize)?;
                    self.category_splits[at] = CategorySplit {
                        words_start: self.category_words.len() as u32,
                        words_len,
                        set_goes_left,
                        default_left,
                    };
                    self.category_words.extend_from_slice(words);
                    queue.push_back((left as usize, children));
                    queue.push_back((right as usize, children + 1));
                }
            }
        }
        Some(())
    }

    /// The bytes a block walks through: every node, split and leaf value.
    fn compiled_bytes(&self) -> usize {
        use std::mem::size_of;
        self.nodes.len() * size_of::<FastNode<T>>()
            + self.complete.len() * size_of::<CompleteNode<T>>()
            + (self.values.len() + self.leaves.len()) * size_of::<A>()
    }

    /// A numeric split in canonical form (`go right iff !(x <= threshold)`, missing values
    /// right): when missing values should go left, the children are swapped and the split
    /// reads the negated feature. `None` for a node that is not a numeric split, or whose
    /// threshold has no canonical form.
    fn canonical(
        &mut self,
        node: &Node,
        rule: SplitRule,
        threshold: &impl Fn(f64) -> T,
    ) -> Option<CanonicalSplit<T>> {
        let Node::Numeric {
            feature,
            threshold: t,
            missing,
            default_left,
            left,
            right,
        } = node
        else {
            return None;
        };
        let missing_goes_left = match missing {
            // NaN counts as 0.0, so its direction is fixed per node.
            Missing::AsZero => rule.goes_left(0.0, *t),
            Missing::Nan | Missing::Zero => *default_left,
        };
        let flags = if *missing == Missing::Zero {
            self.zero_missing = true;
            ZERO_IS_MISSING
        } else {
            0
        };
        Some(if missing_goes_left {
            CanonicalSplit {
                column: self.features as u32 + 1 + feature,
                threshold: swapped_threshold(rule, threshold(*t))?,
                flags,
                first: *right,
                second: *left,
            }
        } else {
            CanonicalSplit {
                column: *feature,
                threshold: plain_threshold(rule, threshold(*t))?,
                flags,
                first: *left,
                second: *right,
            }
        })
    }

    /// Appends `tree` stored complete ([`lay_out_complete`](Self::lay_out_complete)) and
    /// returns where; on `None`, leaves the arrays as they were.
    fn store_complete(
        &mut self,
        tree: &Tree,
        rule: SplitRule,
        threshold: &impl Fn(f64) -> T,
    ) -> Option<StoredComplete> {
        let (splits, leaves) = (self.complete.len(), self.leaves.len());
        if self.lay_out_complete(tree, rule, threshold).is_none() {
            self.complete.truncate(splits);
            self.leaves.truncate(leaves);
            return None;
        }
        Some(StoredComplete {
            splits: splits as u32,
            first_leaf: (leaves / self.leaf_width) as u32,
        })
    }

    /// Appends `tree` (of depth at most [`MAX_COMPLETE_DEPTH`]) stored complete: its
    /// `2^depth - 1` splits to `complete` and its `2^depth` leaf slots to `leaves`. Returns
    /// `None` for a tree the canonical form cannot express.
    fn lay_out_complete(
        &mut self,
        tree: &Tree,
        rule: SplitRule,
        threshold: &impl Fn(f64) -> T,
    ) -> Option<()> {
        let width = self.leaf_width;
        let depth = tree.depth();
        let internal = (1usize << depth) - 1;
        let (base, leaf_base) = (self.complete.len(), self.leaves.len());
        let always_left = CompleteNode {
            threshold: T::INFINITY,
            offset: self.features as u32 * LANES as u32,
        };
        self.complete.resize(base + internal, always_left);
        self.leaves
            .resize(leaf_base + (internal + 1) * width, A::ZERO);
        // (source node, position in the complete tree, level)
        let mut stack = vec![(0usize, 0usize, 0usize)];
        while let Some((source, at, level)) = stack.pop() {
            match &tree.nodes[source] {
                Node::Leaf { leaf } if level == depth => {
                    let slot = leaf_base + (at - internal) * width;
                    let start = *leaf as usize * width;
                    for k in 0..width {
                        self.leaves[slot + k] = A::from_f64(tree.leaf_values[start + k]);
                    }
                }
                // Above the last level: the split here is already `always_left`.
                Node::Leaf { .. } => stack.push((source, 2 * at + 1, level + 1)),
                node => {
                    let split = self.canonical(node, rule, threshold)?;
                    self.complete[base + at] = CompleteNode {
                        threshold: split.threshold,
                        offset: (split.column * LANES as u32) | split.flags,
                    };
                    stack.push((split.first as usize, 2 * at + 1, level + 1));
                    stack.push((split.second as usize, 2 * at + 2, level + 1));
                }
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
        if !self.category_splits.is_empty() {
            self.category_splits.push(CategorySplit::default());
        }
        self.values
            .extend(std::iter::repeat_n(A::ZERO, self.leaf_width));
    }

    /// Whether some node carries a flag ([`NODE_FLAGS`]): then steps test for them, else a
    /// step is a load, a compare and an add.
    fn flagged(&self) -> bool {
        self.zero_missing || !self.category_splits.is_empty()
    }

    /// One step from node `index` for row `lane` of a group. `FLAGGED` is false when no node
    /// of the ensemble carries a flag ([`flagged`](Self::flagged)), which leaves the step a
    /// load, a compare and an add.
    #[inline(always)]
    fn step<const FLAGGED: bool>(&self, index: u32, group: &[T], lane: usize) -> u32 {
        debug_assert!((index as usize) < self.nodes.len());
        debug_assert!(group.len() == self.stride * LANES && lane < LANES);
        // SAFETY: `index` is the root of a laid-out tree or a child written by `lay_out`, all
        // of which are positions in `nodes`. A node's column is a validated feature, that
        // feature's negated copy, or the zero column: all below `stride`, so
        // `column * LANES + lane` is inside the group. Only flag bits can be set above the
        // column, and they are masked off.
        let node = unsafe { *self.nodes.get_unchecked(index as usize) };
        let column = if FLAGGED {
            node.feature & !NODE_FLAGS
        } else {
            node.feature
        };
        let x = unsafe { *group.get_unchecked(column as usize * LANES + lane) };
        if FLAGGED && node.feature & CATEGORICAL != 0 {
            return node.left + u32::from(!self.category_goes_left(index, x));
        }
        // False for NaN: missing values go right, where compilation put their default child.
        // The negated comparison is the point: it is true for NaN.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let mut go_right = !(x <= node.threshold);
        if FLAGGED {
            go_right |= node.feature & ZERO_IS_MISSING != 0 && x.is_zero_missing();
        }
        node.left + u32::from(go_right)
    }

    /// Whether `x` goes left at categorical node `index`: the reference's test
    /// ([`Tree::step`]) on the value the block holds, which for the rules laid out with
    /// categories is the value the reference reads its category from.
    #[inline]
    fn category_goes_left(&self, index: u32, x: T) -> bool {
        let split = self.category_splits[index as usize];
        let words = &self.category_words[split.words_start as usize..][..split.words_len as usize];
        category_goes_left(
            self.rule,
            words,
            split.set_goes_left,
            split.default_left,
            x.to_f64(),
        )
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
            let end = (start + self.block_rows).min(rows);
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
        // Whole groups tree by tree; the rows of a last, partial group walk trees side by
        // side. Either way each row adds the trees in order.
        let rows = view.nrows();
        let full = rows / LANES * LANES;
        if full > 0 {
            read.clear();
            let view = view.slice(ndarray::s![..full, ..]);
            #[cfg(target_arch = "x86_64")]
            if let Some(binned) = &self.binned
                && full >= binned::ROWS
            {
                BINS.with_borrow_mut(|bins| {
                    self.score_binned(binned, ensemble, view, block, margins, read, bins)
                });
            } else {
                for t in 0..self.trees.len() {
                    self.score_tree(t, ensemble, view, block, margins, read);
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            for t in 0..self.trees.len() {
                self.score_tree(t, ensemble, view, block, margins, read);
            }
        }
        if rows > full {
            read.clear();
            let raw_width = self.base_score.len();
            self.score_few_rows(
                ensemble,
                view.slice(ndarray::s![full.., ..]),
                &block[full * self.stride..],
                &mut margins[full * raw_width..],
                read,
            );
        }
    }

    /// Scores whole groups of rows (at least a vector of the binned walk), tree by tree:
    /// the vectors' rows walk binned the trees [`Engine::binned`] serves, and the scalar walk
    /// takes the other trees and the rows left over.
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::too_many_arguments)]
    fn score_binned(
        &self,
        binned: &binned::Binned<T, A>,
        ensemble: &TreeEnsemble,
        view: ArrayView2<'_, f64>,
        block: &[T],
        margins: &mut [A],
        read: &mut Vec<f64>,
        bins: &mut Vec<binned::Line>,
    ) {
        let raw_width = self.base_score.len();
        let rows = view.nrows();
        let vectors = rows / binned::ROWS;
        let split = vectors * binned::ROWS;
        binned.bin_block(block, self.stride * LANES, vectors, bins);
        for (t, info) in self.trees.iter().enumerate() {
            let Some(index) = info.binned else {
                self.score_tree(t, ensemble, view, block, margins, read);
                continue;
            };
            binned.add_tree(index, bins, &mut margins[..split * raw_width], raw_width);
            if split < rows {
                // A binned tree is numeric and never walked by the reference, so `read`
                // (the whole block's rows) is not touched.
                self.score_tree(
                    t,
                    ensemble,
                    view.slice(ndarray::s![split.., ..]),
                    &block[split * self.stride..],
                    &mut margins[split * raw_width..],
                    read,
                );
            }
        }
    }

    /// Adds tree `t`'s values for every row of the block to the margins.
    fn score_tree(
        &self,
        t: usize,
        ensemble: &TreeEnsemble,
        view: ArrayView2<'_, f64>,
        block: &[T],
        margins: &mut [A],
        read: &mut Vec<f64>,
    ) {
        let raw_width = self.base_score.len();
        let rows = view.nrows();
        let width = self.leaf_width;
        let info = &self.trees[t];
        let out = info.output as usize;
        match info.walk {
            // Trees stored complete have no categorical splits: only zero-as-missing flags.
            Walk::Complete(stored) if self.zero_missing => {
                self.walk_complete::<true>(info, stored, block, margins, rows, raw_width)
            }
            Walk::Complete(stored) => {
                self.walk_complete::<false>(info, stored, block, margins, rows, raw_width)
            }
            Walk::Lockstep if self.flagged() => {
                self.walk::<true, false>(info, block, margins, rows, raw_width)
            }
            Walk::Lockstep => self.walk::<false, false>(info, block, margins, rows, raw_width),
            Walk::UntilRest if self.flagged() => {
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

    /// Scores a block of fewer rows than a group (a single request, say) by walking
    /// [`TREE_LANES`] trees at once for each row: the trees' walks are independent, so they
    /// overlap in the processor as the rows of a group do, where one row walking one tree
    /// after the other is a single chain of dependent loads.
    ///
    /// Runs of consecutive trees walked in exactly `depth` steps go together; other trees
    /// (deep ones that stop early, reference walks) go one by one in their place, so every
    /// row still adds the trees in order and the sums are those of the row-wise walk.
    fn score_few_rows(
        &self,
        ensemble: &TreeEnsemble,
        view: ArrayView2<'_, f64>,
        block: &[T],
        margins: &mut [A],
        read: &mut Vec<f64>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if let Some(binned) = &self.binned {
            ROW_BINS.with_borrow_mut(|bins| {
                self.score_few_rows_binned(binned, ensemble, view, block, margins, read, bins)
            });
            return;
        }
        let mut t = 0;
        while t < self.trees.len() {
            t = self.score_run(t, ensemble, view, block, margins, read);
        }
    }

    /// [`score_few_rows`](Self::score_few_rows) when some trees are binned: the rows are
    /// binned once ([`binned::Binned::bin_row`]), and each run of up to [`TREE_LANES`] binned
    /// trees of one depth walks them on bins ([`binned::Binned::walk_row`]), whose splits
    /// take a quarter of the cache of the float walk's with `f64` thresholds. (Measured, one
    /// row through 300 trees of depth 8: LightGBM's 4.3-4.7 µs against 5.2-5.3 µs, XGBoost's
    /// 4.0-4.5 against 4.5-4.7.)
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::too_many_arguments)]
    fn score_few_rows_binned(
        &self,
        binned: &binned::Binned<T, A>,
        ensemble: &TreeEnsemble,
        view: ArrayView2<'_, f64>,
        block: &[T],
        margins: &mut [A],
        read: &mut Vec<f64>,
        bins: &mut Vec<u8>,
    ) {
        let rows = view.nrows();
        let raw_width = self.base_score.len();
        bins.clear();
        bins.resize(rows * self.features, 0);
        let features = self.features;
        for lane in 0..rows {
            binned.bin_row(|f| block[f * LANES + lane], &mut bins[lane * features..]);
        }
        let mut t = 0;
        while t < self.trees.len() {
            let run = &self.trees[t..];
            // A run of up to TREE_LANES binned trees of one depth; a short one (the last) walks
            // its last tree again in the free lanes, and adds only its own.
            let depth = run[0].depth;
            let run = &run[..run
                .iter()
                .take(TREE_LANES)
                .take_while(|info| info.binned.is_some() && info.depth == depth)
                .count()];
            let Some(last) = run.last().and_then(|info| info.binned) else {
                t = self.score_run(t, ensemble, view, block, margins, read);
                continue;
            };
            let indices: [u32; TREE_LANES] =
                std::array::from_fn(|k| run.get(k).and_then(|info| info.binned).unwrap_or(last));
            for lane in 0..rows {
                let values = binned.walk_row(&indices, depth as usize, &bins[lane * features..]);
                let row = &mut margins[lane * raw_width..][..raw_width];
                add_in_tree_order(row, values.into_iter().zip(run));
            }
            t += run.len();
        }
    }

    /// Scores the run of trees from `t` for the rows of a block of fewer rows than a group
    /// (see [`score_few_rows`](Self::score_few_rows)); returns the tree after the run.
    fn score_run(
        &self,
        t: usize,
        ensemble: &TreeEnsemble,
        view: ArrayView2<'_, f64>,
        block: &[T],
        margins: &mut [A],
        read: &mut Vec<f64>,
    ) -> usize {
        let rows = view.nrows();
        let run = self.trees[t..]
            .iter()
            .take(TREE_LANES)
            .take_while(|info| matches!(info.walk, Walk::Complete(_) | Walk::Lockstep))
            .count();
        if run == 0 {
            self.score_tree(t, ensemble, view, block, margins, read);
            return t + 1;
        }
        let trees = &self.trees[t..t + run];
        if self.flagged() {
            self.walk_trees::<true>(trees, block, margins, rows);
        } else {
            self.walk_trees::<false>(trees, block, margins, rows);
        }
        t + run
    }

    /// Walks each of the first `rows` rows of the block's first group through up to
    /// [`TREE_LANES`] trees (stored complete or walked in `depth` steps) in lock-step, then
    /// adds their values in tree order.
    #[inline(never)]
    fn walk_trees<const FLAGGED: bool>(
        &self,
        trees: &[TreeInfo],
        block: &[T],
        margins: &mut [A],
        rows: usize,
    ) {
        debug_assert!(trees.len() <= TREE_LANES && rows < LANES);
        let raw_width = self.base_score.len();
        let width = self.leaf_width;
        let group = &block[..self.stride * LANES];
        let depth = trees.iter().map(|info| info.depth).max().unwrap_or(0);
        // Each tree stored complete (walked so, or copied for single rows) is walked complete.
        let splits: [&[CompleteNode<T>]; TREE_LANES] =
            std::array::from_fn(|k| match trees.get(k) {
                Some(info) => match info.stored_complete() {
                    Some(stored) => self.complete_tree(info, stored).0,
                    None => &[],
                },
                None => &[],
            });
        let first_leaf = |info: &TreeInfo| Some(info.stored_complete()?.first_leaf as usize);
        if trees.len() == TREE_LANES
            && trees
                .iter()
                .all(|info| info.stored_complete().is_some() && info.depth == depth)
        {
            // The common case (XGBoost's and balanced trees): no test per step.
            let internal = splits_len(&trees[0]);
            for lane in 0..rows {
                let mut index = [0u32; TREE_LANES];
                for _ in 0..depth {
                    for (i, splits) in index.iter_mut().zip(&splits) {
                        *i = Self::complete_step::<FLAGGED>(splits, *i, group, lane);
                    }
                }
                let leaf = |i: u32, info: &TreeInfo| {
                    first_leaf(info).unwrap_or_default() + i as usize - internal
                };
                if width == 1 {
                    let row = &mut margins[lane * raw_width..][..raw_width];
                    let values = index.iter().zip(trees);
                    add_in_tree_order(
                        row,
                        values.map(|(&i, info)| (self.leaves[leaf(i, info)], info)),
                    );
                    continue;
                }
                for (&i, info) in index.iter().zip(trees) {
                    let at = lane * raw_width + info.output as usize;
                    add_values(margins, at, &self.leaves, leaf(i, info), width);
                }
            }
            return;
        }
        for lane in 0..rows {
            let mut index = [0u32; TREE_LANES];
            for (i, info) in index.iter_mut().zip(trees) {
                if info.stored_complete().is_none() {
                    *i = info.root;
                }
            }
            for level in 0..depth {
                for ((i, info), splits) in index.iter_mut().zip(trees).zip(&splits) {
                    // Trees of a run have one depth, as a rule: a branch the processor
                    // predicts. A complete tree must not step past its leaves.
                    if level < info.depth {
                        *i = if info.stored_complete().is_some() {
                            Self::complete_step::<FLAGGED>(splits, *i, group, lane)
                        } else {
                            self.step::<FLAGGED>(*i, group, lane)
                        };
                    }
                }
            }
            for (&i, info) in index.iter().zip(trees) {
                let at = lane * raw_width + info.output as usize;
                match first_leaf(info) {
                    Some(first) => {
                        let leaf = first + i as usize - splits_len(info);
                        add_values(margins, at, &self.leaves, leaf, width);
                    }
                    None => add_values(margins, at, &self.values, i as usize, width),
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
    fn walk<const FLAGGED: bool, const STOP_AT_REST: bool>(
        &self,
        info: &TreeInfo,
        block: &[T],
        margins: &mut [A],
        rows: usize,
        raw_width: usize,
    ) {
        let out = info.output as usize;
        let full = rows / LANES;
        for (g, group) in block
            .chunks_exact(self.stride * LANES)
            .enumerate()
            .take(full)
        {
            let mut index = [info.root; LANES];
            for _ in 0..info.depth {
                let mut moved = false;
                for (lane, i) in index.iter_mut().enumerate() {
                    let next = self.step::<FLAGGED>(*i, group, lane);
                    moved |= next != *i;
                    *i = next;
                }
                if STOP_AT_REST && !moved {
                    break;
                }
            }
            let first = g * LANES;
            for (lane, &i) in index.iter().enumerate().take(rows - first) {
                add_values(
                    margins,
                    (first + lane) * raw_width + out,
                    &self.values,
                    i as usize,
                    self.leaf_width,
                );
            }
        }
        if rows > full * LANES {
            self.walk_tail::<FLAGGED>(info, block, margins, rows, raw_width);
        }
    }

    /// [`walk`](Self::walk) for the rows of a partial group through a deep tree, which stops
    /// early and so is left out of the side-by-side walk of
    /// [`score_few_rows`](Self::score_few_rows): only the live rows walk, one after the
    /// other. Kept out of line so that the lock-step loop
    /// compiles as it does alone (inlined, the extra path cost full blocks 20-30%).
    #[inline(never)]
    fn walk_tail<const FLAGGED: bool>(
        &self,
        info: &TreeInfo,
        block: &[T],
        margins: &mut [A],
        rows: usize,
        raw_width: usize,
    ) {
        let group_len = self.stride * LANES;
        let first = rows / LANES * LANES;
        let group = &block[first * self.stride..][..group_len];
        for lane in 0..rows - first {
            let mut i = info.root;
            for _ in 0..info.depth {
                let next = self.step::<FLAGGED>(i, group, lane);
                if next == i {
                    break;
                }
                i = next;
            }
            let at = (first + lane) * raw_width + info.output as usize;
            add_values(margins, at, &self.values, i as usize, self.leaf_width);
        }
    }

    /// The splits and leaf values of a tree stored complete, and its number of splits.
    /// Inlined: a single row asks it for every tree, and out of line those calls took 8% of a
    /// single row's time.
    #[inline]
    fn complete_tree(
        &self,
        info: &TreeInfo,
        stored: StoredComplete,
    ) -> (&[CompleteNode<T>], &[A], usize) {
        let internal = splits_len(info);
        let width = self.leaf_width;
        (
            &self.complete[stored.splits as usize..][..internal],
            &self.leaves[stored.first_leaf as usize * width..][..(internal + 1) * width],
            internal,
        )
    }

    /// Walks the `LANES` rows of each group through a tree stored complete, in lock-step,
    /// for exactly `depth` steps.
    #[inline]
    fn walk_complete<const FLAGGED: bool>(
        &self,
        info: &TreeInfo,
        stored: StoredComplete,
        block: &[T],
        margins: &mut [A],
        rows: usize,
        raw_width: usize,
    ) {
        // A partial group walks trees side by side instead (`score_few_rows`).
        debug_assert!(rows.is_multiple_of(LANES));
        let width = self.leaf_width;
        let (splits, leaves, internal) = self.complete_tree(info, stored);
        let out = info.output as usize;
        let full = rows / LANES;
        for (g, group) in block
            .chunks_exact(self.stride * LANES)
            .enumerate()
            .take(full)
        {
            let mut index = [0u32; LANES];
            for _ in 0..info.depth {
                for (lane, i) in index.iter_mut().enumerate() {
                    *i = Self::complete_step::<FLAGGED>(splits, *i, group, lane);
                }
            }
            let first = g * LANES;
            for (lane, &i) in index.iter().enumerate() {
                let at = (first + lane) * raw_width + out;
                add_values(margins, at, leaves, i as usize - internal, width);
            }
        }
    }

    /// One step from split `index` of a tree stored complete, for row `lane` of a group.
    #[inline(always)]
    fn complete_step<const FLAGGED: bool>(
        splits: &[CompleteNode<T>],
        index: u32,
        group: &[T],
        lane: usize,
    ) -> u32 {
        debug_assert!((index as usize) < splits.len());
        debug_assert!(group.len().is_multiple_of(LANES) && lane < LANES);
        // SAFETY: the walk takes `depth` steps from the root; before step `k` (from 0) the
        // index is below `2^(k+1) - 1 <= 2^depth - 1 = splits.len()`. An offset is a
        // validated column times `LANES` (a feature, its negated copy or the zero column, all
        // below the group's `stride`), so `offset + lane` is inside the group once the
        // ZERO_IS_MISSING bit is masked off.
        let split = unsafe { *splits.get_unchecked(index as usize) };
        let offset = if FLAGGED {
            split.offset & !ZERO_IS_MISSING
        } else {
            split.offset
        };
        let x = unsafe { *group.get_unchecked(offset as usize + lane) };
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let mut go_right = !(x <= split.threshold);
        if FLAGGED {
            go_right |= split.offset & ZERO_IS_MISSING != 0 && x.is_zero_missing();
        }
        2 * index + 1 + u32::from(go_right)
    }
}

/// The splits of a tree stored complete: `2^depth - 1`.
#[inline(always)]
fn splits_len(info: &TreeInfo) -> usize {
    (1usize << info.depth) - 1
}

/// Adds one value per tree to a row's margins (`row`, one per output), in tree order: each
/// value to its tree's output. A single output is summed in a register: through memory, each
/// add would wait on the store of the one before.
#[inline(always)]
fn add_in_tree_order<'a, A: Accumulator>(
    row: &mut [A],
    values: impl Iterator<Item = (A, &'a TreeInfo)>,
) {
    if let [sum] = row {
        let mut total = *sum;
        for (value, _) in values {
            total += value;
        }
        *sum = total;
    } else {
        for (value, info) in values {
            row[info.output as usize] += value;
        }
    }
}

/// Adds the `width` values of leaf `leaf` to the margins from `at`.
#[inline(always)]
fn add_values<A: Accumulator>(
    margins: &mut [A],
    at: usize,
    values: &[A],
    leaf: usize,
    width: usize,
) {
    // One value per leaf is the common case; the general loop costs dozens of instructions
    // of set-up per call, as much as the walk itself.
    if width == 1 {
        margins[at] += values[leaf];
    } else {
        let values = &values[leaf * width..][..width];
        for (m, &v) in margins[at..at + width].iter_mut().zip(values) {
            *m += v;
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
