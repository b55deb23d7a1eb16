//! Hash indexes over a step's CTR tables, for the compiled path.
//!
//! A table keeps its keys sorted (that is what the model file stores and the reference
//! searches), but a model with combinations has hundreds of tables of up to tens of thousands
//! of keys, and a binary search per table and row is a dozen cache misses. Here each table's
//! keys go into an open-addressing hash table, so a lookup is a probe or two; the CTRs that
//! read one table (the same statistic with other priors) share its lookup; and rows go table
//! by table, a run of rows' slots fetched before they are probed, so the misses overlap.

use ndarray::ArrayView2;

use super::{Categorical, CtrTable};
use crate::error::PredictError;

/// The index of every table of a [`Categorical`] step, and which CTRs read each.
#[derive(Debug)]
pub(crate) struct CtrIndex {
    /// Each table once, with the CTRs that read it.
    tables: Vec<TableIndex>,
    /// The categorical features a row's columns read, in the order the reference first
    /// reads them: checked in this order, a missing one fails as in the reference.
    checks: Vec<u32>,
    /// Every distinct float split of the combinations (a float feature and a border): each
    /// row's bits are computed once, not once per table.
    float_splits: Vec<(u32, f32)>,
}

/// One table's hash index and its CTRs.
#[derive(Debug)]
struct TableIndex {
    /// The table, by index.
    table: u32,
    /// The CTRs that read it, by index.
    ctrs: Vec<u32>,
    /// Each of its combination's float splits, by index in [`CtrIndex::float_splits`].
    float_bits: Vec<u32>,
    /// `64 - log2(slots.len())`: a key's slot is the top bits of its mixed value.
    shift: u32,
    /// `(key, position in the table)`; [`EMPTY`] marks a free slot.
    slots: Vec<(u64, u32)>,
}

/// The position of a free slot.
const EMPTY: u32 = u32::MAX;

/// Fibonacci hashing's multiplier: spreads keys that differ in few bits over all slots.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl TableIndex {
    fn new(table: u32, keys: &[u64]) -> TableIndex {
        // At most half full, so a probe sequence stays short.
        let slots = (2 * keys.len()).next_power_of_two().max(2);
        let mut index = TableIndex {
            table,
            ctrs: Vec::new(),
            float_bits: Vec::new(),
            shift: 64 - slots.trailing_zeros(),
            slots: vec![(0, EMPTY); slots],
        };
        let mask = slots - 1;
        for (position, &key) in keys.iter().enumerate() {
            let mut slot = index.slot(key);
            while index.slots[slot].1 != EMPTY {
                slot = (slot + 1) & mask;
            }
            // Positions fit `u32`: 2^32 keys would take a model file of over 32 GB.
            index.slots[slot] = (key, position as u32);
        }
        index
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(MIX) >> self.shift) as usize
    }

    /// The position of `key` in the table, if it is there.
    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut slot = self.slot(key);
        // The table is never full, so the probe ends on a free slot.
        loop {
            let (found, position) = self.slots[slot];
            if position == EMPTY {
                return None;
            }
            if found == key {
                return Some(position as usize);
            }
            slot = (slot + 1) & mask;
        }
    }
}

impl CtrIndex {
    /// Indexes every table of `step`.
    pub(crate) fn new(step: &Categorical) -> CtrIndex {
        let mut order: Vec<Option<usize>> = vec![None; step.tables.len()];
        let mut tables: Vec<TableIndex> = Vec::new();
        for (c, ctr) in step.ctrs.iter().enumerate() {
            let t = ctr.table as usize;
            let at = *order[t].get_or_insert_with(|| {
                tables.push(TableIndex::new(ctr.table, &step.tables[t].keys));
                tables.len() - 1
            });
            tables[at].ctrs.push(c as u32);
        }
        // The reference hashes a row's categories as it needs them: the one-hot columns', then
        // each CTR's combination in turn. A missing category fails on its first use.
        let mut checks = Vec::new();
        let uses =
            step.one_hot
                .iter()
                .map(|&(category, _)| category)
                .chain(tables.iter().flat_map(|indexed| {
                    let combination = &step.tables[indexed.table as usize].combination;
                    let one_hot = combination.one_hot_splits.iter().map(|&(c, _)| c);
                    combination.categories.iter().copied().chain(one_hot)
                }));
        for category in uses {
            if !checks.contains(&category) {
                checks.push(category);
            }
        }
        let mut float_splits: Vec<(u32, f32)> = Vec::new();
        for indexed in &mut tables {
            let combination = &step.tables[indexed.table as usize].combination;
            for &(feature, border) in &combination.float_splits {
                let same = |&(f, b): &(u32, f32)| f == feature && b.to_bits() == border.to_bits();
                let at = float_splits.iter().position(same).unwrap_or_else(|| {
                    float_splits.push((feature, border));
                    float_splits.len() - 1
                });
                indexed.float_bits.push(at as u32);
            }
        }
        CtrIndex {
            tables,
            checks,
            float_splits,
        }
    }
}

