//! Oblivious trees compiled for speed: binarise once, then no node walk at all.
//!
//! Every split of an [`ObliviousEnsemble`] asks "is feature `f` above border `b`?". The
//! borders of one feature are few (CatBoost keeps at most 254 by default), so a row's value is
//! turned once into its *bin*: how many of the feature's borders it exceeds. A split is then
//! `bin[f] > k`, where `k` is the border's rank, and a tree's leaf index is `depth` such bits.
//!
//! Rows go through in blocks of [`BLOCK_ROWS`], bins stored feature-major: a feature's values
//! meet each of its borders 32 rows at a time, and one level of one tree is a compare and an
//! add over a contiguous run of bins. Then each row adds its leaf, tree by tree, in tree
//! order, so the sums are the reference's bit for bit. Bins are bytes when every feature has
//! at most 255 borders.
//!
//! The same code is compiled for AVX2 (chosen at run time) and for any CPU; the one kernel
//! the compiler does not vectorise well, the border count, is written for AVX2 by hand.

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
/// compare and an add over 32 rows per AVX2 instruction rather than 8.
trait LeafIndex:
    Copy
    + Default
    + From<u8>
    + Into<u32>
    + std::ops::Shl<u32, Output = Self>
    + std::ops::BitOr<Output = Self>
{
    fn buffer(buffers: &mut Buffers) -> &mut Vec<Self>;

    /// Adds the leaves of the trees of `chunk` (their indices tree-major in `leaves`, a block
    /// per tree) to the one sum of each row of the block.
    fn add_single(
        engine: &CompiledOblivious,
        chunk: Range<usize>,
        leaves: &[Self],
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
        sums: &mut [f64],
    ) {
        engine.add_byte_leaves(chunk, leaves, sums);
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
        sums: &mut [f64],
    ) {
        engine.add_leaves(chunk, leaves, sums);
    }
}

/// The instructions a block is scored with: a value of an implementing type proves that the
/// CPU has them.
trait Isa: Copy {
    /// For each of `values`, how many of `borders` are below it; none for a missing value.
    fn count_borders(self, values: &[f32; BINARISE_ROWS], borders: &[f32]) -> [u32; BINARISE_ROWS];
}

/// Any CPU: plain Rust, which the compiler vectorises as the target allows.
#[derive(Clone, Copy)]
struct Portable;

impl Isa for Portable {
    #[inline(always)]
    fn count_borders(self, values: &[f32; BINARISE_ROWS], borders: &[f32]) -> [u32; BINARISE_ROWS] {
        let mut counts = [0; BINARISE_ROWS];
        for &border in borders {
            for (count, &x) in counts.iter_mut().zip(values) {
                *count += u32::from(x > border);
            }
        }
        counts
    }
}

