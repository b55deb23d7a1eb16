//! CatBoost's categorical features: the columns its trees split on, computed from category
//! hashes.
//!
//! A CatBoost model does not know its categories by name. Each category value is hashed
//! ([`category_hash`]), and the trees split on columns derived from those hashes:
//!
//! - **one-hot** columns, `1.0` where a feature's hash equals one value the model stores;
//! - **CTR** columns, a statistic of the training targets looked up by the hash of a
//!   *combination* (some categorical features, and maybe the bits of float or one-hot splits),
//!   computed in `f32` exactly as CatBoost's `TModelCtr::Calc` does.
//!
//! [`Categorical`] is a preprocessing step ([`Step::CatBoostCategorical`](super::preprocess::Step))
//! that turns a row of float values and category hashes into the float values, the one-hot
//! columns and the CTR columns; an ordinary [`ObliviousEnsemble`](super::oblivious::ObliviousEnsemble)
//! then splits on them. `docs/formats/catboost-categorical.md` gives CatBoost's rules and
//! their sources.

mod hash;
mod index;

pub(crate) use index::CtrIndex;

use serde::{Deserialize, Serialize};

use super::oblivious::NanTreatment;
use crate::error::{InvalidModel, PredictError};

/// The hash CatBoost gives the category `text`: the low 32 bits of CityHash64 (version 1.0) of
/// its UTF-8 bytes. Front ends pass it to the model as the feature's value.
///
/// ```
/// use verdict_model::family::ctr::category_hash;
///
/// assert_eq!(category_hash(""), 797_982_799);
/// ```
pub fn category_hash(text: &str) -> u32 {
    hash::cat_feature_hash(text.as_bytes())
}

/// The hash of an integer category: CatBoost hashes the integer's decimal text.
///
/// ```
/// use verdict_model::family::ctr::{category_hash, integer_category_hash};
///
/// assert_eq!(integer_category_hash(-5), category_hash("-5"));
/// ```
pub fn integer_category_hash(value: i64) -> u32 {
    hash::cat_feature_hash_i64(value)
}

/// The hash of a numeric cell of a categorical column: an integral value hashes as its
/// integer; `None` for a missing value or a fraction, which have no CatBoost category.
pub fn number_category_hash(value: f64) -> Option<u32> {
    // Exactly representable integers only: beyond 2^63 the decimal text is ambiguous.
    let integral = value.fract() == 0.0 && value.abs() < 9.223_372_036_854_775e18;
    integral.then(|| integer_category_hash(value as i64))
}

/// What a CTR counts, CatBoost's `ECtrType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtrKind {
    /// Counts per target class; the share of classes above the target border.
    Borders,
    /// Counts per target class; the share of one class.
    Buckets,
    /// A sum of binarised targets and a count: their mean.
    BinarizedTargetMeanValue,
    /// A sum of targets and a count: their mean.
    FloatTargetMeanValue,
    /// How often the combination occurs, against the most frequent one.
    Counter,
    /// Like [`Counter`](CtrKind::Counter), over the training data only.
    FeatureFreq,
}

/// The features whose values, hashed together, key a CTR table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Combination {
    /// Categorical features, by their index among the step's categorical inputs.
    pub categories: Vec<u32>,
    /// Float splits: a float feature (by its index among the step's float inputs) and a
    /// border; the bit is `(x as f32) > border`, a missing value per the feature's treatment.
    pub float_splits: Vec<(u32, f32)>,
    /// One-hot splits: a categorical feature and a hash; the bit is `hash == value`.
    pub one_hot_splits: Vec<(u32, i32)>,
}

/// One CTR table: the statistics of each combination value seen in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CtrTable {
    /// What the keys hash.
    pub combination: Combination,
    /// What the statistics are.
    pub kind: CtrKind,
    /// The keys, strictly increasing.
    pub keys: Vec<u64>,
    /// `stride` statistics per key: class counts (`Borders`, `Buckets`), a sum and a count
    /// (the mean kinds) or one count (`Counter`, `FeatureFreq`), as CatBoost stores them.
    pub stats: Vec<f32>,
    /// The statistics per key.
    pub stride: u32,
    /// The count a `Counter` divides by (the largest count).
    pub counter_denominator: f32,
}

/// One CTR column: a table's statistic, with priors, shift and scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ctr {
    /// The table, by index.
    pub table: u32,
    /// The target class or border the statistic is about (`Borders`, `Buckets`).
    pub target_border: u32,
    /// Added to the numerator.
    pub prior_numerator: f32,
    /// Added to the denominator.
    pub prior_denominator: f32,
    /// Added to the ratio.
    pub shift: f32,
    /// Multiplies the shifted ratio.
    pub scale: f32,
}