/// Asks the processor to bring the cache line at `at` in: a hint, which never faults.
#[inline(always)]
fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch reads nothing and cannot fault, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Rows whose keys are computed and whose slots are fetched before any is probed, so that
/// their cache misses overlap.
const PROBE_ROWS: usize = 64;

impl Categorical {
    /// [`apply`](Categorical::apply) for every row of `features` into `out` (`rows x` the
    /// step's width), the tables looked up through `index`, built from this step: the same
    /// columns, and the same error for the first row with a missing category.
    ///
    /// It goes table by table rather than row by row: a model with combinations has hundreds
    /// of tables, most too large for the cache, so the keys of a run of rows are computed and
    /// their slots fetched before the first is probed. `hashes` is scratch space, for each
    /// row's category hashes and the bits of its float splits.
    pub(crate) fn apply_rows(
        &self,
        index: &CtrIndex,
        features: ArrayView2<'_, f64>,
        out: &mut [f64],
        hashes: &mut Vec<u32>,
    ) -> Result<(), PredictError> {
        let width = self.output_width();
        // A row's hashes, then its float splits' bits; at least one slot, so that every row
        // has its chunk.
        let splits = index.float_splits.len();
        let stride = (self.categories.len() + splits).max(1);
        hashes.clear();
        hashes.resize(features.nrows() * stride, 0);
        for (row, ((input, out), hashes)) in features
            .rows()
            .into_iter()
            .zip(out.chunks_exact_mut(width))
            .zip(hashes.chunks_exact_mut(stride))
            .enumerate()
        {
            let input = |column: u32| input[column as usize];
            self.apply_plain(input, out, row)?;
            for &category in &index.checks {
                let x = input(self.categories[category as usize]);
                hashes[category as usize] = self.category_of(x, category, row)?;
            }
            let bits = &mut hashes[self.categories.len()..];
            for (bit, &(feature, border)) in bits.iter_mut().zip(&index.float_splits) {
                // Output column k is float feature k.
                *bit = u32::from(self.float_bit(feature, border, out[feature as usize]));
            }
        }
        let ctr_start = self.floats.len() + self.one_hot.len();
        let mut keys = [0u64; PROBE_ROWS];
        let mut positions = [None; PROBE_ROWS];
        for indexed in &index.tables {
            let table: &CtrTable = &self.tables[indexed.table as usize];
            let mut first = 0;
            while first < features.nrows() {
                let rows = (features.nrows() - first).min(PROBE_ROWS);
                // The keys first, each row's slot fetched in turn.
                for (r, key) in keys[..rows].iter_mut().enumerate() {
                    let row = first + r;
                    let hashes = &hashes[row * stride..][..stride];
                    let bits = &hashes[self.categories.len()..];
                    // Every category was checked above: this cannot fail.
                    *key = self.key(
                        &table.combination,
                        |split| bits[indexed.float_bits[split] as usize] != 0,
                        |category| Ok(hashes[category as usize]),
                    )?;
                    prefetch(indexed.slots[indexed.slot(*key)..].as_ptr());
                }
                // Then the positions, each row's statistics fetched in turn.
                for (key, position) in keys[..rows].iter().zip(&mut positions) {
                    *position = indexed.find(*key);
                    if let Some(position) = *position {
                        prefetch(table.statistics(position).as_ptr());
                    }
                }
                for (r, &position) in positions[..rows].iter().enumerate() {
                    let found = position.map(|p| table.statistics(p));
                    let ctrs = &mut out[(first + r) * width + ctr_start..][..self.ctrs.len()];
                    for &c in &indexed.ctrs {
                        ctrs[c as usize] = f64::from(self.ctrs[c as usize].value(table, found));
                    }
                }
                first += rows;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn a_table_index_finds_what_a_binary_search_finds(
            keys in prop::collection::btree_set(any::<u64>(), 0..300),
            // Keys that differ only in their high or low bits, which the slot must spread.
            stride in prop_oneof![Just(1u64), Just(1 << 32), Just(1 << 58)],
            probes in prop::collection::vec(any::<u64>(), 50),
        ) {
            let mut keys: Vec<u64> = keys.into_iter().collect();
            keys.extend((0..40u64).map(|i| i.wrapping_mul(stride)));
            keys.sort_unstable();
            keys.dedup();
            let index = TableIndex::new(0, &keys);
            for key in keys.iter().copied().chain(probes).chain([0, u64::MAX]) {
                prop_assert_eq!(index.find(key), keys.binary_search(&key).ok(), "key {}", key);
            }
        }
    }
}
