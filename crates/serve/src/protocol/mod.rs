//! The three wire protocols, over one core.
//!
//! Each protocol decodes its body into a feature matrix in the signature's column order,
//! names the outputs it wants, calls [`inference::predict`](crate::inference::predict), and
//! encodes the arrays it gets back. What they share lives here: reading the body under the
//! size limit, turning JSON cells into feature values, and turning predictions into labels.

pub(crate) mod mlflow;
mod scan;
pub(crate) mod simple;
pub(crate) mod v1;
pub(crate) mod v2;

use std::future::Future;
use std::pin::Pin;

use actix_web::error::PayloadError;
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev};
use ndarray::Array2;
use serde_json::{Map, Value};
use verdict_model::matching;
use verdict_model::{ClassLabel, FeatureKind, Signature};

use crate::admission::Permit;
use crate::error::Error;
use crate::repository::ServedModel;
use crate::state::{ModelLabel, Shared};

/// A request body, read whole under the configured size limit (and decompressed when it
/// has a `Content-Encoding`, with the limit applying to the decompressed bytes), with its
/// reservation against the bytes in flight, held until the request is answered.
pub(crate) struct Body(
    pub(crate) Bytes,
    #[expect(
        dead_code,
        reason = "held for its Drop, which gives the reservation back"
    )]
    Permit,
);

impl FromRequest for Body {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Body, Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        // The limit itself is enforced by the resource's `PayloadConfig`; it is read here
        // only to name it in the error.
        let Some(shared) = req.app_data::<Data<Shared>>() else {
            let error = Error::Internal("verdict-serve route without its state".into());
            return Box::pin(std::future::ready(Err(error)));
        };
        let limit = shared.options.max_body;
        // Refused before the body is read, so a refused request costs no memory.
        let mut permit = match shared.admission.admit(declared_length(req).min(limit)) {
            Ok(permit) => permit,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            match bytes.await {
                Ok(bytes) => {
                    permit.grow_to(bytes.len())?;
                    Ok(Body(bytes, permit))
                }
                Err(error) => Err(match error.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => Error::BodyTooLarge { limit },
                    _ => Error::Body(error.to_string()),
                }),
            }
        })
    }
}

/// The body's `Content-Length`, or 0 when it has none (chunked).
fn declared_length(req: &HttpRequest) -> usize {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Fails unless `body` starts a JSON object: serde would read a struct from an array too,
/// field by field, and complain about the wrong thing.
pub(crate) fn expect_object(body: &[u8], expected: &str) -> Result<(), Error> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(Error::bad(
            "body",
            format!("expected a JSON object with {expected}"),
        )),
    }
}

/// Resolves the model a request names, and tags the request with it for the access log and
/// the metrics.
pub(crate) fn resolve(
    req: &HttpRequest,
    shared: &Shared,
    name: Option<&str>,
    version: Option<&str>,
) -> Result<std::sync::Arc<ServedModel>, Error> {
    let name = name.or(shared.options.default_model.as_deref());
    let model = shared.repository.resolve(name, version)?;
    req.extensions_mut().insert(ModelLabel(model.name.clone()));
    Ok(model)
}

/// Resolves the model the route's path names (its `{model}` and `{version}` segments, where
/// it has them), as [`resolve`] does.
pub(crate) fn resolve_route(
    req: &HttpRequest,
    shared: &Shared,
) -> Result<std::sync::Arc<ServedModel>, Error> {
    let info = req.match_info();
    resolve(req, shared, info.get("model"), info.get("version"))
}

/// Turns JSON cells into feature values for one model, checking each against its feature.
pub(crate) struct Decoder<'a> {
    pub(crate) signature: &'a Signature,
    pub(crate) max_rows: usize,
}

