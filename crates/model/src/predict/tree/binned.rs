//! Trees walked on binned features, 64 rows to a vector (AVX-512).
//!
//! Gradient-boosted trees split each feature at few distinct thresholds (the edges of
//! XGBoost's and LightGBM's histograms of 256 and 255 bins: 254 and 253 in the benchmark
//! models of depth 8), so a value can be replaced, once per row, by its
//! *bin*: how many of its feature's thresholds lie below it. A split at the feature's `i`-th
//! threshold then sends a value left exactly when its bin is at most `i`, a compare of two
//! bytes. With bins as bytes, 64 rows fill one AVX-512 register, and each level of a tree is
//! a handful of vector instructions for all 64 rows:
//!
//! - the level's splits (at most 128) are tables of bytes, looked up by each row's position
//!   with one `vpermi2b` per table: which feature, which threshold, where missing values go;
//! - the row's bin of its split's feature is loaded once per *distinct* feature of the level
//!   (a masked load of 64 bins), not once per row;
//! - the compare gives a mask of the rows that go right, and the positions double.
//!
//! A leaf above the last level becomes splits that always go left, as in the complete trees
//! of the scalar engine. The scalar walk takes about 8 steps of 9 instructions per row and
//! tree of depth 8; this walk takes about 8 instructions per row and tree, most of them
//! masked loads of bins that are in L1.
//!
//! Missing values are bin 255. A split whose missing values go left adds one to the row's
//! bin and to its threshold before the compare: numbers compare as before (bins are at most
//! 254), while 255 wraps to 0 and goes left.
//!
//! The walk serves the trees of depth 8 or less with numeric splits only (no categorical or
//! zero-as-missing splits, no linear leaves), in ensembles of one value per leaf whose
//! features each have at most [`MAX_THRESHOLDS`] distinct thresholds in those trees. Other
//! trees, and the rows of a block that do not fill a vector, keep the scalar walk of the same
//! block: every row still adds the trees in order.
//!
//! A block of fewer rows than the scalar engine's group (a single request) walks the served
//! trees on bins too, one row through sixteen trees side by side ([`Binned::walk_row`]): a
//! split is then four bytes ([`RowSplit`]) against the float walk's 16 with `f64`
//! thresholds, so the first four levels of 300 trees fit the L1 cache. The row's values are
//! binned by counting thresholds in registers ([`BinnedValue::bin_row`]).

use std::arch::x86_64::*;

use super::{Accumulator, Value, plain_threshold};
use crate::family::tree::{Missing, Node, SplitRule, Tree, TreeEnsemble};

/// Rows walked together: one byte each in a 512-bit register.
pub(super) const ROWS: usize = 64;

/// The deepest tree the walk serves: its last level has 128 splits, one `vpermi2b` table.
const MAX_DEPTH: usize = 8;

/// The most distinct thresholds a feature may have: its bins are then 0 to 254, and 255 is
/// free for missing values.
const MAX_THRESHOLDS: usize = 254;

/// The bin of a missing value.
const MISSING_BIN: u8 = 255;

/// Entries of a feature's search tree: the thresholds padded with `+inf` to `2^8 - 1`, one
/// more for alignment.
const SEARCH_LEN: usize = 256;

/// A CPU with AVX-512 F, BW and VBMI, made only by [`Avx512::detect`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx512(());

impl Avx512 {
    /// The token, if this CPU has the instructions the walk needs and the environment
    /// variable `VERDICT_NO_AVX512` is not set (which leaves every tree to the scalar walk:
    /// to compare the two, or to test the walk other CPUs take).
    pub(super) fn detect() -> Option<Avx512> {
        (std::env::var_os("VERDICT_NO_AVX512").is_none()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi"))
        .then_some(Avx512(()))
    }
}

/// For each tree of an ensemble, its index in the binned walk if the walk serves it.
pub(super) type Served = Vec<Option<u32>>;

/// 64 bytes, aligned as a register: a vector of rows' bins of one feature, or half a table.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line([u8; ROWS]);

/// One table per split attribute, indexed by position: the levels 0 to 6 of a tree (127
/// splits, at position `2^level - 1 + i`) in one, the last level of a tree of depth 8 (128
/// splits) in another. Each is two lines, the halves `vpermi2b` selects from.
#[derive(Debug, Clone, Copy)]
struct Tables {
    /// Which of the level's features ([`BinnedTree::features`]) the split reads.
    slot: [Line; 2],
    /// The split's threshold index, plus one when missing values go left.
    threshold: [Line; 2],
    /// One when missing values go left.
    missing_left: [Line; 2],
}

impl Tables {
    fn always_left() -> Tables {
        Tables {
            slot: [Line([0; ROWS]); 2],
            // No bin, even with one added, is above 255.
            threshold: [Line([u8::MAX; ROWS]); 2],
            missing_left: [Line([0; ROWS]); 2],
        }
    }