/// The preprocessing step: float values and category hashes in; the float values, one-hot
/// columns and CTR columns out, in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Categorical {
    /// The input column of each float feature; output column `k` is float feature `k`.
    pub floats: Vec<u32>,
    /// How each float feature treats a missing value, for the float splits of combinations.
    pub float_nan: Vec<NanTreatment>,
    /// The input column of each categorical feature (its hash, as a number).
    pub categories: Vec<u32>,
    /// Each categorical feature's name, for errors.
    pub category_names: Vec<String>,
    /// The one-hot columns: a categorical feature and the hash that sets it.
    pub one_hot: Vec<(u32, i32)>,
    /// The CTR columns.
    pub ctrs: Vec<Ctr>,
    /// The tables the CTRs read.
    pub tables: Vec<CtrTable>,
}

/// The most categorical features, CTRs and tables one step may have.
const MAX_ITEMS: usize = 1 << 20;

impl Categorical {
    /// The number of output columns.
    pub fn output_width(&self) -> usize {
        self.floats.len() + self.one_hot.len() + self.ctrs.len()
    }

    /// Checks the step against `input` columns, so that applying it cannot fail on an index.
    pub fn validate(&self, input: usize) -> Result<(), InvalidModel> {
        let mismatch = |what: &str, expected: usize, found: usize| InvalidModel::Mismatch {
            what: format!("CatBoost categorical step: {what}"),
            expected,
            found,
        };
        if self.float_nan.len() != self.floats.len() {
            return Err(mismatch(
                "missing-value treatments per float feature",
                self.floats.len(),
                self.float_nan.len(),
            ));
        }
        if self.category_names.len() != self.categories.len() {
            return Err(mismatch(
                "names per categorical feature",
                self.categories.len(),
                self.category_names.len(),
            ));
        }
        for &column in self.floats.iter().chain(&self.categories) {
            if column as usize >= input {
                return Err(mismatch("an input column", input, column as usize + 1));
            }
        }
        let categories = self.categories.len();
        let in_range = |what: &str, index: u32, len: usize| {
            if (index as usize) < len {
                Ok(())
            } else {
                Err(mismatch(what, len, index as usize + 1))
            }
        };
        for &(category, _) in &self.one_hot {
            in_range(
                "a one-hot column's categorical feature",
                category,
                categories,
            )?;
        }
        if let Some(&found) = [self.ctrs.len(), self.tables.len(), categories]
            .iter()
            .find(|&&n| n > MAX_ITEMS)
        {
            return Err(InvalidModel::TooLarge {
                what: "the CTRs, tables or categorical features of a CatBoost step".into(),
                found: found as u64,
                limit: MAX_ITEMS as u64,
            });
        }
        for ctr in &self.ctrs {
            in_range("a CTR's table", ctr.table, self.tables.len())?;
            let table = &self.tables[ctr.table as usize];
            let needed = match table.kind {
                CtrKind::Borders | CtrKind::Buckets => ctr.target_border as usize + 1,
                _ => 0,
            };
            if needed > table.stride as usize {
                return Err(mismatch(
                    "a CTR's target border",
                    table.stride as usize,
                    needed,
                ));
            }
        }
        for table in &self.tables {
            let combination = &table.combination;
            for &c in &combination.categories {
                in_range("a combination's categorical feature", c, categories)?;
            }
            for &(c, _) in &combination.one_hot_splits {
                in_range("a combination's one-hot feature", c, categories)?;
            }
            for &(f, _) in &combination.float_splits {
                in_range("a combination's float feature", f, self.floats.len())?;
            }
            let minimum = match table.kind {
                CtrKind::BinarizedTargetMeanValue | CtrKind::FloatTargetMeanValue => 2,
                _ => 1,
            };
            if (table.stride as usize) < minimum
                || table.stats.len() != table.keys.len() * table.stride as usize
            {
                return Err(mismatch(
                    "a CTR table's statistics",
                    table.keys.len() * (table.stride as usize).max(minimum),
                    table.stats.len(),
                ));
            }
            if table.keys.windows(2).any(|w| w[0] >= w[1]) {
                return Err(InvalidModel::BadValue {
                    what: "a CTR table's keys".into(),
                    requirement: "strictly increasing",
                    value: f64::NAN,
                });
            }
        }
        Ok(())
    }

    /// Computes one row's output columns into `out`; a missing category (a `NaN` where a
    /// hash belongs) is an error naming the row and the feature.
    pub(crate) fn apply(
        &self,
        input: &[f64],
        out: &mut [f64],
        row: usize,
    ) -> Result<(), PredictError> {
        let ctrs = self.apply_plain(|column| input[column as usize], out, row)?;
        let hash = |category: u32| self.category(input, category, row);
        for (o, ctr) in ctrs.iter_mut().zip(&self.ctrs) {
            let table = &self.tables[ctr.table as usize];
            let float_bit = |split: usize| {
                let (feature, border) = table.combination.float_splits[split];
                self.float_bit(
                    feature,
                    border,
                    input[self.floats[feature as usize] as usize],
                )
            };
            let key = self.key(&table.combination, float_bit, hash)?;
            *o = f64::from(ctr.value(table, table.find(key)));
        }
        Ok(())
    }