impl Decoder<'_> {
    /// Fails, before any parsing, when a JSON body has more elements than `max_rows` rows
    /// of this model can need.
    pub(crate) fn check_json_size(&self, body: &[u8]) -> Result<(), Error> {
        let limit = scan::element_limit(self.max_rows, self.signature.num_features());
        scan::check_elements(body, limit, self.max_rows)
    }

    /// Fails when `rows` is over the per-request limit.
    pub(crate) fn check_rows(&self, rows: usize) -> Result<(), Error> {
        if rows > self.max_rows {
            return Err(Error::TooManyRows {
                rows,
                limit: self.max_rows,
            });
        }
        Ok(())
    }

    /// The value of feature `feature` given as text: a category name for a categorical
    /// feature with names, otherwise a number read by the rule every front end shares
    /// ([`matching::parse_number`]: white space around it ignored, a blank text missing).
    pub(crate) fn text(&self, feature: usize, text: &str, at: &str) -> Result<f64, Error> {
        let Some(spec) = self.signature.features.get(feature) else {
            return Err(Error::Internal(format!("feature {feature} out of range")));
        };
        let expected = match &spec.kind {
            // An unknown category is missing, as the source libraries treat it.
            FeatureKind::Categorical { categories } if !categories.is_empty() => {
                return Ok(self.signature.encode_category(feature, text));
            }
            // The model never reads it: any text is accepted.
            FeatureKind::Unused => return Ok(f64::NAN),
            FeatureKind::HashedCategory => return Ok(matching::hashed_text(text)),
            FeatureKind::Categorical { .. } => {
                "takes category codes (the model knows no category names)"
            }
            FeatureKind::Numeric => "is numeric",
        };
        match matching::parse_number(text) {
            Ok(value) => Ok(value.unwrap_or(f64::NAN)),
            Err(_) => Err(Error::bad(
                at,
                format!("feature `{}` {expected}, got the text {text:?}", spec.name),
            )),
        }
    }

    /// The value of feature `feature` given as a JSON cell: a number, `null` (missing), a
    /// boolean, or a text (see [`text`](Decoder::text)).
    pub(crate) fn cell(
        &self,
        feature: usize,
        value: &Value,
        at: &dyn Fn() -> String,
    ) -> Result<f64, Error> {
        match value {
            Value::Number(number) => {
                number
                    .as_f64()
                    .map(|x| self.number(feature, x))
                    .ok_or_else(|| {
                        Error::bad(at(), format!("{number} is not a number Verdict can read"))
                    })
            }
            Value::Null => Ok(f64::NAN),
            // A flag names a category "true" or "false", as batch and the Python package read a
            // boolean column; to any other feature it is 1 or 0.
            Value::Bool(flag) if self.has_category_names(feature) => {
                self.text(feature, if *flag { "true" } else { "false" }, &at())
            }
            Value::Bool(flag) => Ok(self.number(feature, matching::flag_value(*flag))),
            Value::String(text) => self.text(feature, text, &at()),
            Value::Array(_) | Value::Object(_) => Err(Error::bad(
                at(),
                format!(
                    "expected a number, a text or null for feature `{}`, got {}",
                    self.feature_name(feature),
                    kind_of(value)
                ),
            )),
        }
    }

    /// The value of feature `feature` given as the number `x`: `x` itself, or for a CatBoost
    /// categorical feature the hash of the integer (`NaN`, refused by the model, for a
    /// fraction).
    pub(crate) fn number(&self, feature: usize, x: f64) -> f64 {
        match self.signature.features.get(feature).map(|f| &f.kind) {
            Some(FeatureKind::HashedCategory) => matching::hashed_number(x),
            _ => x,
        }
    }

    fn has_category_names(&self, feature: usize) -> bool {
        matches!(
            self.signature.features.get(feature).map(|f| &f.kind),
            Some(FeatureKind::Categorical { categories }) if !categories.is_empty()
        )
    }

    fn feature_name(&self, feature: usize) -> &str {
        self.signature
            .features
            .get(feature)
            .map_or("?", |f| f.name.as_str())
    }

    /// Rows given as arrays of values in feature order, or as objects keyed by feature name.
    pub(crate) fn rows(&self, rows: &[Value], path: &str) -> Result<Array2<f64>, Error> {
        self.check_rows(rows.len())?;
        let width = self.signature.num_features();
        let mut data = Vec::with_capacity(rows.len() * width);
        for (r, row) in rows.iter().enumerate() {
            let at = format!("{path}[{r}]");
            self.row_into(row, &at, &mut data)?;
        }
        Array2::from_shape_vec((rows.len(), width), data)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// One row, as an array in feature order or an object keyed by feature name, appended to
    /// `data`.
    pub(crate) fn row_into(&self, row: &Value, at: &str, data: &mut Vec<f64>) -> Result<(), Error> {
        let width = self.signature.num_features();
        match row {
            Value::Array(cells) => {
                if cells.len() != width {
                    return Err(Error::bad(
                        at,
                        format!(
                            "expected {width} feature values ({}), got {}",
                            self.feature_list(),
                            cells.len()
                        ),
                    ));
                }
                for (f, cell) in cells.iter().enumerate() {
                    data.push(self.cell(f, cell, &|| format!("{at}[{f}]"))?);
                }
                Ok(())
            }
            Value::Object(record) => self.record_into(record, at, data),
            other => Err(Error::bad(
                at,
                format!(
                    "expected a row (an array of feature values or an object of named features), got {}",
                    kind_of(other)
                ),
            )),
        }
    }

    /// One row keyed by feature name. Keys that are not features are ignored (records often
    /// carry ids); a missing feature is an error, so a misspelt name cannot pass silently.
    fn record_into(
        &self,
        record: &Map<String, Value>,
        at: &str,
        data: &mut Vec<f64>,
    ) -> Result<(), Error> {
        for (f, feature) in self.signature.features.iter().enumerate() {
            match record.get(&feature.name) {
                Some(value) => {
                    data.push(self.cell(f, value, &|| format!("{at}.{}", feature.name))?)
                }
                None => return Err(self.missing_features(at, |name| record.contains_key(name))),
            }
        }
        Ok(())
    }

    /// Columns keyed by feature name, each an array with one value per row.
    pub(crate) fn columns(
        &self,
        columns: &Map<String, Value>,
        path: &str,
    ) -> Result<Array2<f64>, Error> {
        let mut arrays = Vec::with_capacity(self.signature.num_features());
        for feature in &self.signature.features {
            match columns.get(&feature.name) {
                Some(Value::Array(values)) => arrays.push(values),
                Some(other) => {
                    return Err(Error::bad(
                        format!("{path}.{}", feature.name),
                        format!("expected an array of values, got {}", kind_of(other)),
                    ));
                }
                None => return Err(self.missing_features(path, |name| columns.contains_key(name))),
            }
        }
        let rows = arrays.first().map_or(0, |a| a.len());
        self.check_rows(rows)?;
        let mut matrix = Array2::zeros((rows, arrays.len()));
        for (f, values) in arrays.iter().enumerate() {
            if values.len() != rows {
                return Err(Error::bad(
                    format!("{path}.{}", self.feature_name(f)),
                    format!(
                        "has {} values but `{}` has {rows}",
                        values.len(),
                        self.feature_name(0)
                    ),
                ));
            }
            for (r, value) in values.iter().enumerate() {
                matrix[[r, f]] = self.cell(f, value, &|| {
                    format!("{path}.{}[{r}]", self.feature_name(f))
                })?;
            }
        }
        Ok(matrix)
    }

    /// The error for named input that lacks some features.
    pub(crate) fn missing_features(&self, at: &str, present: impl Fn(&str) -> bool) -> Error {
        let missing: Vec<&str> = self
            .signature
            .features
            .iter()
            .map(|f| f.name.as_str())
            .filter(|name| !present(name))
            .collect();
        let shown = missing
            .iter()
            .take(10)
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>();
        let more = if missing.len() > shown.len() {
            format!(" and {} more", missing.len() - shown.len())
        } else {
            String::new()
        };
        Error::bad(
            at,
            format!(
                "missing feature{} {}{more} (the model takes {})",
                if missing.len() == 1 { "" } else { "s" },
                shown.join(", "),
                self.feature_list()
            ),
        )
    }

    /// The features, for messages: all of them when few, else the first ones and a count.
    pub(crate) fn feature_list(&self) -> String {
        let features = &self.signature.features;
        let shown: Vec<&str> = features.iter().take(8).map(|f| f.name.as_str()).collect();
        if features.len() > shown.len() {
            format!("{}, ... {} in all", shown.join(", "), features.len())
        } else {
            shown.join(", ")
        }
    }
}