    fn set(&mut self, at: usize, slot: u8, threshold: u8, missing_left: u8) {
        self.slot[at / ROWS].0[at % ROWS] = slot;
        self.threshold[at / ROWS].0[at % ROWS] = threshold;
        self.missing_left[at / ROWS].0[at % ROWS] = missing_left;
    }
}

#[derive(Debug)]
struct BinnedTree {
    depth: usize,
    output: usize,
    /// Levels 0 to 6; then level 7 for a tree of depth 8.
    tables: Box<[Tables]>,
    /// Per level, the features its splits read, from [`Binned::features`]: level `k`'s are
    /// `features[levels[k]..levels[k + 1]]`.
    levels: [u32; MAX_DEPTH + 1],
    /// The tree's `2^depth` leaf values in [`Binned::leaves`], from here.
    first_leaf: usize,
    /// The tree's `2^depth - 1` splits in [`Binned::row_splits`], from here.
    first_row_split: usize,
}

/// The trees of an ensemble that the binned walk serves, compiled for it.
#[derive(Debug)]
pub(super) struct Binned<T, A> {
    isa: Avx512,
    features: usize,
    /// Per feature, its thresholds as a complete binary search tree in breadth-first order
    /// ([`SEARCH_LEN`] entries): 8 compares find a value's bin.
    search: Vec<T>,
    /// Per feature, its thresholds sorted, padded with `+inf` to [`SEARCH_LEN`]: a single
    /// row's value is binned by counting those below it ([`BinnedValue::bin_row`]).
    sorted: Vec<T>,
    /// Per feature, the last of each [`STRETCH`] of `sorted`: `SEARCH_LEN / STRETCH` a
    /// feature.
    last: Vec<T>,
    /// The features some split reads, each binned once per vector of rows.
    used: Vec<usize>,
    trees: Vec<BinnedTree>,
    /// The features each level of each tree reads ([`BinnedTree::levels`]).
    level_features: Vec<u32>,
    leaves: Vec<A>,
    /// Every tree's splits for single rows ([`RowSplit`]), breadth-first.
    row_splits: Vec<RowSplit>,
}

/// A split as one row walks it ([`Binned::walk_row`]): the feature in the low 16 bits, then
/// the threshold index (plus one when missing values go left), then one when missing values
/// go left, as in [`Tables`]. Four bytes, so that the first four levels of a tree share a
/// cache line and those of 300 trees fit the L1 cache.
#[derive(Debug, Clone, Copy)]
struct RowSplit(u32);

impl RowSplit {
    /// A split that sends every bin left.
    const ALWAYS_LEFT: RowSplit = RowSplit((u8::MAX as u32) << 16);

