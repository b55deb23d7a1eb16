//! Oblivious trees compiled for speed: binarise once, then no node walk at all.
//!
//! Every split of an [`ObliviousEnsemble`] asks "is feature `f` above border `b`?". The
//! borders of one feature are few (CatBoost keeps at most 254 by default), so a row's value is
//! turned once into its *bin*: how many of the feature's borders it exceeds. A split is then
//! `bin[f] > k`, where `k` is the border's rank, and a tree's leaf index is `depth` such bits.
//!
//! Rows go through in blocks of [`BLOCK_ROWS`], bins stored feature-major so that one level of
//! one tree is a compare-and-shift over a contiguous run of bins, which the compiler
//! vectorises; then each row adds its leaf, tree by tree, in tree order, so the sums are the
//! reference's bit for bit. Bins are bytes when every feature has at most 255 borders.

use std::cell::RefCell;
use std::ops::Range;

use ndarray::ArrayView2;

use crate::family::oblivious::{NanTreatment, ObliviousEnsemble};

/// Rows binarised and scored together: their bins and leaf indices stay in L1 cache.
const BLOCK_ROWS: usize = 128;

/// A feature that some split reads, with its borders sorted and deduplicated.
#[derive(Debug)]
struct BinnedFeature {
    input: usize,
    nan: NanTreatment,
    borders: Vec<f32>,
}

/// One level of a compiled tree: the bit is `bins[slot] > rank`.
#[derive(Debug, Clone, Copy)]
struct Level {
    slot: u32,
    rank: u16,
}

/// An [`ObliviousEnsemble`] compiled into binarised splits.
#[derive(Debug)]
pub(crate) struct CompiledOblivious {
    features: Vec<BinnedFeature>,
    /// Each binned feature's input column, densely, for the copy into columns.
    inputs: Vec<usize>,
    /// True when some binned feature refuses missing values.
    any_forbidden: bool,
    /// Tree `t` is `levels[starts[t]..starts[t + 1]]`.
    starts: Vec<usize>,
    levels: Vec<Level>,
    /// Tree `t`'s leaves start at `leaf_starts[t]`, `width` values each.
    leaf_starts: Vec<usize>,
    leaf_values: Vec<f64>,
    /// With byte leaf indices and one output: each tree's leaves padded to 256, so that a
    /// byte indexes them without a bounds check.
    byte_tables: Vec<[f64; 256]>,
    width: usize,
    /// True when every bin fits a byte.
    byte_bins: bool,
    /// True when every leaf index fits a byte (no tree deeper than 8).
    byte_leaves: bool,
}

/// Per-thread buffers: bins (feature-major), leaf indices (tree-major, one chunk of trees)
/// and sums of one block.
#[derive(Default)]
struct Buffers {
    bins8: Vec<u8>,
    bins16: Vec<u16>,
    leaves8: Vec<u8>,
    leaves32: Vec<u32>,
    sums: Vec<f64>,
    /// The block's values of each binned feature as `f32`, feature-major.
    columns: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// A bin type: a byte or a 16-bit word.
trait Bin: Copy + PartialOrd + Default + 'static {
    fn from_count(count: usize) -> Self;
    fn from_rank(rank: u16) -> Self;
    fn buffer(buffers: &mut Buffers) -> &mut Vec<Self>;
}

impl Bin for u8 {
    #[inline(always)]
    fn from_count(count: usize) -> Self {
        count as u8
    }
    #[inline(always)]
    fn from_rank(rank: u16) -> Self {
        rank as u8
    }
    fn buffer(buffers: &mut Buffers) -> &mut Vec<Self> {
        &mut buffers.bins8
    }
}

impl Bin for u16 {
    #[inline(always)]
    fn from_count(count: usize) -> Self {
        count as u16
    }
    #[inline(always)]
    fn from_rank(rank: u16) -> Self {
        rank
    }
    fn buffer(buffers: &mut Buffers) -> &mut Vec<Self> {
        &mut buffers.bins16
    }
}

