//! The XGBoost importer: `Booster.save_model` files (JSON or UBJSON, XGBoost 2.x and 3.x)
//! translated into native models that predict exactly what XGBoost predicts.
//!
//! A file goes through three steps: the `ubjson` module (or `serde_json`) reads it into the
//! exact mirror of its schema in the `schema` module; the `convert` module checks it and
//! translates it into a tree ensemble or a linear model; [`NativeModel::new`](crate::NativeModel::new)
//! validates the result like any model file. `docs/formats/xgboost.md` says what is supported.
//!
//! Exactness comes from reproducing XGBoost's arithmetic, not from tolerances: inputs are cast
//! to `f32` and compared `x < threshold`, a missing value takes the node's default child,
//! margins are summed in `f32` in tree order starting from the base margin, and sigmoid,
//! softmax and exp are computed in `f32` as XGBoost computes them.
//!
//! # Example
//!
//! ```
//! use verdict_model::import::xgboost::{self, Iterations, Options};
//!
//! # fn run(bytes: &[u8]) -> Result<(), verdict_model::ImportError> {
//! // What `Booster.predict` computes: every tree (the default).
//! let all = xgboost::from_bytes(bytes, "churn", &Options::default())?;
//! // What the scikit-learn wrapper's `predict` computes after early stopping.
//! let best = xgboost::from_bytes(bytes, "churn", &Options { iterations: Iterations::Best })?;
//! # let _ = (all, best);
//! # Ok(())
//! # }
//! ```

mod convert;
mod schema;
mod ubjson;

use super::json;
use crate::error::ImportError;
use crate::format::ModelFile;

/// The format's name in messages.
const FORMAT: &str = "XGBoost";

/// Which boosting iterations of the model to keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Iterations {
    /// Every tree, as `Booster.predict` (and XGBoost's C API) predicts. The default.
    #[default]
    All,
    /// The trees up to the `best_iteration` attribute that early stopping recorded, as the
    /// scikit-learn wrapper's `predict` and `predict_proba` do; every tree when the model has
    /// no `best_iteration`. `gblinear` models have no iterations to cut and keep all weights.
    Best,
}

/// How to import an XGBoost model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Which iterations to keep.
    pub iterations: Iterations,
}

/// Imports an XGBoost model from the bytes of a `.json` or `.ubj` file; `name` names it.
pub fn from_bytes(bytes: &[u8], name: &str, options: &Options) -> Result<ModelFile, ImportError> {
    let model = if is_ubjson(bytes) {
        schema::from_ubjson(bytes).map_err(|e| ImportError::Malformed {
            format: FORMAT,
            location: e.offset.map_or_else(
                || "UBJSON".to_owned(),
                |at| format!("UBJSON byte offset {at}"),
            ),
            message: e.message,
        })?
    } else {
        schema::from_json(bytes).map_err(json_error)?
    };
    convert::convert(model, name, options)
}

/// UBJSON models open an object whose first key has an integer length marker (`{L...`);
/// JSON text has whitespace, a quote or `}` after its `{`.
fn is_ubjson(bytes: &[u8]) -> bool {
    matches!(
        bytes,
        [b'{', b'i' | b'U' | b'I' | b'l' | b'L' | b'$' | b'#', ..]
    )
}

fn json_error(e: serde_json::Error) -> ImportError {
    json::syntax_error(FORMAT, &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_ubjson_from_json() {
        assert!(is_ubjson(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner"));
        assert!(!is_ubjson(b"{\"learner\": {}}"));
        assert!(!is_ubjson(b"{ \"learner\": {}}"));
        assert!(!is_ubjson(b""));
    }
}