    fn new(feature: usize, threshold: u8, missing_left: u8) -> RowSplit {
        RowSplit(feature as u32 | u32::from(threshold) << 16 | u32::from(missing_left) << 24)
    }
}

/// A split as the walk tests it: `feature`'s value goes right when above `threshold` (not
/// `NaN`); `NaN` goes left when `missing_left`.
struct BinnedSplit<T> {
    feature: usize,
    threshold: T,
    missing_left: bool,
    left: usize,
    right: usize,
}

/// `node` as the walk tests it; `None` for a leaf, a categorical split, a split whose zero is
/// missing, or a threshold that is `NaN` or has no `x <= t` form.
fn binned_split<T: Value>(
    node: &Node,
    rule: SplitRule,
    threshold: &impl Fn(f64) -> T,
) -> Option<BinnedSplit<T>> {
    let &Node::Numeric {
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
    let missing_left = match missing {
        Missing::AsZero => rule.goes_left(0.0, t),
        Missing::Nan => default_left,
        Missing::Zero => return None,
    };
    let threshold = plain_threshold(rule, threshold(t))?;
    // A NaN threshold has no place among a feature's sorted thresholds (no library writes
    // one, but a model file can hold one): its tree keeps the scalar walk.
    threshold.partial_cmp(&threshold)?;
    Some(BinnedSplit {
        feature: feature as usize,
        threshold,
        missing_left,
        left: left as usize,
        right: right as usize,
    })
}

impl<T: BinnedValue, A: BinnedSum> Binned<T, A> {
    /// Compiles the trees of `ensemble` that the binned walk serves (see the [module
    /// overview](self)), with each tree's index for [`add_tree`](Self::add_tree) if the walk
    /// serves it. `None` when no tree qualifies or the CPU lacks the instructions.
    pub(super) fn compile(
        ensemble: &TreeEnsemble,
        threshold: impl Fn(f64) -> T,
    ) -> Option<(Binned<T, A>, Served)> {
        let isa = Avx512::detect()?;
        if ensemble.leaf_width != 1 || ensemble.num_features > usize::from(u16::MAX) {
            return None;
        }
        let rule = ensemble.split_rule;
        let served: Vec<bool> = ensemble
            .trees
            .iter()
            .map(|tree| {
                tree.depth() <= MAX_DEPTH
                    && tree.linear.is_none()
                    && tree.nodes.iter().all(|node| {
                        matches!(node, Node::Leaf { .. })
                            || binned_split(node, rule, &threshold).is_some()
                    })
            })
            .collect();
        // Every feature's distinct thresholds in the trees served, sorted.
        let mut thresholds: Vec<Vec<T>> = vec![Vec::new(); ensemble.num_features];
        for (tree, _) in ensemble.trees.iter().zip(&served).filter(|(_, s)| **s) {
            for node in &tree.nodes {
                if let Some(split) = binned_split(node, rule, &threshold) {
                    thresholds[split.feature].push(split.threshold);
                }
            }
        }
        for list in &mut thresholds {
            // `binned_split` has left out the trees with a NaN threshold.
            list.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            list.dedup();
            if list.len() > MAX_THRESHOLDS {
                return None;
            }
        }
        let mut binned = Binned {
            isa,
            features: ensemble.num_features,
            search: thresholds
                .iter()
                .flat_map(|list| search_tree(list))
                .collect(),
            sorted: thresholds
                .iter()
                .flat_map(|list| {
                    let mut padded = [T::INFINITY; SEARCH_LEN];
                    padded[..list.len()].copy_from_slice(list);
                    padded
                })
                .collect(),
            last: thresholds
                .iter()
                .flat_map(|list| {
                    let mut last = [T::INFINITY; SEARCH_LEN / STRETCH];
                    for (k, last) in last.iter_mut().enumerate() {
                        if let Some(&t) = list.get(k * STRETCH + STRETCH - 1) {
                            *last = t;
                        }
                    }
                    last
                })
                .collect(),
            used: (0..ensemble.num_features)
                .filter(|&f| !thresholds[f].is_empty())
                .collect(),
            trees: Vec::new(),
            level_features: Vec::new(),
            leaves: Vec::new(),
            row_splits: Vec::new(),
        };
        let mut indices = Vec::with_capacity(ensemble.trees.len());
        for (tree, &served) in ensemble.trees.iter().zip(&served) {
            let index = if served {
                let compiled = binned.lay_out(tree, rule, &threshold, &thresholds)?;
                binned.trees.push(compiled);
                Some(binned.trees.len() as u32 - 1)
            } else {
                None
            };
            indices.push(index);
        }
        (!binned.trees.is_empty()).then_some((binned, indices))
    }

    /// Lays `tree` out level by level: each split's feature slot, threshold index and
    /// missing direction at its position, leaves above the last level pushed down by splits
    /// that always go left.
    fn lay_out(
        &mut self,
        tree: &Tree,
        rule: SplitRule,
        threshold: &impl Fn(f64) -> T,
        thresholds: &[Vec<T>],
    ) -> Option<BinnedTree> {
        let depth = tree.depth();
        let mut tables = vec![Tables::always_left(); if depth > 7 { 2 } else { 1 }];
        let first_leaf = self.leaves.len();
        self.leaves.resize(first_leaf + (1 << depth), A::ZERO);
        let first_row_split = self.row_splits.len();
        self.row_splits
            .resize(first_row_split + (1 << depth) - 1, RowSplit::ALWAYS_LEFT);
        let mut levels = [0u32; MAX_DEPTH + 1];
        // (source node, level, position within the level)
        let mut current = vec![(0usize, 0usize)];
        for (level, first_feature) in levels.iter_mut().enumerate().take(depth + 1) {
            let start = self.level_features.len();
            *first_feature = start as u32;
            let mut next = Vec::with_capacity(2 * current.len());
            for &(source, at) in &current {
                match &tree.nodes[source] {
                    Node::Leaf { leaf } if level == depth => {
                        let value = tree.leaf_values[*leaf as usize];
                        self.leaves[first_leaf + at] = A::from_f64(value);
                    }
                    // Above the last level: the split at `at` already goes left.
                    Node::Leaf { .. } => next.push((source, 2 * at)),
                    node => {
                        let split = binned_split(node, rule, threshold)?;
                        let slot = match self.level_features[start..]
                            .iter()
                            .position(|&f| f as usize == split.feature)
                        {
                            Some(slot) => slot,
                            None => {
                                self.level_features.push(split.feature as u32);
                                self.level_features.len() - 1 - start
                            }
                        };
                        let index = thresholds[split.feature]
                            .binary_search_by(|t| t.partial_cmp(&split.threshold).unwrap())
                            .ok()?;
                        let missing_left = u8::from(split.missing_left);
                        let (table, position) = if level < 7 {
                            (0, (1 << level) - 1 + at)
                        } else {
                            (1, at)
                        };
                        tables[table].set(
                            position,
                            slot as u8,
                            index as u8 + missing_left,
                            missing_left,
                        );
                        self.row_splits[first_row_split + (1 << level) - 1 + at] =
                            RowSplit::new(split.feature, index as u8 + missing_left, missing_left);
                        next.push((split.left, 2 * at));
                        next.push((split.right, 2 * at + 1));
                    }
                }
            }
            // A level whose splits all always go left still reads a feature (any).
            if level < depth && self.level_features.len() == start {
                self.level_features.push(0);
            }
            current = next;
        }
        levels[depth + 1..].fill(self.level_features.len() as u32);
        Some(BinnedTree {
            depth,
            output: tree.output as usize,
            tables: tables.into_boxed_slice(),
            levels,
            first_leaf,
            first_row_split,
        })
    }

    /// Bins the values of `vectors` vectors of rows into `bins` (`features` lines per
    /// vector), reading them from the scalar engine's block: `group_len` values per group of
    /// 16 rows, and a column's 16 values contiguous from `column * 16` in each group.
    pub(super) fn bin_block(
        &self,
        block: &[T],
        group_len: usize,
        vectors: usize,
        bins: &mut Vec<Line>,
    ) {
        const GROUPS: usize = ROWS / super::LANES;
        bins.clear();
        bins.resize(vectors * self.features, Line([0; ROWS]));
        for (v, bins) in bins.chunks_exact_mut(self.features).enumerate() {
            let groups = &block[v * GROUPS * group_len..][..GROUPS * group_len];
            for &f in &self.used {
                let values: [&[T]; GROUPS] = std::array::from_fn(|g| {
                    &groups[g * group_len + f * super::LANES..][..super::LANES]
                });
                let search = &self.search[f * SEARCH_LEN..][..SEARCH_LEN];
                T::bin(self.isa, values, search, &mut bins[f]);
            }
        }
    }

    /// Adds the leaves of served tree `tree` to the margins of the vectors of rows binned
    /// in `bins`: row `r` of vector `v` adds to `margins[(v * ROWS + r) * raw_width + output]`.
    pub(super) fn add_tree(&self, tree: u32, bins: &[Line], margins: &mut [A], raw_width: usize) {
        // SAFETY: `self.isa` exists, so the CPU has the instructions.
        unsafe { self.add_tree_avx512(tree, bins, margins, raw_width) }
    }

    /// The bins of one row, a byte per feature, into `bins` (the features no tree served
    /// splits on are left as they are): `value(f)` is the row's value of feature `f`.
    pub(super) fn bin_row(&self, value: impl Fn(usize) -> T, bins: &mut [u8]) {
        T::bin_row(self.isa, &self.used, value, &self.sorted, &self.last, bins);
    }

    /// The leaf values of served trees `trees`, all of depth `depth`, for one row binned into
    /// `bins` ([`bin_row`](Self::bin_row)), walked side by side: the trees' chains of loads
    /// are independent, and overlap in the processor.
    ///
    /// # Panics
    ///
    /// If `bins` does not hold every feature, or a tree's depth is not `depth`.
    pub(super) fn walk_row<const N: usize>(
        &self,
        trees: &[u32; N],
        depth: usize,
        bins: &[u8],
    ) -> [A; N] {
        assert!(bins.len() >= self.features);
        let trees = trees.map(|t| &self.trees[t as usize]);
        assert!(trees.iter().all(|tree| tree.depth == depth));
        let first = trees.map(|tree| tree.first_row_split);
        let mut index = [0usize; N];
        for _ in 0..depth {
            for (i, &first) in index.iter_mut().zip(&first) {
                // SAFETY: before step `k` (from 0) the index is below `2^(k+1) - 1 <= 2^depth
                // - 1`, the tree's splits from `first`; a split's feature is one of the
                // ensemble's (or 0, for the splits that always go left), below
                // `self.features <= bins.len()`.
                let split = unsafe { self.row_splits.get_unchecked(first + *i) }.0;
                let bin = unsafe { *bins.get_unchecked((split & 0xFFFF) as usize) };
                let right = bin.wrapping_add((split >> 24) as u8) > (split >> 16) as u8;
                *i = 2 * *i + 1 + usize::from(right);
            }
        }
        let internal = (1 << depth) - 1;
        std::array::from_fn(|k| self.leaves[trees[k].first_leaf + index[k] - internal])
    }

    /// [`add_tree`](Self::add_tree), compiled with the instructions so that the walk and the
    /// adds inline into it.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn add_tree_avx512(&self, tree: u32, bins: &[Line], margins: &mut [A], raw_width: usize) {
        let tree = &self.trees[tree as usize];
        let leaves = &self.leaves[tree.first_leaf..][..1 << tree.depth];
        for (bins, margins) in bins
            .chunks_exact(self.features)
            .zip(margins.chunks_exact_mut(ROWS * raw_width))
        {
            let leaf = self.walk(tree, bins);
            A::add_leaves(self.isa, leaf, leaves, margins, raw_width, tree.output);
        }
    }

    /// Each row's leaf in `tree`, a byte per row.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    #[inline]
    fn walk(&self, tree: &BinnedTree, bins: &[Line]) -> __m512i {
        let one = _mm512_set1_epi8(1);
        let mut position = _mm512_setzero_si512();
        for level in 0..tree.depth {
            let (tables, index) = if level < 7 {
                let first = _mm512_set1_epi8(((1 << level) - 1) as i8);
                (&tree.tables[0], _mm512_add_epi8(position, first))
            } else {
                (&tree.tables[1], position)
            };
            let lookup = |table: &[Line; 2]| {
                // SAFETY: a `Line` is 64 aligned bytes.
                let (low, high) = unsafe {
                    (
                        _mm512_load_si512(table[0].0.as_ptr().cast()),
                        _mm512_load_si512(table[1].0.as_ptr().cast()),
                    )
                };
                _mm512_permutex2var_epi8(low, index, high)
            };
            let features =
                &self.level_features[tree.levels[level] as usize..tree.levels[level + 1] as usize];
            let mut x;
            if let [feature] = features {
                // SAFETY: features are below `self.features`, the length of `bins`.
                x = unsafe { _mm512_load_si512(bins[*feature as usize].0.as_ptr().cast()) };
            } else {
                let slot = lookup(&tables.slot);
                x = _mm512_setzero_si512();
                let mut s = _mm512_setzero_si512();
                for &feature in features {
                    let rows = _mm512_cmpeq_epi8_mask(slot, s);
                    // SAFETY: features are below `self.features`, the length of `bins`.
                    x = unsafe {
                        _mm512_mask_loadu_epi8(x, rows, bins.as_ptr().add(feature as usize).cast())
                    };
                    s = _mm512_add_epi8(s, one);
                }
            }
            let threshold = lookup(&tables.threshold);
            let missing_left = lookup(&tables.missing_left);
            let right = _mm512_cmpgt_epu8_mask(_mm512_add_epi8(x, missing_left), threshold);
            position = _mm512_add_epi8(position, position);
            position = _mm512_mask_add_epi8(position, right, position, one);
        }
        position
    }
}

/// The thresholds `sorted` as a complete binary search tree of depth 8 in breadth-first
/// order, padded with `+inf`: walking it with "right when the entry is below `x`" ends at
/// leaf `i` exactly when `i` of the thresholds are below `x`.
fn search_tree<T: Value>(sorted: &[T]) -> [T; SEARCH_LEN] {
    let mut tree = [T::INFINITY; SEARCH_LEN];
    // In-order rank of breadth-first position `at` in a complete tree of 255 entries.
    fn fill<T: Value>(tree: &mut [T; SEARCH_LEN], sorted: &[T], at: usize, next: &mut usize) {
        if at >= SEARCH_LEN - 1 {
            return;
        }
        fill(tree, sorted, 2 * at + 1, next);
        tree[at] = sorted.get(*next).copied().unwrap_or(T::INFINITY);
        *next += 1;
        fill(tree, sorted, 2 * at + 2, next);
    }
    fill(&mut tree, sorted, 0, &mut 0);
    tree
}

/// The groups of 16 rows a vector of rows spans in the scalar engine's block.
const GROUPS: usize = ROWS / super::LANES;

/// A feature value type the walk bins.
pub(super) trait BinnedValue: Value {
    /// The bin in `search` ([`search_tree`]) of each of a vector's values, 16 rows per
    /// group, into `bins`.
    fn bin(isa: Avx512, values: [&[Self]; GROUPS], search: &[Self], bins: &mut Line);

