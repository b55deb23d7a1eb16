//! MLflow's scoring protocol: `POST /invocations`, `GET /ping`, `/health` and `/version`.
//! MLflow serves one model; with several, `POST /models/{name}/invocations` names one.
//!
//! The body is JSON with exactly one of `dataframe_split` (`columns`, `data`, optional
//! `index`), `dataframe_records`, `instances` or `inputs` (rows, or an object of columns),
//! plus optional `params`; or CSV with a header line (`Content-Type: text/csv`). The answer is
//! `{"predictions": [...]}`, one entry per row: the class label or value, or a list when the
//! output has several columns. `params.output` picks `predict` (default), `predict_proba`,
//! `raw` or `contribs` (a row's contributions in the order of its `contrib_*` columns). Errors
//! are `{"error_code": "BAD_REQUEST", "message": "..."}`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use ndarray::Array2;
use serde_json::Value;
use verdict_model::{Output, Task};

use super::{Body, Decoder, kind_of, label, number, resolve};
use crate::error::Error;
use crate::inference;
use crate::state::Shared;

const FORMATS: &str = "`dataframe_split`, `dataframe_records`, `instances` or `inputs`";

/// `POST /invocations` and `POST /models/{model}/invocations`.
pub(crate) async fn invocations(
    req: HttpRequest,
    shared: Data<Shared>,
    body: Body,
) -> Result<HttpResponse, Error> {
    let model = resolve(&req, &shared, req.match_info().get("model"), None)?;
    let signature = model.model.signature();
    let decoder = Decoder {
        signature,
        max_rows: shared.options.max_rows,
    };
    let (features, output) = decode(&decoder, req.headers().get(header::CONTENT_TYPE), &body.0)?;
    let predictions = inference::predict(&shared, &model, features, &[output]).await?;
    let Some(values) = predictions.first() else {
        return Err(Error::Internal("no prediction came back".into()));
    };
    let classifier = matches!(signature.task, Task::Classification { .. });
    let rows = values
        .rows()
        .into_iter()
        .map(|row| match (output, row.len()) {
            (Output::Predict, 1) if classifier => label(signature, row[0]),
            (_, 1) => Ok(number(row[0])),
            _ => Ok(Value::Array(row.iter().map(|&v| number(v)).collect())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "predictions": rows })))
}

