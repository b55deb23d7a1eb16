//! The scikit-learn importer: the versioned JSON that the Python package's exporter
//! (`verdict.export_sklearn`, the `verdict-export` command) writes from a fitted estimator
//! (never a pickle), translated into native models that predict what scikit-learn predicts.
//!
//! A document goes through three steps: `serde_json` reads it into the exact mirror of its
//! schema in the `schema` module; the `convert` module checks it and translates transformers
//! into preprocessing steps and the final estimator into a linear model or a tree ensemble;
//! [`NativeModel::new`](crate::NativeModel::new) validates the result like any model file.
//! `docs/formats/sklearn.md` specifies the JSON and says what is supported.
//!
//! Exactness comes from following scikit-learn's arithmetic: its trees cast the input to `f32`
//! and compare `x <= threshold` against `f64` thresholds, HistGradientBoosting compares in
//! `f64`, forests average class fractions summed in tree order, GradientBoosting adds
//! `learning_rate * leaf` to the exported initial raw score, and scalers divide rather than
//! multiply by a reciprocal.
//!
//! # Example
//!
//! ```
//! use ndarray::array;
//! use verdict_model::import::sklearn;
//! use verdict_model::{Model, Output};
//!
//! let export = br#"{
//!   "format": "verdict-sklearn", "format_version": 1, "sklearn_version": "1.9.1",
//!   "input": {"n_features": 2, "feature_names": ["a", "b"],
//!             "columns": [{"name": "a", "kind": "numeric"}, {"name": "b", "kind": "numeric"}]},
//!   "output": {"task": "regression", "methods": ["predict"], "n_outputs": 1},
//!   "estimator": {"type": "LinearRegression", "n_features_in": 2,
//!                 "coef": [[2.0, -1.0]], "intercept": [1.0], "n_outputs": 1}
//! }"#;
//! let file = sklearn::from_bytes(export, "line")?;
//! let y = file.model.predict(array![[3.0, 1.0]].view(), Output::Predict)?;
//! assert_eq!(y, array![[6.0]]);
//! # Ok::<(), verdict_model::Error>(())
//! ```

mod convert;
mod schema;

use super::json;
use crate::error::ImportError;
use crate::format::ModelFile;

/// The format's name in messages.
const FORMAT: &str = "scikit-learn";

/// The `format` tag of every export.
const FORMAT_TAG: &str = "verdict-sklearn";

/// The export format version this importer implements.
const FORMAT_VERSION: i64 = 1;

/// Imports a scikit-learn export from the bytes of its JSON file; `name` names the model.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<ModelFile, ImportError> {
    // The tag and version first, so that a document of another version is refused as such
    // rather than for the first field whose meaning changed.
    let header: schema::Header = serde_json::from_slice(bytes).map_err(json_error)?;
    match header.format.as_deref() {
        Some(FORMAT_TAG) => {}
        Some(other) => {
            return Err(malformed_top(
                "format",
                format!("expected `{FORMAT_TAG}`, found `{other}`"),
            ));
        }
        None => return Err(malformed_top("format", "the `format` tag is missing")),
    }
    match header.format_version {
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(ImportError::unsupported(
                FORMAT,
                format!(
                    "format_version {other}: this Verdict reads version {FORMAT_VERSION} (upgrade \
                     Verdict, or export with a matching verdict_export)"
                ),
            ));
        }
        None => {
            return Err(malformed_top(
                "format_version",
                "the `format_version` is missing",
            ));
        }
    }
    let document: schema::Document = serde_json::from_slice(bytes).map_err(json_error)?;
    convert::convert(document, name)
}

fn malformed_top(location: &str, message: impl Into<String>) -> ImportError {
    ImportError::malformed(FORMAT, location, message)
}

fn json_error(e: serde_json::Error) -> ImportError {
    json::syntax_error(FORMAT, &e)
}