    /// The bins of one row's values of features `used` into `bins[f]`: how many of the
    /// feature's thresholds are below the value, or [`MISSING_BIN`] for `NaN`. `sorted` holds
    /// each feature's thresholds sorted and padded with `+inf` ([`SEARCH_LEN`] a feature),
    /// `last` every [`STRETCH`]th of them (the last of each stretch, 16 a feature): one
    /// compare with `last` finds the value's stretch, and one more (two for `f64`) counts in
    /// it.
    fn bin_row(
        isa: Avx512,
        used: &[usize],
        value: impl Fn(usize) -> Self,
        sorted: &[Self],
        last: &[Self],
        bins: &mut [u8],
    );
}

/// Thresholds a stretch of [`BinnedValue::bin_row`]: 16, so that 16 stretches cover a
/// feature's [`SEARCH_LEN`].
const STRETCH: usize = 16;

impl BinnedValue for f32 {
    fn bin(_: Avx512, values: [&[f32]; GROUPS], search: &[f32], bins: &mut Line) {
        // SAFETY: the token proves the CPU has the instructions.
        unsafe { bin_f32(values, search, bins) }
    }

    fn bin_row(
        _: Avx512,
        used: &[usize],
        value: impl Fn(usize) -> f32,
        sorted: &[f32],
        last: &[f32],
        bins: &mut [u8],
    ) {
        // SAFETY: the token proves the CPU has the instructions.
        unsafe { bin_row_f32(used, value, sorted, last, bins) }
    }
}

impl BinnedValue for f64 {
    fn bin(_: Avx512, values: [&[f64]; GROUPS], search: &[f64], bins: &mut Line) {
        // SAFETY: the token proves the CPU has the instructions.
        unsafe { bin_f64(values, search, bins) }
    }

