//! The outputs a model can produce ([`Output`]) and the buffer one is written into
//! ([`OutputSlot`]): plain data at the bottom of the crate, which the error type, the
//! signature and the [`Model`](crate::Model) trait all name without naming each other.

use std::fmt;
use std::str::FromStr;

use ndarray::ArrayViewMut2;
use serde::{Deserialize, Serialize};

/// One of the outputs a model can produce, named as MLServer names them.
///
/// The width of each output (its number of columns) comes from
/// [`Signature::output_width`](crate::Signature::output_width); its column names from
/// [`Signature::output_columns`](crate::Signature::output_columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// The prediction: the value for regression and ranking, one value per target for
    /// multi-output models, and the class *index* for classifiers (look the label up with
    /// [`Signature::class_label`](crate::Signature::class_label)).
    Predict,
    /// Class probabilities, one column per class, in the order of the signature's classes.
    PredictProba,
    /// The margin before the link function: log-odds, per-class scores, the untransformed sum
    /// of the trees.
    Raw,
    /// Exact per-feature contributions to the raw margin (TreeSHAP for trees,
    /// `coefficient * x` for linear models): for each raw output, one column per feature and
    /// a bias column, adding up to that output's [`Raw`](Output::Raw) margin. Only models
    /// that can be explained have it (see
    /// [`Signature::output_width`](crate::Signature::output_width)).
    Contribs,
}

impl Output {
    /// Every output, in a stable order.
    pub const ALL: [Output; 4] = [
        Output::Predict,
        Output::PredictProba,
        Output::Raw,
        Output::Contribs,
    ];

    /// The protocol name: `predict`, `predict_proba`, `raw` or `contribs`.
    pub fn name(self) -> &'static str {
        match self {
            Output::Predict => "predict",
            Output::PredictProba => "predict_proba",
            Output::Raw => "raw",
            Output::Contribs => "contribs",
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
#[error("unknown output `{0}` (expected predict, predict_proba, raw or contribs)")]
pub struct UnknownOutput(pub String);

impl FromStr for Output {
    type Err = UnknownOutput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "predict" => Ok(Output::Predict),
            "predict_proba" | "proba" => Ok(Output::PredictProba),
            "raw" => Ok(Output::Raw),
            "contribs" => Ok(Output::Contribs),
            other => Err(UnknownOutput(other.to_owned())),
        }
    }
}

/// One requested output and the buffer it is written into.
///
/// `out` must be `rows x`
/// [`Signature::output_width`](crate::Signature::output_width)`(output)`; rows may be strided (a
/// column-major or sliced view works).
#[derive(Debug)]
pub struct OutputSlot<'a> {
    /// The output to write.
    pub output: Output,
    /// Where to write it.
    pub out: ArrayViewMut2<'a, f64>,
}

impl<'a> OutputSlot<'a> {
    /// A slot for `output` writing into `out`.
    pub fn new(output: Output, out: ArrayViewMut2<'a, f64>) -> Self {
        OutputSlot { output, out }
    }
}
