//! The [`Model`] trait: what every model Verdict serves can do.

use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

use crate::error::PredictError;
use crate::signature::Signature;

/// One of the outputs a model can produce, named as MLServer names them.
///
/// The width of each output (its number of columns) comes from
/// [`Signature::output_width`]; its column names from [`Signature::output_columns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// The prediction: the value for regression and ranking, one value per target for
    /// multi-output models, and the class *index* for classifiers (look the label up with
    /// [`Signature::class_label`]).
    Predict,
    /// Class probabilities, one column per class, in the order of the signature's classes.
    PredictProba,
    /// The margin before the link function: log-odds, per-class scores, the untransformed sum
    /// of the trees.
    Raw,
}

impl Output {
    /// Every output, in a stable order.
    pub const ALL: [Output; 3] = [Output::Predict, Output::PredictProba, Output::Raw];

    /// The protocol name: `predict`, `predict_proba` or `raw`.
    pub fn name(self) -> &'static str {
        match self {
            Output::Predict => "predict",
            Output::PredictProba => "predict_proba",
            Output::Raw => "raw",
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an [`Output`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output `{0}` (expected predict, predict_proba or raw)")]
pub struct UnknownOutput(pub String);

impl FromStr for Output {
    type Err = UnknownOutput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "predict" => Ok(Output::Predict),
            "predict_proba" | "proba" => Ok(Output::PredictProba),
            "raw" => Ok(Output::Raw),
            other => Err(UnknownOutput(other.to_owned())),
        }
    }
}

/// A trained model that predicts from rows of numeric features.
///
/// A model is a pure function of its input: it holds no per-call state, so one instance is
/// shared by every thread as `Arc<dyn Model>`. Its [`Signature`] says which features it takes,
/// in which order, and which outputs it produces.
///
/// Input is a 2-D view, rows x features, in any memory layout. `NaN` is a missing value.
/// Categorical features arrive as category codes: the position of the category in the
/// signature's list (see [`Signature::encode_category`]).
///
/// Only [`signature`](Model::signature) and [`predict_into`](Model::predict_into) are required.
///
/// # Example: a model of your own
///
/// ```
/// use ndarray::{array, ArrayView2, ArrayViewMut2};
/// use verdict_model::{Feature, Model, Output, PredictError, Signature, Task};
///
/// /// Predicts the sum of its two features.
/// #[derive(Debug)]
/// struct Sum(Signature);
///
/// impl Model for Sum {
///     fn signature(&self) -> &Signature {
///         &self.0
///     }
///
///     fn predict_into(
///         &self,
///         features: ArrayView2<'_, f64>,
///         output: Output,
///         mut out: ArrayViewMut2<'_, f64>,
///     ) -> Result<(), PredictError> {
///         self.0.check_shapes(&features, output, &out)?;
///         for (row, mut dst) in features.rows().into_iter().zip(out.rows_mut()) {
///             dst[0] = row.sum();
///         }
///         Ok(())
///     }
/// }
///
/// let model = Sum(Signature::new(
///     vec![Feature::numeric("a"), Feature::numeric("b")],
///     Task::Regression,
/// ));
/// let prediction = model.predict(array![[1.0, 2.0], [3.0, 4.0]].view(), Output::Predict)?;
/// assert_eq!(prediction, array![[3.0], [7.0]]);
/// # Ok::<(), PredictError>(())
/// ```
pub trait Model: Send + Sync + fmt::Debug {
    /// What the model takes and produces.
    fn signature(&self) -> &Signature;

    /// Writes `output` for every row of `features` into `out`, which must be
    /// `features.nrows()` x [`Signature::output_width`].
    ///
    /// Implementations do not allocate per row; Verdict's own families do not allocate at all
    /// once a thread has scored its first block.
    fn predict_into(
        &self,
        features: ArrayView2<'_, f64>,
        output: Output,
        out: ArrayViewMut2<'_, f64>,
    ) -> Result<(), PredictError>;

    /// Like [`predict_into`](Model::predict_into), into a new array.
    fn predict(
        &self,
        features: ArrayView2<'_, f64>,
        output: Output,
    ) -> Result<Array2<f64>, PredictError> {
        let width = self.signature().require_output(output)?;
        let mut out = Array2::zeros((features.nrows(), width));
        self.predict_into(features, output, out.view_mut())?;
        Ok(out)
    }
}
