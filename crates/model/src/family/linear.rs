//! Linear models: regression, logistic regression, XGBoost's `gblinear`.

use serde::{Deserialize, Serialize};

use super::link::{Link, Precision};
use crate::error::{InvalidModel, PredictError};

/// What a missing input does to a linear model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearMissing {
    /// `NaN` makes the margin `NaN`.
    Propagate,
    /// A missing feature contributes nothing (XGBoost's `gblinear`).
    Skip,
    /// A missing input is an error ([`PredictError::MissingValue`]), as scikit-learn's linear
    /// models raise on `NaN`: a silent `NaN` prediction would hide the missing data.
    Reject,
}

/// `raw[k] = intercepts[k] + sum_j coefficients[k * num_features + j] * x[j]`, summed in
/// feature order in the model's precision, then the link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// The number of input features.
    pub num_features: usize,
    /// One row of `num_features` coefficients per raw output, row-major.
    pub coefficients: Vec<f64>,
    /// One intercept per raw output.
    pub intercepts: Vec<f64>,
    /// The arithmetic of the sum and the link.
    pub precision: Precision,
    /// What a missing input does.
    pub missing: LinearMissing,
    /// From margins to predictions.
    pub link: Link,
}

impl LinearModel {
    /// The number of raw outputs.
    pub fn raw_width(&self) -> usize {
        self.intercepts.len()
    }

    /// The margins of `row`; `index` is the row's place in the caller's batch, for errors.
    pub(crate) fn raw_row(
        &self,
        row: &[f64],
        index: usize,
        raw: &mut [f64],
    ) -> Result<(), PredictError> {
        if self.missing == LinearMissing::Reject
            && let Some(input) = row.iter().position(|x| x.is_nan())
        {
            return Err(PredictError::MissingValue { row: index, input });
        }
        let n = self.num_features;
        for (k, r) in raw.iter_mut().enumerate() {
            let coefficients = &self.coefficients[k * n..(k + 1) * n];
            let skip = self.missing == LinearMissing::Skip;
            *r = match self.precision {
                Precision::Double => {
                    let mut sum = self.intercepts[k];
                    for (&w, &x) in coefficients.iter().zip(row) {
                        if !(skip && x.is_nan()) {
                            sum += w * x;
                        }
                    }
                    sum
                }
                Precision::Single => {
                    let mut sum = self.intercepts[k] as f32;
                    for (&w, &x) in coefficients.iter().zip(row) {
                        if !(skip && x.is_nan()) {
                            sum += w as f32 * x as f32;
                        }
                    }
                    f64::from(sum)
                }
            };
        }
        Ok(())
    }

    /// Checks that the coefficients match the feature and output counts.
    pub fn validate(&self) -> Result<(), InvalidModel> {
        let expected = self.num_features * self.raw_width();
        if self.coefficients.len() != expected || self.intercepts.is_empty() {
            return Err(InvalidModel::Mismatch {
                what: "linear model coefficients (features x outputs, at least one output)".into(),
                expected,
                found: self.coefficients.len(),
            });
        }
        Ok(())
    }
}