/// A leaf index: a byte when no tree is deeper than 8, so that one level of one tree is a
/// compare-and-or over 16 rows per SSE instruction rather than 4.
trait LeafIndex:
    Copy + Default + From<u8> + Into<u32> + std::ops::Shl<u32, Output = Self> + std::ops::BitOrAssign
{
    fn buffer(buffers: &mut Buffers) -> &mut Vec<Self>;

    /// Adds the leaves of the trees of `chunk` (their indices tree-major in `leaves`) to the
    /// one sum of each row.
    fn add_single(
        engine: &CompiledOblivious,
        chunk: Range<usize>,
        leaves: &[Self],
        rows: usize,
        sums: &mut [f64],
    );
}

impl LeafIndex for u8 {
    fn buffer(buffers: &mut Buffers) -> &mut Vec<Self> {
        &mut buffers.leaves8
    }

    #[inline(always)]
    fn add_single(
        engine: &CompiledOblivious,
        chunk: Range<usize>,
        leaves: &[Self],
        rows: usize,
        sums: &mut [f64],
    ) {
        engine.add_byte_leaves(chunk, leaves, rows, sums);
    }
}

impl LeafIndex for u32 {
    fn buffer(buffers: &mut Buffers) -> &mut Vec<Self> {
        &mut buffers.leaves32
    }

    #[inline(always)]
    fn add_single(
        engine: &CompiledOblivious,
        chunk: Range<usize>,
        leaves: &[Self],
        rows: usize,
        sums: &mut [f64],
    ) {
        engine.add_leaves(chunk, leaves, rows, sums);
    }
}

/// Trees whose leaf indices are computed together before their leaves are added: each row's
/// sum is then loaded and stored once per chunk rather than once per tree.
const TREE_CHUNK: usize = 8;

/// Rows whose leaves are added side by side.
const ROWS_TOGETHER: usize = 4;

/// The most borders one feature may have for the compiled form (bins are 16-bit).
const MAX_BORDERS: usize = u16::MAX as usize;

