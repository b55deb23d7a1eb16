//! The CatBoost importer: models saved by `save_model(path)` (the binary `.cbm` file) or
//! `save_model(path, format="json")` translated into native models that predict what CatBoost
//! predicts.
//!
//! The JSON text is read into the exact mirror of its schema (the `schema` module); a `.cbm`
//! file's FlatBuffers core is read into that same mirror (`cbm`, over a bounds-checked
//! FlatBuffers reader, `flatbuffers`). One conversion then checks and translates either
//! (`convert`): symmetric trees into the
//! [`Oblivious`](crate::family::Family::Oblivious) family, which the compiled engine scores by
//! binarising each feature once per row, and non-symmetric trees into a
//! [`TreeEnsemble`](crate::family::tree::TreeEnsemble). `docs/formats/catboost.md` says what
//! is read and what is refused.

mod categorical;
mod cbm;
mod convert;
mod flatbuffers;
mod schema;

use crate::error::ImportError;
use crate::format::ModelFile;

/// The format's name in messages.
const FORMAT: &str = "CatBoost";

/// Imports a CatBoost model, a `.cbm` file (recognised by its `CBM1` header) or a JSON
/// export; `name` names the model.
///
/// A malformed file gives [`ImportError::Malformed`] naming where: the JSON path, or the
/// FlatBuffers field and byte offset of a `.cbm` file, with the tree and field. A loss
/// function or feature kind Verdict does not read gives [`ImportError::Unsupported`] naming
/// it.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<ModelFile, ImportError> {
    let model = if bytes.starts_with(super::CBM_MAGIC) {
        cbm::read(bytes)?
    } else {
        serde_json::from_slice(bytes).map_err(|e| super::json::syntax_error(FORMAT, &e))?
    };
    convert::convert(&model, name)
}
