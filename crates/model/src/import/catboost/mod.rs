//! The CatBoost importer: models saved by `save_model(path, format="json")` translated into
//! native models that predict what CatBoost predicts.
//!
//! The JSON text is read into the exact mirror of its schema (the `schema` module), then
//! checked and translated (`convert`): symmetric trees into the
//! [`Oblivious`](crate::family::Family::Oblivious) family, which the compiled engine scores by
//! binarising each feature once per row, and non-symmetric trees into a
//! [`TreeEnsemble`](crate::family::tree::TreeEnsemble). `docs/formats/catboost.md` says what
//! is read and what is refused.

mod convert;
// CatBoost's category and CTR-key hashes, for the categorical-feature importer that will use
// them (issue #14); until then only its tests call it.
#[allow(dead_code)]
mod hash;
mod schema;

use crate::error::ImportError;
use crate::format::ModelFile;

/// The format's name in messages.
const FORMAT: &str = "CatBoost";

/// Imports a CatBoost JSON model; `name` names the model.
///
/// A binary `.cbm` file is recognised and refused with [`ImportError::Unsupported`], which
/// says how to export the JSON form.
///
/// A malformed file gives [`ImportError::Malformed`] naming the JSON path (tree and field); a
/// loss function or feature kind Verdict does not read gives [`ImportError::Unsupported`]
/// naming it.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<ModelFile, ImportError> {
    if bytes.starts_with(super::CBM_MAGIC) {
        return Err(ImportError::unsupported(
            FORMAT,
            "the binary .cbm format (not read yet): export the model with \
             `model.save_model(path, format=\"json\")` and load that file",
        ));
    }
    let model: schema::Model =
        serde_json::from_slice(bytes).map_err(|e| super::json::syntax_error(FORMAT, &e))?;
    convert::convert(&model, name)
}
