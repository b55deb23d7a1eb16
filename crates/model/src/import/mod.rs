//! Importers: foreign model files translated into native families.
//!
//! Each importer parses the foreign file into an exact mirror of its schema, then converts
//! that into a [`NativeModel`](crate::NativeModel), validated like any model file. Nothing in a
//! foreign file is executed.
//!
//! [`load`] detects the format from the file's content, so every command accepts every
//! supported file.
//!
//! Each importer is behind a cargo feature of its name (`xgboost`, `lightgbm`, `sklearn`,
//! `catboost`), all
//! on by default. A build without one still recognises its files and says which feature would
//! read them.

#[cfg(feature = "catboost")]
pub mod catboost;
#[cfg(feature = "lightgbm")]
pub mod lightgbm;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, ImportError};
use crate::format::{MAGIC, ModelFile};

#[cfg(any(feature = "xgboost", feature = "sklearn", feature = "catboost"))]
mod json;
#[cfg(feature = "sklearn")]
pub mod sklearn;
#[cfg(feature = "xgboost")]
pub mod xgboost;

/// The first bytes of CatBoost's binary `.cbm` file (a FlatBuffers document follows).
const CBM_MAGIC: &[u8] = b"CBM1";

/// A model file format Verdict reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// A Verdict model file (`.vdm`).
    Verdict,
    /// XGBoost's `save_model` JSON or UBJSON.
    Xgboost,
    /// LightGBM's `save_model` text.
    Lightgbm,
    /// A scikit-learn export written by `verdict.export_sklearn` or the `verdict-export`
    /// command, both in the Python package.
    Sklearn,
    /// CatBoost's `save_model` JSON export (its binary `.cbm` is recognised and refused).
    Catboost,
}

impl SourceFormat {
    /// The name used by `--from`.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Verdict => "verdict",
            SourceFormat::Xgboost => "xgboost",
            SourceFormat::Lightgbm => "lightgbm",
            SourceFormat::Sklearn => "sklearn",
            SourceFormat::Catboost => "catboost",
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SourceFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "verdict" | "vdm" => Ok(SourceFormat::Verdict),
            "xgboost" | "xgb" => Ok(SourceFormat::Xgboost),
            "lightgbm" | "lgbm" | "lgb" => Ok(SourceFormat::Lightgbm),
            "sklearn" | "scikit-learn" => Ok(SourceFormat::Sklearn),
            "catboost" | "cb" => Ok(SourceFormat::Catboost),
            other => Err(format!(
                "unknown model format `{other}` (expected verdict, xgboost, lightgbm, sklearn or catboost)"
            )),
        }
    }
}

/// Tells the format of a model file from its first bytes.
pub fn detect(bytes: &[u8]) -> Result<SourceFormat, ImportError> {
    if bytes.starts_with(MAGIC) {
        return Ok(SourceFormat::Verdict);
    }
    if bytes.starts_with(CBM_MAGIC) {
        return Ok(SourceFormat::Catboost);
    }
    let text = bytes.trim_ascii_start();
    if text.starts_with(b"tree\n") || text.starts_with(b"tree\r\n") {
        return Ok(SourceFormat::Lightgbm);
    }
    if text.first() == Some(&b'{') {
        // UBJSON objects open with `{` followed by a length-typed key marker, never by
        // whitespace or a quote.
        if matches!(
            text.get(1),
            Some(b'L' | b'i' | b'U' | b'I' | b'l' | b'$' | b'#')
        ) {
            return Ok(SourceFormat::Xgboost);
        }
        let head = &text[..text.len().min(4096)];
        if contains(head, b"\"learner\"") {
            return Ok(SourceFormat::Xgboost);
        }
        if contains(head, b"\"verdict-sklearn\"") {
            return Ok(SourceFormat::Sklearn);
        }
        // CatBoost writes `features_info` first, or `ctr_data` (its keys sorted) when the
        // model has CTR tables.
        if contains(head, b"\"features_info\"") || text_starts_with_key(head, b"\"ctr_data\"") {
            return Ok(SourceFormat::Catboost);
        }
        return Err(ImportError::UnknownFormat {
            reason: "a JSON document with none of XGBoost's `learner`, a `verdict-sklearn` format tag or CatBoost's `features_info` or `ctr_data`".into(),
        });
    }
    Err(ImportError::UnknownFormat {
        reason: "the file starts with none of the known signatures".into(),
    })
}

