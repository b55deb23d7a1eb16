//! The simple JSON protocol: `POST /predict` and `POST /models/{name}/predict`.
//!
//! ```text
//! {"input": [5.1, 3.5, 1.4, 0.2]}                       one row, features in order
//! {"input": {"sepal_length": 5.1, ...}}                 one row, features by name
//! {"inputs": [[5.1, 3.5, 1.4, 0.2], [...]]}             many rows
//! {"instances": [{"color": "red", "size": 3}, ...]}     many rows, by name, categories as text
//! optional: "outputs": ["predict", "predict_proba", "raw"]
//! ```
//!
//! The answer has one list per output with one entry per row: `prediction` holds the class
//! label (an integer or a text) for classifiers and the value otherwise; `predict_proba` and
//! `raw` hold objects keyed by [`Signature::output_columns`] (`proba_<class>`, `raw_<k>`),
//! or plain numbers when the output has one column.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use ndarray::{Array2, ArrayView1};
use serde::Deserialize;
use serde_json::{Map, Value};
use verdict_model::{Output, Signature, Task};

use super::{Body, Decoder, expect_object, label, number, resolve_route};
use crate::error::Error;
use crate::inference;
use crate::state::Shared;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `input`, `inputs` or `instances`"
)]
struct Request {
    input: Option<Value>,
    inputs: Option<Vec<Value>>,
    instances: Option<Vec<Value>>,
    outputs: Option<Vec<String>>,
}

/// `POST /predict`, `/models/{model}/predict` and `/models/{model}/versions/{version}/predict`.
pub(crate) async fn predict(
    req: HttpRequest,
    shared: Data<Shared>,
    body: Body,
) -> Result<HttpResponse, Error> {
    let model = resolve_route(&req, &shared)?;
    let signature = model.model.signature();
    let decoder = Decoder {
        signature,
        max_rows: shared.options.max_rows,
    };
    let (features, outputs) = decode(&decoder, &body.0)?;
    let predictions = inference::predict(&shared, &model, features, &outputs).await?;

    let mut answer = Map::new();
    answer.insert("model".into(), Value::from(model.name.as_str()));
    answer.insert("version".into(), Value::from(model.version.to_string()));
    for (&output, values) in outputs.iter().zip(&predictions) {
        let columns = signature.output_columns(output);
        let rows = values
            .rows()
            .into_iter()
            .map(|row| row_value(signature, output, &columns, row))
            .collect::<Result<Vec<_>, _>>()?;
        let key = match output {
            Output::Predict => "prediction",
            other => other.name(),
        };
        answer.insert(key.into(), Value::Array(rows));
    }
    Ok(HttpResponse::Ok().json(Value::Object(answer)))
}

/// The feature rows of a `/predict` body, in the signature's column order, and the outputs
/// it asks for (`predict` when it names none).
pub(crate) fn decode(
    decoder: &Decoder<'_>,
    body: &[u8],
) -> Result<(Array2<f64>, Vec<Output>), Error> {
    expect_object(body, "`input`, `inputs` or `instances`")?;
    decoder.check_json_size(body)?;
    let request: Request = serde_json::from_slice(body).map_err(|e| Error::json(&e))?;
    let features = match (&request.input, &request.inputs, &request.instances) {
        (Some(row), None, None) => {
            let mut data = Vec::with_capacity(decoder.signature.num_features());
            decoder.row_into(row, "input", &mut data)?;
            Array2::from_shape_vec((1, data.len()), data)
                .map_err(|e| Error::Internal(e.to_string()))?
        }
        (None, Some(rows), None) => decoder.rows(rows, "inputs")?,
        (None, None, Some(rows)) => decoder.rows(rows, "instances")?,
        _ => {
            return Err(Error::bad(
                "body",
                "expected exactly one of `input` (one row), `inputs` (rows) or `instances` (rows)",
            ));
        }
    };
    let outputs = requested_outputs(request.outputs.as_deref())?;
    Ok((features, outputs))
}

/// The outputs named in the request (without repeats), or `predict`.
fn requested_outputs(names: Option<&[String]>) -> Result<Vec<Output>, Error> {
    let Some(names) = names else {
        return Ok(vec![Output::Predict]);
    };
    let mut outputs = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let output = name
            .parse::<Output>()
            .map_err(|e| Error::bad(format!("outputs[{i}]"), e.to_string()))?;
        if !outputs.contains(&output) {
            outputs.push(output);
        }
    }
    if outputs.is_empty() {
        return Err(Error::bad("outputs", "names no output"));
    }
    Ok(outputs)
}

/// One row of one output as JSON.
fn row_value(
    signature: &Signature,
    output: Output,
    columns: &[String],
    row: ArrayView1<'_, f64>,
) -> Result<Value, Error> {
    let classifier = matches!(signature.task, Task::Classification { .. });
    match (output, row.len()) {
        (Output::Predict, 1) if classifier => label(signature, row[0]),
        (Output::Predict | Output::Raw, 1) => Ok(number(row[0])),
        _ => Ok(Value::Object(
            columns
                .iter()
                .zip(row)
                .map(|(column, &value)| (column.clone(), number(value)))
                .collect(),
        )),
    }
}