impl CompiledOblivious {
    /// Compiles a validated ensemble; `None` when a feature has more borders than 16-bit bins
    /// can count (the reference then serves it).
    pub(crate) fn compile(ensemble: &ObliviousEnsemble) -> Option<CompiledOblivious> {
        // Every border each feature is split on.
        let mut borders: Vec<Vec<f32>> = vec![Vec::new(); ensemble.num_features];
        for split in ensemble.trees.iter().flat_map(|t| &t.splits) {
            borders[split.feature as usize].push(split.border);
        }
        let mut slot_of = vec![u32::MAX; ensemble.num_features];
        let mut features = Vec::new();
        for (input, mut list) in borders.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            list.sort_by(f32::total_cmp);
            list.dedup_by(|a, b| a.total_cmp(b).is_eq());
            if list.len() > MAX_BORDERS {
                return None;
            }
            slot_of[input] = features.len() as u32;
            features.push(BinnedFeature {
                input,
                nan: ensemble.nan_treatment[input],
                borders: list,
            });
        }
        let width = ensemble.leaf_width;
        let mut compiled = CompiledOblivious {
            byte_bins: features
                .iter()
                .all(|f| f.borders.len() <= usize::from(u8::MAX)),
            byte_leaves: ensemble.trees.iter().all(|t| t.splits.len() <= 8),
            inputs: features.iter().map(|f| f.input).collect(),
            any_forbidden: features.iter().any(|f| f.nan == NanTreatment::Forbidden),
            features,
            starts: vec![0],
            levels: Vec::new(),
            leaf_starts: Vec::new(),
            leaf_values: Vec::new(),
            byte_tables: Vec::new(),
            width,
        };
        for tree in &ensemble.trees {
            for split in &tree.splits {
                let slot = slot_of[split.feature as usize];
                let feature = &compiled.features[slot as usize];
                // The border is in the list, so its rank is its position.
                let rank = feature
                    .borders
                    .partition_point(|b| b.total_cmp(&split.border).is_lt());
                compiled.levels.push(Level {
                    slot,
                    rank: rank as u16,
                });
            }
            compiled.starts.push(compiled.levels.len());
            compiled.leaf_starts.push(compiled.leaf_values.len());
            compiled.leaf_values.extend_from_slice(&tree.leaf_values);
            if compiled.byte_leaves && width == 1 {
                let mut table = [0.0; 256];
                table[..tree.leaf_values.len()].copy_from_slice(&tree.leaf_values);
                compiled.byte_tables.push(table);
            }
        }
        Some(compiled)
    }

    /// Writes the raw margins of every row of `features` into `raw` (`rows x width`,
    /// row-major), like [`ObliviousEnsemble`]'s reference; on a missing value the model
    /// forbids, gives its row and input feature.
    pub(crate) fn raw_margins(
        &self,
        ensemble: &ObliviousEnsemble,
        features: ArrayView2<'_, f64>,
        raw: &mut [f64],
    ) -> Result<(), (usize, u32)> {
        BUFFERS.with_borrow_mut(|buffers| {
            let rows = features.nrows();
            let mut start = 0;
            while start < rows {
                let end = (start + BLOCK_ROWS).min(rows);
                let block = features.slice(ndarray::s![start..end, ..]);
                let out = &mut raw[start * self.width..end * self.width];
                self.score_block(ensemble, block, out, buffers)
                    .map_err(|(row, input)| (start + row, input))?;
                start = end;
            }
            Ok(())
        })
    }

    /// Scores one block, with AVX2 where the CPU has it: twice the rows per compare in
    /// binarisation and in each level, from the same code. The sums are the same either way
    /// (the same additions in the same order; AVX2 does not fuse them).
    fn score_block(
        &self,
        ensemble: &ObliviousEnsemble,
        block: ArrayView2<'_, f64>,
        out: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), (usize, u32)> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.score_block_avx2(ensemble, block, out, buffers) };
        }
        self.score_block_portable(ensemble, block, out, buffers)
    }

    /// [`score_block_portable`](Self::score_block_portable) compiled for AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn score_block_avx2(
        &self,
        ensemble: &ObliviousEnsemble,
        block: ArrayView2<'_, f64>,
        out: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), (usize, u32)> {
        self.score_block_portable(ensemble, block, out, buffers)
    }

    /// Scores one block with the bins of the right width. Inlined, with everything it calls,
    /// into each instruction-set variant of [`score_block`](Self::score_block).
    #[inline(always)]
    fn score_block_portable(
        &self,
        ensemble: &ObliviousEnsemble,
        block: ArrayView2<'_, f64>,
        out: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), (usize, u32)> {
        if self.byte_bins {
            self.score_block_with::<u8>(ensemble, block, out, buffers)
        } else {
            self.score_block_with::<u16>(ensemble, block, out, buffers)
        }
    }

    #[inline(always)]
    fn score_block_with<B: Bin>(
        &self,
        ensemble: &ObliviousEnsemble,
        block: ArrayView2<'_, f64>,
        out: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), (usize, u32)> {
        let rows = block.nrows();
        let mut bins = std::mem::take(B::buffer(buffers));
        bins.clear();
        bins.resize(self.features.len() * rows, B::default());
        // No closure here: it would be compiled apart from the AVX2 variant that inlines this.
        let result = self.binarise(block, &mut bins, &mut buffers.columns);
        if result.is_ok() {
            buffers.sums.clear();
            buffers.sums.resize(rows * self.width, 0.0);
            if self.byte_leaves {
                self.sum_trees::<B, u8>(&bins, rows, buffers);
            } else {
                self.sum_trees::<B, u32>(&bins, rows, buffers);
            }
            out.copy_from_slice(&buffers.sums);
            for row in out.chunks_exact_mut(self.width) {
                ensemble.scale_and_bias(row);
            }
        }
        *B::buffer(buffers) = bins;
        result
    }

    /// Fills `bins` (feature-major: `bins[slot * rows + row]`) with each value's count of
    /// borders below it.
    ///
    /// The block is first turned into `f32` columns, reading each row in order; each column
    /// is then compared with its borders one border at a time across all its rows, which
    /// vectorises over rows (a count of the borders per value vectorises only over the few
    /// borders of one feature, and ends in a horizontal sum). Counts held in registers over
    /// groups of 32 rows measured slower: the compiler spilled them.
    #[inline(always)]
    fn binarise<B: Bin>(
        &self,
        block: ArrayView2<'_, f64>,
        bins: &mut [B],
        columns: &mut Vec<f32>,
    ) -> Result<(), (usize, u32)> {
        let rows = block.nrows();
        columns.clear();
        columns.resize(self.features.len() * rows, 0.0);
        for (row, values) in block.rows().into_iter().enumerate() {
            match values.as_slice() {
                Some(values) => {
                    for (&input, column) in self.inputs.iter().zip(columns.chunks_exact_mut(rows)) {
                        column[row] = values[input] as f32;
                    }
                }
                None => {
                    for (&input, column) in self.inputs.iter().zip(columns.chunks_exact_mut(rows)) {
                        column[row] = values[input] as f32;
                    }
                }
            }
        }
        if self.any_forbidden {
            self.check_forbidden(columns, rows)?;
        }
        for ((feature, column), bins) in self
            .features
            .iter()
            .zip(columns.chunks_exact(rows))
            .zip(bins.chunks_exact_mut(rows))
        {
            // A missing value compares false with every border: no bit, unless the model
            // sends it above them all.
            let missing = match feature.nan {
                NanTreatment::AsTrue => feature.borders.len(),
                NanTreatment::AsFalse | NanTreatment::Forbidden => 0,
            };
            let borders = &feature.borders[..];
            let mut counts = [0u32; BLOCK_ROWS];
            let counts = &mut counts[..rows];
            for &border in borders {
                for (count, &x) in counts.iter_mut().zip(column) {
                    *count += u32::from(x > border);
                }
            }
            for ((bin, &count), &x) in bins.iter_mut().zip(counts.iter()).zip(column) {
                *bin = B::from_count(if x.is_nan() { missing } else { count as usize });
            }
        }
        Ok(())
    }

    /// The first missing value of a feature the model forbids missing values in, as its row
    /// and input feature: the earliest row, and in it the feature of the first split (in tree
    /// order, then level order) that reads such a value, as the reference reports it.
    #[cold]
    fn check_forbidden(&self, columns: &[f32], rows: usize) -> Result<(), (usize, u32)> {
        let refused = |slot: usize, row: usize| {
            self.features[slot].nan == NanTreatment::Forbidden
                && columns[slot * rows + row].is_nan()
        };
        let Some(row) = (0..rows).find(|&row| (0..self.features.len()).any(|s| refused(s, row)))
        else {
            return Ok(());
        };
        // Every binned feature is read by some split, so a level is found.
        let slot = self
            .levels
            .iter()
            .map(|level| level.slot as usize)
            .find(|&slot| refused(slot, row))
            .unwrap_or_default();
        Err((row, self.features[slot].input as u32))
    }

    /// [`LeafIndex::add_single`] for any leaf index: rows side by side, so that their
    /// additions (each row's in tree order) do not wait on one another.
    #[inline(always)]
    fn add_leaves<L: LeafIndex>(
        &self,
        chunk: Range<usize>,
        leaves: &[L],
        rows: usize,
        sums: &mut [f64],
    ) {
        let tables = &self.leaf_values;
        let mut groups = sums.chunks_exact_mut(ROWS_TOGETHER);
        for (g, group) in groups.by_ref().enumerate() {
            let row = g * ROWS_TOGETHER;
            let mut totals = [0.0; ROWS_TOGETHER];
            totals.copy_from_slice(group);
            for (i, t) in chunk.clone().enumerate() {
                let values = &tables[self.leaf_starts[t]..];
                let leaves = &leaves[i * rows + row..][..ROWS_TOGETHER];
                for (total, &leaf) in totals.iter_mut().zip(leaves) {
                    let leaf: u32 = leaf.into();
                    *total += values[leaf as usize];
                }
            }
            group.copy_from_slice(&totals);
        }
        let done = rows - groups.into_remainder().len();
        for (row, sum) in sums.iter_mut().enumerate().skip(done) {
            for (i, t) in chunk.clone().enumerate() {
                let leaf: u32 = leaves[i * rows + row].into();
                *sum += tables[self.leaf_starts[t] + leaf as usize];
            }
        }
    }

    /// [`LeafIndex::add_single`] for byte indices: the padded tables take a byte with no
    /// bounds check, and eight rows go side by side.
    #[inline(always)]
    fn add_byte_leaves(&self, chunk: Range<usize>, leaves: &[u8], rows: usize, sums: &mut [f64]) {
        const ROWS: usize = 8;
        let tables = &self.byte_tables[chunk];
        let mut groups = sums.chunks_exact_mut(ROWS);
        for (g, group) in groups.by_ref().enumerate() {
            let row = g * ROWS;
            let mut totals = [0.0; ROWS];
            totals.copy_from_slice(group);
            for (table, leaves) in tables.iter().zip(leaves.chunks_exact(rows)) {
                let leaves: &[u8; ROWS] = leaves[row..row + ROWS]
                    .try_into()
                    .expect("a group is ROWS rows");
                for (total, &leaf) in totals.iter_mut().zip(leaves) {
                    *total += table[usize::from(leaf)];
                }
            }
            group.copy_from_slice(&totals);
        }
        let done = rows - groups.into_remainder().len();
        for (row, sum) in sums.iter_mut().enumerate().skip(done) {
            for (table, leaves) in tables.iter().zip(leaves.chunks_exact(rows)) {
                *sum += table[usize::from(leaves[row])];
            }
        }
    }

    /// Adds every tree's leaf to each row's sums, in tree order, [`TREE_CHUNK`] trees at a
    /// time: first their leaf indices (level by level, over all rows of the block), then each
    /// row's leaves in tree order.
    #[inline(always)]
    fn sum_trees<B: Bin, L: LeafIndex>(&self, bins: &[B], rows: usize, buffers: &mut Buffers) {
        let width = self.width;
        let mut leaves = std::mem::take(L::buffer(buffers));
        leaves.clear();
        leaves.resize(TREE_CHUNK * rows, L::default());
        let sums = &mut buffers.sums;
        let trees = self.leaf_starts.len();
        for first in (0..trees).step_by(TREE_CHUNK) {
            let chunk = first..(first + TREE_CHUNK).min(trees);
            for (t, leaves) in chunk.clone().zip(leaves.chunks_exact_mut(rows)) {
                leaves.fill(L::default());
                for (depth, level) in self.levels[self.starts[t]..self.starts[t + 1]]
                    .iter()
                    .enumerate()
                {
                    let column = &bins[level.slot as usize * rows..][..rows];
                    let rank = B::from_rank(level.rank);
                    for (leaf, &bin) in leaves.iter_mut().zip(column) {
                        *leaf |= L::from(u8::from(bin > rank)) << depth as u32;
                    }
                }
            }
            let tables = &self.leaf_values;
            if width == 1 {
                L::add_single(self, chunk, &leaves, rows, sums);
            } else {
                for (i, t) in chunk.enumerate() {
                    let values = &tables[self.leaf_starts[t]..];
                    let leaves = &leaves[i * rows..][..rows];
                    for (row_sums, &leaf) in sums.chunks_exact_mut(width).zip(leaves) {
                        let leaf: u32 = leaf.into();
                        let leaf = &values[leaf as usize * width..][..width];
                        for (sum, v) in row_sums.iter_mut().zip(leaf) {
                            *sum += v;
                        }
                    }
                }
            }
        }
        *L::buffer(buffers) = leaves;
    }
}