    fn bin_row(
        _: Avx512,
        used: &[usize],
        value: impl Fn(usize) -> f64,
        sorted: &[f64],
        last: &[f64],
        bins: &mut [u8],
    ) {
        // SAFETY: the token proves the CPU has the instructions.
        unsafe { bin_row_f64(used, value, sorted, last, bins) }
    }
}

/// [`BinnedValue::bin_row`] for `f32`: a stretch is one register.
#[target_feature(enable = "avx512f,popcnt")]
fn bin_row_f32(
    used: &[usize],
    value: impl Fn(usize) -> f32,
    sorted: &[f32],
    last: &[f32],
    bins: &mut [u8],
) {
    bin_row_by(used, value, sorted, last, bins, |x, entries| {
        // SAFETY: 16 entries.
        let entries = unsafe { _mm512_loadu_ps(entries.as_ptr()) };
        _mm512_cmp_ps_mask::<_CMP_LT_OQ>(entries, _mm512_set1_ps(x)).count_ones() as usize
    });
}

/// [`BinnedValue::bin_row`] for `f64`: a stretch is two registers.
#[target_feature(enable = "avx512f,popcnt")]
fn bin_row_f64(
    used: &[usize],
    value: impl Fn(usize) -> f64,
    sorted: &[f64],
    last: &[f64],
    bins: &mut [u8],
) {
    bin_row_by(used, value, sorted, last, bins, |x, entries| {
        // SAFETY: 2 x 8 entries.
        let (low, high) = unsafe {
            (
                _mm512_loadu_pd(entries.as_ptr()),
                _mm512_loadu_pd(entries.as_ptr().add(8)),
            )
        };
        let x = _mm512_set1_pd(x);
        (_mm512_cmp_pd_mask::<_CMP_LT_OQ>(low, x).count_ones()
            + _mm512_cmp_pd_mask::<_CMP_LT_OQ>(high, x).count_ones()) as usize
    });
}

/// [`BinnedValue::bin_row`], with `below(x, entries)` counting the [`STRETCH`] `entries`
/// below `x`. Inlined into the callers above, so that `below` is compiled with their
/// instructions.
#[inline(always)]
fn bin_row_by<T: Value>(
    used: &[usize],
    value: impl Fn(usize) -> T,
    sorted: &[T],
    last: &[T],
    bins: &mut [u8],
    below: impl Fn(T, &[T; STRETCH]) -> usize,
) {
    const STRETCHES: usize = SEARCH_LEN / STRETCH;
    // The stretches' last thresholds fill one stretch's registers.
    const _: () = assert!(STRETCHES == STRETCH);
    fn stretch_of<T>(entries: &[T]) -> &[T; STRETCH] {
        entries.try_into().expect("STRETCH entries")
    }
    for &f in used {
        let x = value(f);
        // Whole stretches below `x`: never the last, whose last threshold is `+inf`.
        let last = stretch_of(&last[f * STRETCHES..][..STRETCHES]);
        let stretch = below(x, last).min(STRETCHES - 1);
        let entries = &sorted[f * SEARCH_LEN + STRETCH * stretch..][..STRETCH];
        #[allow(clippy::eq_op, reason = "x != x is the NaN test")]
        let missing = x != x;
        bins[f] = if missing {
            MISSING_BIN
        } else {
            (STRETCH * stretch + below(x, stretch_of(entries))) as u8
        };
    }
}

/// [`BinnedValue::bin`] for `f32`: 16 values to a register, walking the search tree level
/// by level with each level's entries held in registers (`vpermi2ps` picks among 32).
#[target_feature(enable = "avx512f,avx512bw")]
fn bin_f32(values: [&[f32]; GROUPS], search: &[f32], bins: &mut Line) {
    assert!(search.len() == SEARCH_LEN && values.iter().all(|v| v.len() == 16));
    // SAFETY: every load reads 16 entries from at most 239, within the 256.
    let load = |at: usize| unsafe { _mm512_loadu_ps(search.as_ptr().add(at)) };
    for (chunk, values) in values.into_iter().enumerate() {
        // SAFETY: 16 values, as asserted.
        let x = unsafe { _mm512_loadu_ps(values.as_ptr()) };
        // The position in the search tree, breadth-first.
        let mut at = _mm512_setzero_si512();
        for level in 0..8 {
            let first = (1usize << level) - 1;
            let index = _mm512_sub_epi32(at, _mm512_set1_epi32(first as i32));
            let entry = if level <= 4 {
                _mm512_permutex2var_ps(load(first), index, load(first + 16))
            } else {
                // 2^level entries, 32 to a pair of registers, chosen by bits 5 and 6.
                let pairs = 1usize << (level - 5);
                let mut picked = [_mm512_setzero_ps(); 4];
                for (p, picked) in picked.iter_mut().enumerate().take(pairs) {
                    *picked = _mm512_permutex2var_ps(
                        load(first + 32 * p),
                        index,
                        load(first + 32 * p + 16),
                    );
                }
                let bit5 = _mm512_test_epi32_mask(index, _mm512_set1_epi32(32));
                let bit6 = _mm512_test_epi32_mask(index, _mm512_set1_epi32(64));
                match pairs {
                    1 => picked[0],
                    2 => _mm512_mask_blend_ps(bit5, picked[0], picked[1]),
                    _ => _mm512_mask_blend_ps(
                        bit6,
                        _mm512_mask_blend_ps(bit5, picked[0], picked[1]),
                        _mm512_mask_blend_ps(bit5, picked[2], picked[3]),
                    ),
                }
            };
            // Ordered: false for NaN, whose bin is set below.
            let right = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(entry, x);
            at = _mm512_add_epi32(_mm512_add_epi32(at, at), _mm512_set1_epi32(1));
            at = _mm512_mask_add_epi32(at, right, at, _mm512_set1_epi32(1));
        }
        let bin = _mm512_sub_epi32(at, _mm512_set1_epi32(SEARCH_LEN as i32 - 1));
        let missing = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
        let bin = _mm512_mask_mov_epi32(bin, missing, _mm512_set1_epi32(i32::from(MISSING_BIN)));
        // SAFETY: 16 bytes from `chunk * 16`, within the line.
        unsafe {
            _mm_storeu_si128(
                bins.0.as_mut_ptr().add(chunk * 16).cast(),
                _mm512_cvtepi32_epi8(bin),
            )
        };
    }
}

/// [`BinnedValue::bin`] for `f64`: as [`bin_f32`], 8 values to a register.
#[target_feature(enable = "avx512f,avx512bw")]
fn bin_f64(values: [&[f64]; GROUPS], search: &[f64], bins: &mut Line) {
    assert!(search.len() == SEARCH_LEN && values.iter().all(|v| v.len() == 16));
    // SAFETY: every load reads 8 entries from at most 247, within the 256.
    let load = |at: usize| unsafe { _mm512_loadu_pd(search.as_ptr().add(at)) };
    for (chunk, values) in values.iter().flat_map(|v| v.chunks_exact(8)).enumerate() {
        // SAFETY: 8 values.
        let x = unsafe { _mm512_loadu_pd(values.as_ptr()) };
        let mut at = _mm512_setzero_si512();
        for level in 0..8 {
            let first = (1usize << level) - 1;
            let index = _mm512_sub_epi64(at, _mm512_set1_epi64(first as i64));
            let entry = if level <= 3 {
                _mm512_permutex2var_pd(load(first), index, load(first + 8))
            } else {
                // 2^level entries, 16 to a pair of registers, chosen by bits 4 and up.
                let pairs = 1usize << (level - 4);
                let mut picked = [_mm512_setzero_pd(); 8];
                for (p, picked) in picked.iter_mut().enumerate().take(pairs) {
                    *picked = _mm512_permutex2var_pd(
                        load(first + 16 * p),
                        index,
                        load(first + 16 * p + 8),
                    );
                }
                let (mut width, mut bit) = (pairs, 16);
                while width > 1 {
                    let high = _mm512_test_epi64_mask(index, _mm512_set1_epi64(bit));
                    for p in 0..width / 2 {
                        picked[p] = _mm512_mask_blend_pd(high, picked[2 * p], picked[2 * p + 1]);
                    }
                    width /= 2;
                    bit *= 2;
                }
                picked[0]
            };
            let right = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(entry, x);
            at = _mm512_add_epi64(_mm512_add_epi64(at, at), _mm512_set1_epi64(1));
            at = _mm512_mask_add_epi64(at, right, at, _mm512_set1_epi64(1));
        }
        let bin = _mm512_sub_epi64(at, _mm512_set1_epi64(SEARCH_LEN as i64 - 1));
        let missing = _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(x, x);
        let bin = _mm512_mask_mov_epi64(bin, missing, _mm512_set1_epi64(i64::from(MISSING_BIN)));
        // SAFETY: 8 bytes from `chunk * 8`, within the line.
        unsafe {
            _mm_storel_epi64(
                bins.0.as_mut_ptr().add(chunk * 8).cast(),
                _mm512_cvtepi64_epi8(bin),
            )
        };
    }
}

/// A margin type the walk adds leaves to.
pub(super) trait BinnedSum: Accumulator {
    /// Adds to the margin of each of a vector's rows the leaf it reached (`leaf`, a byte per
    /// row): row `r` adds to `margins[r * raw_width + output]`.
    fn add_leaves(
        isa: Avx512,
        leaf: __m512i,
        leaves: &[Self],
        margins: &mut [Self],
        raw_width: usize,
        output: usize,
    );
}

impl BinnedSum for f32 {
    #[inline(always)]
    fn add_leaves(
        _: Avx512,
        leaf: __m512i,
        leaves: &[f32],
        margins: &mut [f32],
        raw_width: usize,
        output: usize,
    ) {
        if raw_width == 1 {
            // SAFETY: the token proves the CPU has the instructions.
            unsafe { gather_add_f32(leaf, leaves, margins) }
        } else {
            scalar_add(leaf, leaves, margins, raw_width, output);
        }
    }
}

impl BinnedSum for f64 {
    #[inline(always)]
    fn add_leaves(
        _: Avx512,
        leaf: __m512i,
        leaves: &[f64],
        margins: &mut [f64],
        raw_width: usize,
        output: usize,
    ) {
        if raw_width == 1 {
            // SAFETY: the token proves the CPU has the instructions.
            unsafe { gather_add_f64(leaf, leaves, margins) }
        } else {
            scalar_add(leaf, leaves, margins, raw_width, output);
        }
    }
}

/// Adds a vector's leaves row by row, for margins of several outputs.
fn scalar_add<A: Accumulator>(
    leaf: __m512i,
    leaves: &[A],
    margins: &mut [A],
    raw_width: usize,
    output: usize,
) {
    let mut index = [0u8; ROWS];
    // SAFETY: 64 bytes into 64 bytes.
    unsafe { _mm512_storeu_si512(index.as_mut_ptr().cast(), leaf) };
    for (margins, &i) in margins.chunks_exact_mut(raw_width).zip(&index) {
        margins[output] += leaves[usize::from(i)];
    }
}

/// Adds a vector's leaves to 64 contiguous `f32` margins, 16 gathered at a time.
#[target_feature(enable = "avx512f")]
#[inline]
fn gather_add_f32(leaf: __m512i, leaves: &[f32], margins: &mut [f32]) {
    assert!(margins.len() == ROWS);
    let quarters = [
        _mm512_extracti32x4_epi32::<0>(leaf),
        _mm512_extracti32x4_epi32::<1>(leaf),
        _mm512_extracti32x4_epi32::<2>(leaf),
        _mm512_extracti32x4_epi32::<3>(leaf),
    ];
    for (q, quarter) in quarters.into_iter().enumerate() {
        let index = _mm512_cvtepu8_epi32(quarter);
        // SAFETY: a leaf index is below `2^depth`, the length of `leaves`; 16 margins from
        // `q * 16` are within the 64.
        unsafe {
            let value = _mm512_i32gather_ps::<4>(index, leaves.as_ptr());
            let at = margins.as_mut_ptr().add(q * 16);
            _mm512_storeu_ps(at, _mm512_add_ps(_mm512_loadu_ps(at), value));
        }
    }
}

/// Adds a vector's leaves to 64 contiguous `f64` margins, 8 gathered at a time.
#[target_feature(enable = "avx512f")]
#[inline]
fn gather_add_f64(leaf: __m512i, leaves: &[f64], margins: &mut [f64]) {
    assert!(margins.len() == ROWS);
    let mut index = [0u8; ROWS];
    // SAFETY: 64 bytes into 64 bytes.
    unsafe { _mm512_storeu_si512(index.as_mut_ptr().cast(), leaf) };
    for (e, index) in index.chunks_exact(8).enumerate() {
        // SAFETY: 8 bytes; a leaf index is below `2^depth`, the length of `leaves`; 8 margins
        // from `e * 8` are within the 64.
        unsafe {
            let index = _mm256_cvtepu8_epi32(_mm_loadl_epi64(index.as_ptr().cast()));
            let value = _mm512_i32gather_pd::<8>(index, leaves.as_ptr());
            let at = margins.as_mut_ptr().add(e * 8);
            _mm512_storeu_pd(at, _mm512_add_pd(_mm512_loadu_pd(at), value));
        }
    }
}
