//! LightGBM's text model format, as `Booster.save_model("model.txt")` writes it (format
//! versions `v3` and `v4`, from LightGBM 3.x and 4.x).
//!
//! [`from_bytes`] parses the text into an exact mirror of its keys (`text`), each value with
//! its line number, then translates that into a native tree ensemble (`convert`) whose
//! predictions are LightGBM's own: `raw` is `predict(raw_score=True)` and `predict` /
//! `predict_proba` is `predict()`. See `docs/formats/lightgbm.md` for what is supported.

mod convert;
mod text;

use crate::error::ImportError;
use crate::format::ModelFile;

/// Imports a LightGBM model text; `name` names the model.
///
/// A malformed file gives [`ImportError::Malformed`] with the line at fault; an objective
/// Verdict does not know gives [`ImportError::Unsupported`] naming it.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<ModelFile, ImportError> {
    let text = text::parse(bytes)?;
    convert::convert(&text, name)
}
