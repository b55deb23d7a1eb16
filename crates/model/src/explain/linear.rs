//! Contributions of a linear model: `coefficient * (x - reference)` per feature, with the
//! reference `0` and the intercept as the bias.
//!
//! That is XGBoost's `gblinear` rule for `pred_contribs` (a missing feature contributes
//! nothing, and the bias holds the intercept, base score included). scikit-learn has no
//! contributions of its own; `shap.LinearExplainer` would subtract the training mean, which a
//! fitted estimator does not keep, so Verdict uses `0` for every library: the contributions
//! then add up to the margin exactly, and subtracting a mean of your own is
//! `coefficient * mean` per feature, moved into the bias.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::error::PredictError;
use crate::family::linear::{LinearMissing, LinearModel};

/// Writes the contributions of every row (`out` is `rows x raw_width * (features + 1)`).
pub(crate) fn contribs_into(
    model: &LinearModel,
    features: ArrayView2<'_, f64>,
    mut out: ArrayViewMut2<'_, f64>,
) -> Result<(), PredictError> {
    let n = model.num_features;
    for (index, (row, mut dst)) in features.rows().into_iter().zip(out.rows_mut()).enumerate() {
        if model.missing == LinearMissing::Reject
            && let Some(input) = row.iter().position(|x| x.is_nan())
        {
            return Err(PredictError::MissingValue { row: index, input });
        }
        for (k, &intercept) in model.intercepts.iter().enumerate() {
            let coefficients = &model.coefficients[k * n..(k + 1) * n];
            let base = k * (n + 1);
            for (j, (&w, &x)) in coefficients.iter().zip(row.iter()).enumerate() {
                dst[base + j] = if x.is_nan() && model.missing == LinearMissing::Skip {
                    0.0
                } else {
                    w * x
                };
            }
            dst[base + n] = intercept;
        }
    }
    Ok(())
}
