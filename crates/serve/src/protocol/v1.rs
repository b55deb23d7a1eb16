//! KServe's v1 protocol (the TensorFlow Serving style that KServe's predictors speak):
//! `GET /v1/models`, `GET /v1/models/{name}` and `POST /v1/models/{name}:predict` with
//! `{"instances": [...]}`, answered `{"predictions": [...]}`.
//!
//! Each instance is a row, as an array of feature values or an object keyed by feature name;
//! the predictions are the model's `predict` output (class labels for classifiers), one per
//! row, as KServe's scikit-learn and XGBoost servers answer.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Value, json};
use verdict_model::{Output, Task};

use super::{Body, Decoder, expect_object, label, number, resolve};
use crate::error::Error;
use crate::inference;
use crate::state::Shared;

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with `instances`")]
struct PredictRequest {
    #[serde(default)]
    instances: Option<Vec<Value>>,
    /// KServe takes `inputs` as another name for `instances`.
    #[serde(default)]
    inputs: Option<Vec<Value>>,
}

/// `GET /v1/models`: the names of the models serving.
pub(crate) async fn models(shared: Data<Shared>) -> HttpResponse {
    let names: Vec<String> = shared
        .repository
        .models()
        .into_iter()
        .filter(|m| m.is_ready())
        .map(|m| m.name)
        .collect();
    HttpResponse::Ok().json(json!({ "models": names }))
}

/// `GET /v1/models/{model}`: `{"name", "ready"}`; 404 for an unknown model.
pub(crate) async fn model(req: HttpRequest, shared: Data<Shared>) -> Result<HttpResponse, Error> {
    let name = req.match_info().get("model").unwrap_or_default();
    let status = shared.repository.model(name)?;
    Ok(HttpResponse::Ok().json(json!({ "name": status.name, "ready": status.is_ready() })))
}

/// `POST /v1/models/{model}:predict`.
pub(crate) async fn predict(
    req: HttpRequest,
    shared: Data<Shared>,
    body: Body,
) -> Result<HttpResponse, Error> {
    let model = resolve(&req, &shared, req.match_info().get("model"), None)?;
    expect_object(&body.0, "`instances`")?;
    let signature = model.model.signature();
    let decoder = Decoder {
        signature,
        max_rows: shared.options.max_rows,
    };
    decoder.check_json_size(&body.0)?;
    let request: PredictRequest = serde_json::from_slice(&body.0).map_err(|e| Error::json(&e))?;
    let (rows, path) = match (&request.instances, &request.inputs) {
        (Some(rows), None) => (rows, "instances"),
        (None, Some(rows)) => (rows, "inputs"),
        _ => {
            return Err(Error::bad(
                "body",
                "expected exactly one of `instances` or `inputs` (an array of rows)",
            ));
        }
    };
    let features = decoder.rows(rows, path)?;
    let predictions = inference::predict(&shared, &model, features, &[Output::Predict]).await?;
    let classifier = matches!(signature.task, Task::Classification { .. });
    let values = &predictions[0];
    let predictions = values
        .rows()
        .into_iter()
        .map(|row| match row.len() {
            1 if classifier => label(signature, row[0]),
            1 => Ok(number(row[0])),
            // Several targets: one array per row.
            _ => Ok(row.iter().map(|&v| number(v)).collect()),
        })
        .collect::<Result<Vec<Value>, Error>>()?;
    Ok(HttpResponse::Ok().json(json!({ "predictions": predictions })))
}
