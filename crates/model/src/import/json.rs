//! What the JSON-based importers (XGBoost, scikit-learn) read alike.

use std::fmt;

use crate::error::ImportError;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A binary64 value: a JSON number, or one of the strings `"NaN"`, `"Infinity"` and
/// `"-Infinity"` that Python's `json` and XGBoost write for non-finite values (JSON has no
/// literal for them).
///
/// Narrowing to `f32` afterwards is exact for values that were `f32` to begin with (UBJSON
/// stores them so), and equals reading a decimal number as `f64` first for JSON text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Float(pub f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FloatVisitor;

        impl Visitor<'_> for FloatVisitor {
            type Value = Float;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, or \"NaN\", \"Infinity\" or \"-Infinity\"")
            }

            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Float, E> {
                Ok(Float(f64::from(v)))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
                Ok(Float(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Float, E> {
                non_finite(v)
                    .map(Float)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }

        deserializer.deserialize_any(FloatVisitor)
    }
}

/// The value of the strings JSON writers use for non-finite numbers.
pub(super) fn non_finite(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A JSON syntax or shape error of the `format` importer, located by line and column.
pub(super) fn syntax_error(format: &'static str, e: &serde_json::Error) -> ImportError {
    let message = e.to_string();
    // serde_json appends the position to its message; it goes in the location instead.
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = message
        .strip_suffix(&suffix)
        .map_or(message.clone(), str::to_owned);
    ImportError::malformed(
        format,
        format!("JSON line {}, column {}", e.line(), e.column()),
        message,
    )
}