/// A CPU with AVX2, made only by [`Avx2::detect`].
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// The token, if this CPU has AVX2.
    fn detect() -> Option<Avx2> {
        std::arch::is_x86_feature_detected!("avx2").then_some(Avx2(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl Isa for Avx2 {
    #[inline(always)]
    fn count_borders(self, values: &[f32; BINARISE_ROWS], borders: &[f32]) -> [u32; BINARISE_ROWS] {
        // SAFETY: `self` exists, so the CPU has AVX2.
        unsafe { avx2::count_borders(values, borders) }
    }
}

/// Kernels written for AVX2, where the compiler's own vectorisation falls short.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::BINARISE_ROWS;

    /// [`Isa::count_borders`](super::Isa::count_borders): the 32 values and their counts held
    /// in eight registers while every border is compared with them (left to the compiler, the
    /// counts of several groups were interleaved and spilled to the stack). A compare is a
    /// mask of all ones where true, so subtracting it counts.
    #[target_feature(enable = "avx2")]
    pub(super) fn count_borders(
        values: &[f32; BINARISE_ROWS],
        borders: &[f32],
    ) -> [u32; BINARISE_ROWS] {
        const LANES: usize = 8;
        let [v0, v1, v2, v3] = std::array::from_fn(|i| {
            // SAFETY: lanes `i * LANES..(i + 1) * LANES` are within the 32 values.
            unsafe { _mm256_loadu_ps(values.as_ptr().add(i * LANES)) }
        });
        let mut counts = [_mm256_setzero_si256(); BINARISE_ROWS / LANES];
        for &border in borders {
            let border = _mm256_set1_ps(border);
            // Ordered and quiet: false for a missing value, as `x > border` is.
            for (count, values) in counts.iter_mut().zip([v0, v1, v2, v3]) {
                let above = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(values, border));
                *count = _mm256_sub_epi32(*count, above);
            }
        }
        let mut out = [0; BINARISE_ROWS];
        for (i, count) in counts.into_iter().enumerate() {
            // SAFETY: lanes `i * LANES..(i + 1) * LANES` are within the 32 counts.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i * LANES).cast(), count) };
        }
        out
    }
}

/// Trees whose leaf indices are computed together before their leaves are added: each row's
/// sum is then loaded and stored once per chunk rather than once per tree.
const TREE_CHUNK: usize = 8;

/// Rows whose values and counts are held in registers while they meet a feature's borders.
const BINARISE_ROWS: usize = 32;

/// The most borders one feature may have for the compiled form (bins are 16-bit).
const MAX_BORDERS: usize = u16::MAX as usize;

impl CompiledOblivious {
    /// The number of trees compiled.
    pub(crate) fn trees(&self) -> usize {
        self.starts.len() - 1
    }

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

    /// Scores one block, with AVX2 where the CPU has it: the same code compiled for it, with
    /// twice the rows per compare in each level, and [`Isa::count_borders`] written for it.
    /// The sums are the same either way (the same additions in the same order; AVX2 does not
    /// fuse them).
    fn score_block(
        &self,
        ensemble: &ObliviousEnsemble,
        block: ArrayView2<'_, f64>,
        out: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), (usize, u32)> {
        #[cfg(target_arch = "x86_64")]
        if let Some(avx2) = Avx2::detect() {
            // SAFETY: `avx2` exists, so the CPU supports AVX2.
            return unsafe { self.score_block_avx2(avx2, ensemble, block, out, buffers) };
        }
        self.score_block_on(Portable, ensemble, block, out, buffers)
    }

    /// [`score_block_on`](Self::score_block_on) compiled for AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2, which the token proves.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn score_block_avx2(
        &self,
        avx2: Avx2,
        ensemble: &ObliviousEnsemble,
        block: ArrayView2<'_, f64>,
        out: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), (usize, u32)> {
        self.score_block_on(avx2, ensemble, block, out, buffers)
    }

    /// Scores one block with the bins of the right width. Inlined, with everything it calls,
    /// into each instruction-set variant of [`score_block`](Self::score_block).
    #[inline(always)]
    fn score_block_on<I: Isa>(
        &self,
        isa: I,
        ensemble: &ObliviousEnsemble,
        block: ArrayView2<'_, f64>,
        out: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), (usize, u32)> {
        if self.byte_bins {
            self.score_block_with::<I, u8>(isa, ensemble, block, out, buffers)
        } else {
            self.score_block_with::<I, u16>(isa, ensemble, block, out, buffers)
        }
    }

    /// Scores a block of at most [`BLOCK_ROWS`] rows. The buffers always hold a whole block:
    /// the rows past the end of a short one are left over from earlier blocks, scored and
    /// never written out, so that every loop runs over a fixed number of rows.
    #[inline(always)]
    fn score_block_with<I: Isa, B: Bin>(
        &self,
        isa: I,
        ensemble: &ObliviousEnsemble,
        block: ArrayView2<'_, f64>,
        out: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), (usize, u32)> {
        let rows = block.nrows();
        let mut bins = std::mem::take(B::buffer(buffers));
        bins.resize(self.features.len() * BLOCK_ROWS, B::default());
        // No closure here: it would be compiled apart from the AVX2 variant that inlines this.
        let result = self.binarise(isa, block, &mut bins, &mut buffers.columns);
        if result.is_ok() {
            buffers.sums.clear();
            buffers.sums.resize(BLOCK_ROWS * self.width, 0.0);
            if self.byte_leaves {
                self.sum_trees::<B, u8>(&bins, buffers);
            } else {
                self.sum_trees::<B, u32>(&bins, buffers);
            }
            out.copy_from_slice(&buffers.sums[..rows * self.width]);
            for row in out.chunks_exact_mut(self.width) {
                ensemble.scale_and_bias(row);
            }
        }
        *B::buffer(buffers) = bins;
        result
    }

    /// Fills `bins` (feature-major: `bins[slot * BLOCK_ROWS + row]`) with each value's count
    /// of borders below it.
    ///
    /// The block is first turned into `f32` columns, reading each row in order. Each column
    /// then meets its borders [`BINARISE_ROWS`] rows at a time: the rows' values and counts
    /// stay in registers while every border is compared with all of them, so a border costs
    /// one broadcast and a compare and a subtraction per register of rows.
    #[inline(always)]
    fn binarise<I: Isa, B: Bin>(
        &self,
        isa: I,
        block: ArrayView2<'_, f64>,
        bins: &mut [B],
        columns: &mut Vec<f32>,
    ) -> Result<(), (usize, u32)> {
        let rows = block.nrows();
        columns.resize(self.features.len() * BLOCK_ROWS, 0.0);
        for (row, values) in block.rows().into_iter().enumerate() {
            let columns = columns.chunks_exact_mut(BLOCK_ROWS);
            match values.as_slice() {
                Some(values) => {
                    for (&input, column) in self.inputs.iter().zip(columns) {
                        column[row] = values[input] as f32;
                    }
                }
                None => {
                    for (&input, column) in self.inputs.iter().zip(columns) {
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
            .zip(columns.chunks_exact(BLOCK_ROWS))
            .zip(bins.chunks_exact_mut(BLOCK_ROWS))
        {
            // A missing value compares false with every border: no bit, unless the model
            // sends it above them all.
            let missing = match feature.nan {
                NanTreatment::AsTrue => feature.borders.len(),
                NanTreatment::AsFalse | NanTreatment::Forbidden => 0,
            };
            for (values, bins) in column
                .chunks_exact(BINARISE_ROWS)
                .zip(bins.chunks_exact_mut(BINARISE_ROWS))
            {
                let values: &[f32; BINARISE_ROWS] =
                    values.try_into().expect("a group is BINARISE_ROWS rows");
                let counts = isa.count_borders(values, &feature.borders);
                for ((bin, &count), &x) in bins.iter_mut().zip(&counts).zip(values) {
                    *bin = B::from_count(if x.is_nan() { missing } else { count as usize });
                }
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
                && columns[slot * BLOCK_ROWS + row].is_nan()
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

    /// One tree's leaf index for every row of the block. The levels go from the deepest up,
    /// each doubling the index and adding its bit, so the indices stay in registers from the
    /// first level to the last.
    #[inline(always)]
    fn tree_leaves<B: Bin, L: LeafIndex>(&self, tree: usize, bins: &[B], leaves: &mut [L]) {
        let mut indices = [L::default(); BLOCK_ROWS];
        for level in self.levels[self.starts[tree]..self.starts[tree + 1]]
            .iter()
            .rev()
        {
            let column: &[B; BLOCK_ROWS] = bins[level.slot as usize * BLOCK_ROWS..][..BLOCK_ROWS]
                .try_into()
                .expect("a column is BLOCK_ROWS bins");
            let rank = B::from_rank(level.rank);
            for (index, &bin) in indices.iter_mut().zip(column) {
                *index = (*index << 1) | L::from(u8::from(bin > rank));
            }
        }
        leaves.copy_from_slice(&indices);
    }

    /// [`LeafIndex::add_single`] for any leaf index: rows side by side, so that their
    /// additions (each row's in tree order) do not wait on one another.
    #[inline(always)]
    fn add_leaves<L: LeafIndex>(&self, chunk: Range<usize>, leaves: &[L], sums: &mut [f64]) {
        const ROWS: usize = 4;
        let tables = &self.leaf_values;
        for (g, group) in sums.chunks_exact_mut(ROWS).enumerate() {
            let row = g * ROWS;
            let mut totals = [0.0; ROWS];
            totals.copy_from_slice(group);
            for (t, leaves) in chunk.clone().zip(leaves.chunks_exact(BLOCK_ROWS)) {
                let values = &tables[self.leaf_starts[t]..];
                for (total, &leaf) in totals.iter_mut().zip(&leaves[row..row + ROWS]) {
                    let leaf: u32 = leaf.into();
                    *total += values[leaf as usize];
                }
            }
            group.copy_from_slice(&totals);
        }
    }

    /// [`LeafIndex::add_single`] for byte indices: eight rows side by side, their eight
    /// indices of a tree read as one word, and the padded tables indexed by a byte with no
    /// bounds check.
    #[inline(always)]
    fn add_byte_leaves(&self, chunk: Range<usize>, leaves: &[u8], sums: &mut [f64]) {
        const ROWS: usize = 8;
        let tables = &self.byte_tables[chunk];
        for (g, group) in sums.chunks_exact_mut(ROWS).enumerate() {
            let row = g * ROWS;
            let mut totals = [0.0; ROWS];
            totals.copy_from_slice(group);
            for (table, leaves) in tables.iter().zip(leaves.chunks_exact(BLOCK_ROWS)) {
                let indices = u64::from_le_bytes(
                    leaves[row..row + ROWS]
                        .try_into()
                        .expect("a group is ROWS rows"),
                );
                for (k, total) in totals.iter_mut().enumerate() {
                    *total += table[(indices >> (8 * k)) as u8 as usize];
                }
            }
            group.copy_from_slice(&totals);
        }
    }

    /// Adds every tree's leaf to each row's sums, in tree order, [`TREE_CHUNK`] trees at a
    /// time: first their leaf indices, then each row's leaves in tree order.
    #[inline(always)]
    fn sum_trees<B: Bin, L: LeafIndex>(&self, bins: &[B], buffers: &mut Buffers) {
        let width = self.width;
        let mut leaves = std::mem::take(L::buffer(buffers));
        leaves.resize(TREE_CHUNK * BLOCK_ROWS, L::default());
        let sums = &mut buffers.sums;
        let trees = self.leaf_starts.len();
        for first in (0..trees).step_by(TREE_CHUNK) {
            let chunk = first..(first + TREE_CHUNK).min(trees);
            for (t, leaves) in chunk.clone().zip(leaves.chunks_exact_mut(BLOCK_ROWS)) {
                self.tree_leaves(t, bins, leaves);
            }
            if width == 1 {
                L::add_single(self, chunk, &leaves, sums);
            } else {
                for (i, t) in chunk.enumerate() {
                    let values = &self.leaf_values[self.leaf_starts[t]..];
                    let leaves = &leaves[i * BLOCK_ROWS..][..BLOCK_ROWS];
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

#[cfg(test)]
mod tests {
    //! The AVX2 variant is what runs on most machines, and so what the crate's other tests
    //! check; here the portable variant, which runs elsewhere, is checked too, against the
    //! reference and against AVX2 where this machine has it.

    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;
    use crate::family::link::Link;
    use crate::family::oblivious::{ObliviousSplit, ObliviousTree};

    /// Values around a few borders, with ties, infinities and missing values.
    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            (-40i32..40).prop_map(|v| v as f32 / 8.0),
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(f32::NEG_INFINITY),
            any::<f32>(),
        ]
    }

    /// An ensemble of `trees` trees of up to `max_depth` levels over `features` features,
    /// with borders on a grid of eighths (so that values land on them) and the NaN modes
    /// that do not refuse rows.
    fn ensemble(
        seed: u64,
        trees: usize,
        max_depth: usize,
        features: usize,
        width: usize,
    ) -> ObliviousEnsemble {
        let mut state = seed | 1;
        let mut next = move |n: usize| {
            // xorshift64: deterministic, and enough to vary the shapes.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let trees = (0..trees)
            .map(|_| {
                let depth = 1 + next(max_depth);
                ObliviousTree {
                    splits: (0..depth)
                        .map(|_| ObliviousSplit {
                            feature: next(features) as u32,
                            border: (next(640) as f32 - 320.0) / 8.0,
                        })
                        .collect(),
                    leaf_values: (0..(width << depth))
                        .map(|_| next(1 << 20) as f64 / 3.0 - 1e5)
                        .collect(),
                }
            })
            .collect();
        ObliviousEnsemble {
            num_features: features,
            nan_treatment: (0..features)
                .map(|f| {
                    if f % 2 == 0 {
                        NanTreatment::AsFalse
                    } else {
                        NanTreatment::AsTrue
                    }
                })
                .collect(),
            leaf_width: width,
            trees,
            scale: 0.5,
            bias: (0..width).map(|w| w as f64 - 0.25).collect(),
            link: Link::Identity,
        }
    }

    /// Scores `rows` (fewer than a block: the rest of the block is left over) on `isa` and
    /// checks each row against the reference.
    fn check_block<I: Isa>(isa: I, ensemble: &ObliviousEnsemble, rows: &Array2<f64>) {
        let engine = CompiledOblivious::compile(ensemble).expect("16-bit bins suffice");
        let width = ensemble.leaf_width;
        let mut buffers = Buffers::default();
        let mut out = vec![0.0; rows.nrows() * width];
        engine
            .score_block_on(isa, ensemble, rows.view(), &mut out, &mut buffers)
            .expect("no NaN mode refuses rows");
        let mut expected = vec![0.0; width];
        for (row, got) in rows.rows().into_iter().zip(out.chunks_exact(width)) {
            ensemble
                .raw_row(row.as_slice().expect("standard layout"), &mut expected)
                .expect("no NaN mode refuses rows");
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "row {row}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn the_portable_engine_equals_the_reference(
            seed in any::<u64>(),
            values in prop::collection::vec(value(), 4 * 100),
            wide_bins in any::<bool>(),
            deep in any::<bool>(),
            width in prop_oneof![Just(1usize), Just(3)],
        ) {
            // Over 255 borders on one feature takes 16-bit bins; over 8 levels, wide leaves.
            let trees = if wide_bins { 400 } else { 40 };
            let features = if wide_bins { 1 } else { 4 };
            let max_depth = if deep { 11 } else { 8 };
            let ensemble = ensemble(seed, trees, max_depth, features, width);
            let rows = Array2::from_shape_fn((100, features), |(r, c)| {
                f64::from(values[r * 4 + c])
            });
            check_block(Portable, &ensemble, &rows);
            #[cfg(target_arch = "x86_64")]
            if let Some(avx2) = Avx2::detect() {
                check_block(avx2, &ensemble, &rows);
            }
        }

        #[test]
        fn the_border_counts_agree_across_instruction_sets(
            values in prop::array::uniform32(value()),
            borders in prop::collection::vec(value(), 0..300),
        ) {
            let mut borders: Vec<f32> = borders.into_iter().filter(|b| !b.is_nan()).collect();
            borders.sort_by(f32::total_cmp);
            let portable = Portable.count_borders(&values, &borders);
            for (&count, &x) in portable.iter().zip(&values) {
                let below = borders.iter().filter(|&&b| x > b).count();
                prop_assert_eq!(count as usize, below);
            }
            #[cfg(target_arch = "x86_64")]
            if let Some(avx2) = Avx2::detect() {
                prop_assert_eq!(avx2.count_borders(&values, &borders), portable);
            }
        }
    }
}
