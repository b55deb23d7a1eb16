//! Oblivious (symmetric) trees, as CatBoost grows them by default.
//!
//! Every level of an oblivious tree tests one condition, the same for all the nodes of that
//! level, so a tree of depth `d` is `d` splits and `2^d` leaves: split `l` decides bit `l` of
//! the leaf index. CatBoost compares its input in `f32` (`x > border` sets the bit) and says
//! per feature what a missing value does ([`NanTreatment`]). Margins are the trees' sum in
//! tree order, in `f64`, then `scale * sum + bias`.
//!
//! `ObliviousEnsemble::raw_row` is the reference, one split at a time; the compiled engine
//! (the crate's `predict::oblivious`) binarises each feature once per row and must equal it
//! bit for bit.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::link::Link;
use crate::error::InvalidModel;

/// What a missing value (`NaN`) does at every split on one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NanTreatment {
    /// `NaN` is below every border: no bit is set (CatBoost's `AsFalse`, `nan_mode=Min`, and
    /// `AsIs`, where `NaN > border` is false).
    AsFalse,
    /// `NaN` is above every border: every bit is set (`AsTrue`, `nan_mode=Max`).
    AsTrue,
    /// The model was trained with `nan_mode=Forbidden`: a missing value is an error.
    Forbidden,
}

/// One level of an oblivious tree: bit set when `(x as f32) > border`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObliviousSplit {
    /// The input feature.
    pub feature: u32,
    /// The border, an `f32` as CatBoost stores it.
    pub border: f32,
}

impl ObliviousSplit {
    /// True when the split sets its bit for `x` (not `NaN`).
    #[inline]
    pub fn is_set(self, x: f64) -> bool {
        (x as f32) > self.border
    }
}

/// One oblivious tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObliviousTree {
    /// The splits, level by level: split `l` decides bit `l` of the leaf index.
    pub splits: Vec<ObliviousSplit>,
    /// `leaf_width` values per leaf, `2^depth` leaves.
    pub leaf_values: Vec<f64>,
}

/// An ensemble of oblivious trees over numeric features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObliviousEnsemble {
    /// The number of input features.
    pub num_features: usize,
    /// What a missing value does, per input feature.
    pub nan_treatment: Vec<NanTreatment>,
    /// Values per leaf: the number of raw outputs.
    pub leaf_width: usize,
    /// The trees, in the order their outputs are summed.
    pub trees: Vec<ObliviousTree>,
    /// The factor of the trees' sum.
    pub scale: f64,
    /// Added to each raw output after scaling, one per output.
    pub bias: Vec<f64>,
    /// From margins to predictions.
    pub link: Link,
}

/// The deepest oblivious tree accepted: CatBoost's own limit is 16.
pub const MAX_DEPTH: usize = 16;

impl ObliviousEnsemble {
    /// The number of raw outputs.
    pub fn raw_width(&self) -> usize {
        self.leaf_width
    }

    /// The leaf that `row` reaches in `tree`, or the input feature that is missing where the
    /// model forbids it.
    #[inline]
    pub fn leaf_index(&self, tree: &ObliviousTree, row: &[f64]) -> Result<usize, u32> {
        let mut index = 0usize;
        for (level, split) in tree.splits.iter().enumerate() {
            let x = row[split.feature as usize];
            let set = if x.is_nan() {
                match self.nan_treatment[split.feature as usize] {
                    NanTreatment::AsFalse => false,
                    NanTreatment::AsTrue => true,
                    NanTreatment::Forbidden => return Err(split.feature),
                }
            } else {
                split.is_set(x)
            };
            index |= usize::from(set) << level;
        }
        Ok(index)
    }

    /// Writes the raw margins of `row` into `raw`, or gives the input feature that is missing
    /// where the model forbids it.
    pub(crate) fn raw_row(&self, row: &[f64], raw: &mut [f64]) -> Result<(), u32> {
        raw.fill(0.0);
        let width = self.leaf_width;
        for tree in &self.trees {
            let leaf = self.leaf_index(tree, row)?;
            let values = &tree.leaf_values[leaf * width..(leaf + 1) * width];
            for (r, v) in raw.iter_mut().zip(values) {
                *r += v;
            }
        }
        self.scale_and_bias(raw);
        Ok(())
    }

    /// Writes the raw margins of every row of `features` into `raw` (`rows x raw_width`,
    /// row-major), or gives the row and input feature of a missing value the model forbids.
    pub(crate) fn raw_rows(
        &self,
        features: ArrayView2<'_, f64>,
        raw: &mut [f64],
    ) -> Result<(), (usize, u32)> {
        let mut copy = Vec::new();
        for (index, (row, raw)) in features
            .rows()
            .into_iter()
            .zip(raw.chunks_exact_mut(self.leaf_width))
            .enumerate()
        {
            let row = match row.as_slice() {
                Some(row) => row,
                None => {
                    copy.clear();
                    copy.extend(row.iter());
                    &copy
                }
            };
            self.raw_row(row, raw).map_err(|input| (index, input))?;
        }
        Ok(())
    }