/// The feature rows of an `/invocations` body of the given `Content-Type`, and the output
/// it asks for.
pub(crate) fn decode(
    decoder: &Decoder<'_>,
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Result<(Array2<f64>, Output), Error> {
    match content_kind(content_type)? {
        ContentKind::Csv => Ok((csv_rows(decoder, body)?, Output::Predict)),
        ContentKind::Json => json_rows(decoder, body),
    }
}

enum ContentKind {
    Json,
    Csv,
}

/// JSON or CSV, in UTF-8, as MLflow takes; a request without a `Content-Type` is read as
/// JSON.
fn content_kind(content_type: Option<&HeaderValue>) -> Result<ContentKind, Error> {
    let Some(value) = content_type else {
        return Ok(ContentKind::Json);
    };
    let text = value.to_str().unwrap_or("");
    let mut parts = text.split(';').map(str::trim);
    let essence = parts.next().unwrap_or("").to_ascii_lowercase();
    let utf8 = parts.all(|param| match param.split_once('=') {
        Some((key, value)) if key.trim().eq_ignore_ascii_case("charset") => {
            let value = value.trim().trim_matches('"');
            value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    });
    match essence.as_str() {
        "application/json" if utf8 => Ok(ContentKind::Json),
        "text/csv" if utf8 => Ok(ContentKind::Csv),
        _ => Err(Error::UnsupportedMediaType {
            found: text.to_owned(),
            expected: "application/json or text/csv, in utf-8",
        }),
    }
}

/// The rows and the requested output of a JSON body.
fn json_rows(decoder: &Decoder<'_>, body: &[u8]) -> Result<(Array2<f64>, Output), Error> {
    decoder.check_json_size(body)?;
    let request: Value = serde_json::from_slice(body).map_err(|e| Error::json(&e))?;
    let Value::Object(request) = request else {
        return Err(Error::bad(
            "body",
            format!("expected a JSON object with one of {FORMATS}"),
        ));
    };
    let mut format = None;
    let mut output = Output::Predict;
    for (key, value) in &request {
        match key.as_str() {
            "dataframe_split" | "dataframe_records" | "instances" | "inputs" => {
                if let Some((first, _)) = format {
                    return Err(Error::bad(
                        "body",
                        format!("has both `{first}` and `{key}`; send exactly one of {FORMATS}"),
                    ));
                }
                format = Some((key.as_str(), value));
            }
            "params" => output = requested_output(value)?,
            other => {
                return Err(Error::bad(
                    "body",
                    format!("unknown field `{other}`; expected one of {FORMATS}, and `params`"),
                ));
            }
        }
    }
    let rows = match format {
        None => {
            return Err(Error::bad("body", format!("expected one of {FORMATS}")));
        }
        Some(("dataframe_split", value)) => dataframe_split(decoder, value)?,
        Some((key, Value::Array(rows))) => decoder.rows(rows, key)?,
        Some(("inputs", Value::Object(columns))) => decoder.columns(columns, "inputs")?,
        Some((key, other)) => {
            return Err(Error::bad(
                key,
                format!("expected an array of rows, got {}", kind_of(other)),
            ));
        }
    };
    Ok((rows, output))
}

/// `params.output`: which output to predict.
fn requested_output(params: &Value) -> Result<Output, Error> {
    let Value::Object(params) = params else {
        return Err(Error::bad(
            "params",
            format!("expected an object, got {}", kind_of(params)),
        ));
    };
    match params.get("output") {
        None => Ok(Output::Predict),
        Some(Value::String(name)) => name
            .parse()
            .map_err(|e: verdict_model::UnknownOutput| Error::bad("params.output", e.to_string())),
        Some(other) => Err(Error::bad(
            "params.output",
            format!("expected a text, got {}", kind_of(other)),
        )),
    }
}

/// pandas' `split` orient: `{"columns": [...], "data": [[...], ...], "index": [...]}`.
fn dataframe_split(decoder: &Decoder<'_>, value: &Value) -> Result<Array2<f64>, Error> {
    let Value::Object(split) = value else {
        return Err(Error::bad(
            "dataframe_split",
            format!(
                "expected an object with `columns` and `data`, got {}",
                kind_of(value)
            ),
        ));
    };
    let Some(Value::Array(data)) = split.get("data") else {
        return Err(Error::bad(
            "dataframe_split.data",
            "expected an array of rows",
        ));
    };
    let columns = match split.get("columns") {
        // Without column names, the rows are in the model's feature order.
        None => return decoder.rows(data, "dataframe_split.data"),
        Some(Value::Array(columns)) => columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                Value::String(name) => Ok(name.clone()),
                other => Err(Error::bad(
                    format!("dataframe_split.columns[{i}]"),
                    format!("expected a column name, got {}", kind_of(other)),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(Error::bad(
                "dataframe_split.columns",
                format!("expected an array of names, got {}", kind_of(other)),
            ));
        }
    };
    let positions = column_positions(decoder, &columns, "dataframe_split.columns")?;
    decoder.check_rows(data.len())?;
    let mut matrix = Array2::zeros((data.len(), positions.len()));
    for (r, row) in data.iter().enumerate() {
        let Value::Array(cells) = row else {
            return Err(Error::bad(
                format!("dataframe_split.data[{r}]"),
                format!("expected an array of values, got {}", kind_of(row)),
            ));
        };
        if cells.len() != columns.len() {
            return Err(Error::bad(
                format!("dataframe_split.data[{r}]"),
                format!("has {} values for {} columns", cells.len(), columns.len()),
            ));
        }
        for (f, &column) in positions.iter().enumerate() {
            matrix[[r, f]] = decoder.cell(f, &cells[column], &|| {
                format!("dataframe_split.data[{r}][{column}]")
            })?;
        }
    }
    Ok(matrix)
}

/// For each feature, the position of its column among `columns`. Extra columns are ignored;
/// a missing feature is an error.
fn column_positions(
    decoder: &Decoder<'_>,
    columns: &[String],
    at: &str,
) -> Result<Vec<usize>, Error> {
    let mut positions = Vec::with_capacity(decoder.signature.num_features());
    for feature in &decoder.signature.features {
        match columns.iter().position(|c| *c == feature.name) {
            Some(position) => positions.push(position),
            None => {
                return Err(decoder.missing_features(at, |name| columns.iter().any(|c| c == name)));
            }
        }
    }
    Ok(positions)
}

/// CSV with a header line naming the columns.
fn csv_rows(decoder: &Decoder<'_>, body: &[u8]) -> Result<Array2<f64>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::bad("CSV header", e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let positions = column_positions(decoder, &header, "CSV header")?;
    let mut data = Vec::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Error::bad(format!("CSV line {line}"), e.to_string())
        })?;
        rows += 1;
        decoder.check_rows(rows)?;
        let line = record.position().map_or(0, |p| p.line());
        for (f, &column) in positions.iter().enumerate() {
            let text = record.get(column).unwrap_or("");
            let at = format!("CSV line {line}, column `{}`", header[column]);
            data.push(decoder.text(f, text, &at)?);
        }
    }
    Array2::from_shape_vec((rows, positions.len()), data)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// `GET /ping` and `GET /health`: 200 when a model is serving, 404 otherwise (MLflow's
/// answer when no model is loaded).
pub(crate) async fn ping(shared: Data<Shared>) -> HttpResponse {
    if shared.repository.models().iter().any(|m| m.is_ready()) {
        HttpResponse::Ok().body("\n")
    } else {
        HttpResponse::NotFound().body("\n")
    }
}

/// `GET /version`.
pub(crate) async fn version() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(concat!("verdict ", env!("CARGO_PKG_VERSION")))
}