/// True when the JSON object in `head` opens with the key `key` (quotes included).
fn text_starts_with_key(head: &[u8], key: &[u8]) -> bool {
    let body = head.get(1..).unwrap_or_default();
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|start| body[start..].starts_with(key))
}

/// The longest stretch of a file's own text an error message quotes, in characters.
#[cfg(any(
    feature = "xgboost",
    feature = "lightgbm",
    feature = "sklearn",
    feature = "catboost"
))]
const EXCERPT_CHARS: usize = 80;

/// `text` for an error message: whole when short, else its start and how much was left out,
/// so a message never carries a megabyte line of a wrong file.
#[cfg(any(
    feature = "xgboost",
    feature = "lightgbm",
    feature = "sklearn",
    feature = "catboost"
))]
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}… ({} more bytes)", &text[..end], text.len() - end),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads any supported model file, detecting its format unless `from` says it.
///
/// The model's name defaults to the file name up to its first dot (`churn.xgb.json` is
/// `churn`).
pub fn load(path: impl AsRef<Path>, from: Option<SourceFormat>) -> Result<ModelFile, Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .and_then(|n| {
            n.split('.')
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "model".to_owned());
    from_bytes(&bytes, &name, from)
}

/// Reads any supported model from bytes; `name` names it when the format carries no name.
///
/// Importers run with their default options; an XGBoost model keeps all its trees, as
/// `Booster.predict` does (see [`xgboost::Options`] for the scikit-learn wrapper's choice).
pub fn from_bytes(
    bytes: &[u8],
    name: &str,
    from: Option<SourceFormat>,
) -> Result<ModelFile, Error> {
    let format = match from {
        Some(format) => format,
        None => detect(bytes)?,
    };
    match format {
        SourceFormat::Verdict => ModelFile::from_bytes(bytes),
        #[cfg(feature = "lightgbm")]
        SourceFormat::Lightgbm => Ok(lightgbm::from_bytes(bytes, name)?),
        #[cfg(feature = "xgboost")]
        SourceFormat::Xgboost => Ok(xgboost::from_bytes(
            bytes,
            name,
            &xgboost::Options::default(),
        )?),
        #[cfg(feature = "sklearn")]
        SourceFormat::Sklearn => Ok(sklearn::from_bytes(bytes, name)?),
        #[cfg(feature = "catboost")]
        SourceFormat::Catboost => Ok(catboost::from_bytes(bytes, name)?),
        #[allow(unreachable_patterns)]
        disabled => {
            let _unused_without_importers = name;
            Err(ImportError::NotCompiled {
                format: disabled.name(),
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(
        feature = "xgboost",
        feature = "lightgbm",
        feature = "sklearn",
        feature = "catboost"
    ))]
    #[test]
    fn excerpts_cut_long_text_and_say_how_much() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(
            excerpt(&long),
            format!("{}… (40 more bytes)", "é".repeat(80))
        );
    }

    #[test]
    fn detects_each_format_from_its_first_bytes() {
        assert_eq!(detect(b"VERDICT 1 json").unwrap(), SourceFormat::Verdict);
        assert_eq!(
            detect(b"tree\nversion=v4\n").unwrap(),
            SourceFormat::Lightgbm
        );
        assert_eq!(detect(b"{\"learner\": {}}").unwrap(), SourceFormat::Xgboost);
        assert_eq!(
            detect(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner").unwrap(),
            SourceFormat::Xgboost
        );
        assert_eq!(
            detect(b"{\"format\": \"verdict-sklearn\"}").unwrap(),
            SourceFormat::Sklearn
        );
        assert_eq!(
            detect(b"{\"features_info\": {\"float_features\": []}}").unwrap(),
            SourceFormat::Catboost
        );
        assert_eq!(detect(b"CBM1\x10\0\0\0").unwrap(), SourceFormat::Catboost);
        assert!(detect(b"PK\x03\x04").is_err());
        assert!(detect(b"{\"something\": 1}").is_err());
    }

    #[cfg(not(feature = "xgboost"))]
    #[test]
    fn a_format_compiled_out_is_recognised_and_its_feature_named() {
        let error = from_bytes(b"{\"learner\": {}}", "m", None).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Import(ImportError::NotCompiled { format: "xgboost" })
            ),
            "{error}"
        );
    }
}