    /// `scale * sum + bias`, as CatBoost finishes its sums.
    #[inline]
    pub(crate) fn scale_and_bias(&self, raw: &mut [f64]) {
        for (r, b) in raw.iter_mut().zip(&self.bias) {
            *r = *r * self.scale + b;
        }
    }

    /// Checks every size and index, so that prediction cannot go out of range.
    pub fn validate(&self) -> Result<(), InvalidModel> {
        if self.leaf_width == 0 || self.bias.len() != self.leaf_width {
            return Err(InvalidModel::Mismatch {
                what: "oblivious trees: bias values (one per raw output, at least one)".into(),
                expected: self.leaf_width.max(1),
                found: self.bias.len(),
            });
        }
        if self.nan_treatment.len() != self.num_features {
            return Err(InvalidModel::Mismatch {
                what: "oblivious trees: missing-value treatments (one per feature)".into(),
                expected: self.num_features,
                found: self.nan_treatment.len(),
            });
        }
        if !self.scale.is_finite() {
            return Err(InvalidModel::BadValue {
                what: "the scale of the trees' sum".into(),
                requirement: "finite",
                value: self.scale,
            });
        }
        for (t, tree) in self.trees.iter().enumerate() {
            let depth = tree.splits.len();
            if depth > MAX_DEPTH {
                return Err(InvalidModel::TooLarge {
                    what: format!("the depth of oblivious tree {t}"),
                    found: depth as u64,
                    limit: MAX_DEPTH as u64,
                });
            }
            let leaves = (1usize << depth) * self.leaf_width;
            if tree.leaf_values.len() != leaves {
                return Err(InvalidModel::Mismatch {
                    what: format!("oblivious tree {t}: leaf values (2^depth x outputs)"),
                    expected: leaves,
                    found: tree.leaf_values.len(),
                });
            }
            for (level, split) in tree.splits.iter().enumerate() {
                if split.feature as usize >= self.num_features {
                    return Err(InvalidModel::FeatureOutOfRange {
                        tree: t,
                        node: level,
                        feature: split.feature,
                        features: self.num_features,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ensemble(nan: NanTreatment) -> ObliviousEnsemble {
        ObliviousEnsemble {
            num_features: 2,
            nan_treatment: vec![nan, NanTreatment::AsFalse],
            leaf_width: 1,
            trees: vec![ObliviousTree {
                splits: vec![
                    ObliviousSplit {
                        feature: 0,
                        border: 0.5,
                    },
                    ObliviousSplit {
                        feature: 1,
                        border: 0.1,
                    },
                ],
                leaf_values: vec![1.0, 2.0, 4.0, 8.0],
            }],
            scale: 2.0,
            bias: vec![0.25],
            link: Link::Identity,
        }
    }

    fn raw(model: &ObliviousEnsemble, row: [f64; 2]) -> Result<f64, u32> {
        let mut raw = [0.0];
        model.raw_row(&row, &mut raw)?;
        Ok(raw[0])
    }

    #[test]
    fn the_first_split_is_the_low_bit_and_scale_and_bias_come_last() {
        let model = ensemble(NanTreatment::AsFalse);
        assert_eq!(raw(&model, [0.0, 0.0]).unwrap(), 2.25);
        assert_eq!(raw(&model, [1.0, 0.0]).unwrap(), 4.25);
        assert_eq!(raw(&model, [0.0, 1.0]).unwrap(), 8.25);
        assert_eq!(raw(&model, [1.0, 1.0]).unwrap(), 16.25);
        // A value at the border does not set the bit.
        assert_eq!(raw(&model, [0.5, 0.0]).unwrap(), 2.25);
    }

    #[test]
    fn features_are_compared_in_f32() {
        let model = ensemble(NanTreatment::AsFalse);
        // 0.1f64 is below 0.1f32, but equal to it once cast: the bit stays clear.
        assert!(0.1 < f64::from(0.1f32));
        assert_eq!(raw(&model, [0.0, f64::from(0.1f32)]).unwrap(), 2.25);
        let above = f64::from(f32::from_bits(0.1f32.to_bits() + 1));
        assert_eq!(raw(&model, [0.0, above]).unwrap(), 8.25);
    }

    #[test]
    fn missing_values_follow_the_feature_treatment() {
        assert_eq!(
            raw(&ensemble(NanTreatment::AsFalse), [f64::NAN, 0.0]).unwrap(),
            2.25
        );
        assert_eq!(
            raw(&ensemble(NanTreatment::AsTrue), [f64::NAN, 0.0]).unwrap(),
            4.25
        );
        assert_eq!(
            raw(&ensemble(NanTreatment::Forbidden), [f64::NAN, 0.0]),
            Err(0)
        );
    }

    #[test]
    fn validation_names_the_tree_and_the_field() {
        let mut model = ensemble(NanTreatment::AsFalse);
        model.trees[0].leaf_values.pop();
        let message = model.validate().unwrap_err().to_string();
        assert!(
            message.contains("oblivious tree 0: leaf values"),
            "{message}"
        );
        let mut model = ensemble(NanTreatment::AsFalse);
        model.trees[0].splits[1].feature = 7;
        assert!(matches!(
            model.validate(),
            Err(InvalidModel::FeatureOutOfRange {
                tree: 0,
                node: 1,
                feature: 7,
                ..
            })
        ));
    }
}