/// A JSON value's kind, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A number as JSON: `NaN` and infinities, which JSON lacks, become `null`.
pub(crate) fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// The class label of a classifier's `predict` value, as JSON: an integer or a text.
pub(crate) fn label(signature: &Signature, value: f64) -> Result<Value, Error> {
    match signature.class_label(value) {
        Some(ClassLabel::Int(i)) => Ok(Value::from(*i)),
        Some(ClassLabel::Text(text)) => Ok(Value::from(text.as_str())),
        None => Err(Error::Internal(format!(
            "the model predicted class index {value}, which is not one of its classes"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use verdict_model::{Feature, Task};

    fn signature() -> Signature {
        Signature::new(
            vec![
                Feature::numeric("a"),
                Feature::categorical("color", vec!["red".into(), "blue".into()]),
            ],
            Task::Regression,
        )
    }

    #[test]
    fn a_flag_names_a_category_as_batch_reads_a_boolean_column() {
        let signature = Signature::new(
            vec![
                Feature::numeric("a"),
                Feature::categorical("paid", vec!["true".into(), "false".into()]),
            ],
            Task::Regression,
        );
        let decoder = Decoder {
            signature: &signature,
            max_rows: 10,
        };
        let matrix = decoder
            .rows(&[json!([true, true]), json!([false, false])], "inputs")
            .unwrap();
        // A numeric feature takes 1 and 0; the categorical one the codes of "true" and "false".
        assert_eq!(matrix.row(0).to_vec(), [1.0, 0.0]);
        assert_eq!(matrix.row(1).to_vec(), [0.0, 1.0]);
    }

    #[test]
    fn rows_take_arrays_and_records() {
        let signature = signature();
        let decoder = Decoder {
            signature: &signature,
            max_rows: 10,
        };
        let rows = [
            json!([1.5, "blue"]),
            json!({"color": "red", "a": null, "id": 7}),
        ];
        let matrix = decoder.rows(&rows, "inputs").unwrap();
        assert_eq!(matrix[[0, 0]], 1.5);
        assert_eq!(matrix[[0, 1]], 1.0);
        assert!(matrix[[1, 0]].is_nan());
        assert_eq!(matrix[[1, 1]], 0.0);
    }

    #[test]
    fn bad_cells_name_their_place() {
        let signature = signature();
        let decoder = Decoder {
            signature: &signature,
            max_rows: 10,
        };
        let error = decoder
            .rows(&[json!([1, 2]), json!(["x", "red"])], "inputs")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "inputs[1][0]: feature `a` is numeric, got the text \"x\""
        );
        let error = decoder.rows(&[json!({"a": 1})], "instances").unwrap_err();
        assert_eq!(
            error.to_string(),
            "instances[0]: missing feature `color` (the model takes a, color)"
        );
        let error = decoder.rows(&[json!([1])], "inputs").unwrap_err();
        assert!(
            error.to_string().contains("expected 2 feature values"),
            "{error}"
        );
        let error = decoder
            .rows(&vec![json!([1, 2]); 11], "inputs")
            .unwrap_err();
        assert!(matches!(
            error,
            Error::TooManyRows {
                rows: 11,
                limit: 10
            }
        ));
    }

    #[test]
    fn texts_read_as_the_shared_rule_says() {
        use verdict_model::matching::{NUMBER_TEXTS, NotANumber, Reads};
        let signature = Signature::new(
            vec![
                Feature::numeric("a"),
                Feature::categorical("code", Vec::new()),
            ],
            Task::Regression,
        );
        let decoder = Decoder {
            signature: &signature,
            max_rows: 10,
        };
        // A numeric feature and a categorical one known by its codes both read numbers; a
        // missing value is given to the model as NaN.
        for feature in [0, 1] {
            for &(text, expected) in NUMBER_TEXTS {
                let read = decoder.text(feature, text, "t");
                let agrees = match (expected, &read) {
                    (Reads::Missing, Ok(value)) => value.is_nan(),
                    (_, Ok(value)) => expected.matches(Ok(Some(*value))),
                    (_, Err(Error::BadInput { .. })) => expected.matches(Err(NotANumber)),
                    (_, Err(_)) => false,
                };
                assert!(
                    agrees,
                    "feature {feature}, {text:?}: expected {expected:?}, read {read:?}"
                );
            }
        }
        let error = decoder.text(1, "red", "t").unwrap_err();
        assert_eq!(
            error.to_string(),
            "t: feature `code` takes category codes (the model knows no category names), \
             got the text \"red\""
        );
    }
}