    /// Writes a row's float and one-hot columns, and returns its CTR columns, still to fill.
    /// `input(c)` is the row's value in input column `c`.
    fn apply_plain<'a>(
        &self,
        input: impl Fn(u32) -> f64,
        out: &'a mut [f64],
        row: usize,
    ) -> Result<&'a mut [f64], PredictError> {
        let (floats, rest) = out.split_at_mut(self.floats.len());
        let (one_hot, ctrs) = rest.split_at_mut(self.one_hot.len());
        for (o, &column) in floats.iter_mut().zip(&self.floats) {
            *o = input(column);
        }
        for (o, &(category, value)) in one_hot.iter_mut().zip(&self.one_hot) {
            let hash =
                self.category_of(input(self.categories[category as usize]), category, row)?;
            *o = f64::from(u8::from(hash as i32 == value));
        }
        Ok(ctrs)
    }

    /// The hash of categorical feature `category` in a row. The front ends give a hash, a
    /// whole number below 2^32; anything else (NaN, a missing value) is not a category.
    #[inline]
    fn category(&self, input: &[f64], category: u32, row: usize) -> Result<u32, PredictError> {
        self.category_of(
            input[self.categories[category as usize] as usize],
            category,
            row,
        )
    }

    /// [`category`](Self::category) from the input value `x` of the feature.
    #[inline]
    fn category_of(&self, x: f64, category: u32, row: usize) -> Result<u32, PredictError> {
        if x >= 0.0 && x <= f64::from(u32::MAX) && x.fract() == 0.0 {
            Ok(x as u32)
        } else {
            Err(PredictError::MissingCategory {
                row,
                feature: self.category_names[category as usize].clone(),
            })
        }
    }

    /// The key of a row's combination (`CalcHashes` in CatBoost's `ctr_provider.h`).
    /// `float_bit(i)` is the bit of the combination's float split `i`, and `hash(c)`
    /// categorical feature `c`'s hash.
    #[inline]
    fn key(
        &self,
        combination: &Combination,
        float_bit: impl Fn(usize) -> bool,
        hash: impl Fn(u32) -> Result<u32, PredictError>,
    ) -> Result<u64, PredictError> {
        let mut key = 0u64;
        for &category in &combination.categories {
            key = hash::combine(key, hash::cat_hash_for_key(hash(category)?));
        }
        for split in 0..combination.float_splits.len() {
            key = hash::combine(key, u64::from(float_bit(split)));
        }
        for &(category, value) in &combination.one_hot_splits {
            let bit = hash(category)? as i32 == value;
            key = hash::combine(key, u64::from(bit));
        }
        Ok(key)
    }

    /// The bit of a combination's split of float feature `feature` at `border` for the
    /// value `x`: `(x as f32) > border`, a missing value per the feature's treatment.
    #[inline]
    fn float_bit(&self, feature: u32, border: f32, x: f64) -> bool {
        if x.is_nan() {
            self.float_nan[feature as usize] == NanTreatment::AsTrue
        } else {
            (x as f32) > border
        }
    }
}

impl CtrTable {
    /// The statistics of `key`, if training saw it.
    fn find(&self, key: u64) -> Option<&[f32]> {
        self.keys
            .binary_search(&key)
            .ok()
            .map(|position| self.statistics(position))
    }

    /// The statistics of the key at `position`.
    #[inline]
    fn statistics(&self, position: usize) -> &[f32] {
        let stride = self.stride as usize;
        &self.stats[position * stride..][..stride]
    }
}

impl Ctr {
    /// The CTR value from its table's statistics for a row's key, `None` when training never
    /// saw the key (`TModelCtr::Calc`): every operation in `f32`, as CatBoost.
    fn value(&self, table: &CtrTable, found: Option<&[f32]>) -> f32 {
        let stride = table.stride as usize;
        // Counts are whole numbers; their sums are exact in `f32` below 2^24, as CatBoost's
        // integer sums converted to `f32` are.
        let sum = |counts: &[f32]| counts.iter().map(|&c| f64::from(c)).sum::<f64>() as f32;
        let (good, total) = match (table.kind, found) {
            (CtrKind::Counter | CtrKind::FeatureFreq, found) => {
                (found.map_or(0.0, |s| s[0]), table.counter_denominator)
            }
            (_, None) => (0.0, 0.0),
            (CtrKind::BinarizedTargetMeanValue | CtrKind::FloatTargetMeanValue, Some(s)) => {
                (s[0], s[1])
            }
            (CtrKind::Buckets, Some(s)) => (s[self.target_border as usize], sum(s)),
            (CtrKind::Borders, Some(s)) if stride <= 2 => (s[stride - 1], sum(s)),
            (CtrKind::Borders, Some(s)) => (sum(&s[self.target_border as usize + 1..]), sum(s)),
        };
        let ratio = (good + self.prior_numerator) / (total + self.prior_denominator);
        (ratio + self.shift) * self.scale
    }
}
