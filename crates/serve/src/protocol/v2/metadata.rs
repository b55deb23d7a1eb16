//! The v2 routes that describe rather than predict: server and model metadata, health and
//! readiness, Triton's model configuration and statistics extensions.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};
use verdict_model::{FeatureKind, Signature};

use super::codec::{class_json, output_datatype, output_shape};
use crate::error::Error;
use crate::protocol::{resolve, resolve_route};
use crate::state::Shared;

/// The extensions gRPC's `ServerMetadata` announces.
pub(crate) const EXTENSIONS: [&str; 2] = ["binary_tensor_data", "model_repository"];

/// The extensions `GET /v2` announces: the gRPC ones and Triton's model configuration and
/// statistics, which only the HTTP routes serve.
const HTTP_EXTENSIONS: [&str; 4] = [
    EXTENSIONS[0],
    EXTENSIONS[1],
    "model_configuration",
    "statistics",
];

/// The name, datatype and shape (`-1` for any number of rows) of a tensor in a model's
/// metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorSpec {
    pub(crate) name: String,
    pub(crate) datatype: &'static str,
    pub(crate) shape: Vec<i64>,
}

/// The input tensors a model takes: one `[rows, features]` FP64 tensor when every feature is
/// numeric, else one `[rows]` tensor per feature (`BYTES` for named categories).
pub(crate) fn input_specs(signature: &Signature) -> Vec<TensorSpec> {
    let all_numeric = signature
        .features
        .iter()
        .all(|f| matches!(f.kind, FeatureKind::Numeric | FeatureKind::Unused));
    if all_numeric {
        return vec![TensorSpec {
            name: "input".to_owned(),
            datatype: "FP64",
            shape: vec![-1, signature.num_features() as i64],
        }];
    }
    signature
        .features
        .iter()
        .map(|f| TensorSpec {
            name: f.name.clone(),
            datatype: match &f.kind {
                FeatureKind::Categorical { categories } if !categories.is_empty() => "BYTES",
                FeatureKind::HashedCategory => "BYTES",
                _ => "FP64",
            },
            shape: vec![-1],
        })
        .collect()
}

/// The output tensors a model produces.
pub(crate) fn output_specs(signature: &Signature) -> Vec<TensorSpec> {
    signature
        .outputs()
        .into_iter()
        .map(|output| TensorSpec {
            name: output.name().to_owned(),
            datatype: output_datatype(signature, output),
            shape: output_shape(signature, output, -1),
        })
        .collect()
}

fn spec_json(spec: &TensorSpec) -> Value {
    json!({ "name": spec.name, "datatype": spec.datatype, "shape": spec.shape })
}

/// `GET /v2`.
pub(crate) async fn server_metadata() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "verdict",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": HTTP_EXTENSIONS,
    }))
}

/// `GET /v2/health/live`: the process answers, `{"live": true}`.
pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "live": true }))
}

/// `GET /v2/health/ready`: every model not unloaded on purpose has a version serving;
/// `{"ready": true}`, or 400 with `{"ready": false}` (Triton's status, the protocol's body).
pub(crate) async fn ready(shared: Data<Shared>) -> HttpResponse {
    // A graceful stop ends readiness, so load balancers move away first.
    let stopping = shared.draining.load(std::sync::atomic::Ordering::SeqCst);
    let ready = shared.repository.is_ready() && !stopping;
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::BadRequest()
    };
    response.json(json!({ "ready": ready }))
}

/// `GET /v2/models/{model}[/versions/{version}]/ready`: 200 when serving; 404 for an unknown
/// model and 400 for one that is not serving, with the reason.
pub(crate) async fn model_ready(req: HttpRequest, shared: Data<Shared>) -> HttpResponse {
    match resolve_route(&req, &shared) {
        Ok(model) => HttpResponse::Ok().json(json!({ "name": model.name, "ready": true })),
        Err(error @ Error::Unavailable { .. }) => HttpResponse::build(StatusCode::BAD_REQUEST)
            .json(json!({ "ready": false, "error": error.to_string() })),
        Err(error) => error.response_for(crate::Protocol::V2),
    }
}

/// `GET /v2/models/{model}[/versions/{version}]`.
pub(crate) async fn model_metadata(
    req: HttpRequest,
    shared: Data<Shared>,
) -> Result<HttpResponse, Error> {
    let info = req.match_info();
    let name = info.get("model").unwrap_or_default();
    let model = resolve(&req, &shared, Some(name), info.get("version"))?;
    let status = shared.repository.model(&model.name)?;
    let signature = model.model.signature();
    let inputs: Vec<Value> = input_specs(signature).iter().map(spec_json).collect();
    let outputs: Vec<Value> = output_specs(signature).iter().map(spec_json).collect();
    let mut parameters = Map::new();
    parameters.insert("task".into(), signature.task.name().into());
    parameters.insert("family".into(), model.family.as_str().into());
    parameters.insert(
        "features".into(),
        signature.features.iter().map(|f| f.name.as_str()).collect(),
    );
    if let Some(classes) = signature.classes() {
        parameters.insert("classes".into(), classes.iter().map(class_json).collect());
    }
    parameters.insert(
        "source".into(),
        format!(
            "{} {}",
            model.info.source.library, model.info.source.library_version
        )
        .trim()
        .into(),
    );
    if !model.info.description.is_empty() {
        parameters.insert("description".into(), model.info.description.as_str().into());
    }
    if let Some(path) = &model.path {
        parameters.insert("path".into(), path.display().to_string().into());
    }
    // A failed reload leaves the previous model serving; say so where operators look.
    if let Some(reason) = status.reason() {
        parameters.insert("reload_error".into(), reason.into());
    }
    Ok(HttpResponse::Ok().json(json!({
        "name": model.name,
        "versions": status.versions.iter().map(|v| v.version.to_string()).collect::<Vec<_>>(),
        "platform": "verdict",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": parameters,
    })))
}

/// Triton's configuration data type of a protocol datatype (`BYTES` is `TYPE_STRING`).
fn config_type(datatype: &str) -> String {
    match datatype {
        "BYTES" => "TYPE_STRING".to_owned(),
        other => format!("TYPE_{other}"),
    }
}

/// `GET /v2/models/{model}[/versions/{version}]/config`: the model as Triton's model
/// configuration describes it. `max_batch_size` is 0, so each tensor's `dims` include the
/// rows (`-1`), as in the metadata.
pub(crate) async fn model_config(
    req: HttpRequest,
    shared: Data<Shared>,
) -> Result<HttpResponse, Error> {
    let model = resolve_route(&req, &shared)?;
    let signature = model.model.signature();
    let tensors = |specs: Vec<TensorSpec>| -> Vec<Value> {
        specs
            .into_iter()
            .map(|spec| {
                json!({
                    "name": spec.name,
                    "data_type": config_type(spec.datatype),
                    "dims": spec.shape,
                })
            })
            .collect()
    };
    Ok(HttpResponse::Ok().json(json!({
        "name": model.name,
        "platform": "verdict",
        "backend": "verdict",
        "max_batch_size": 0,
        "input": tensors(input_specs(signature)),
        "output": tensors(output_specs(signature)),
        "parameters": {
            "task": { "string_value": signature.task.name() },
            "family": { "string_value": model.family },
        },
    })))
}

/// `GET /v2/models/stats` and `GET /v2/models/{model}[/versions/{version}]/stats`: Triton's
/// statistics extension, from the server's metrics since it started.
///
/// `success` counts predictions (its time is queue plus compute), `fail` the requests naming
/// the model that were answered with an error; `compute_input` and `compute_output` (the
/// decoding and encoding) are not measured apart and stay 0, as the caches do.
pub(crate) async fn statistics(
    req: HttpRequest,
    shared: Data<Shared>,
) -> Result<HttpResponse, Error> {
    let info = req.match_info();
    let models = match info.get("model") {
        Some(_) => vec![resolve(
            &req,
            &shared,
            info.get("model"),
            info.get("version"),
        )?],
        None => shared
            .repository
            .models()
            .iter()
            .filter_map(|status| status.latest().cloned())
            .collect(),
    };
    let duration = |count: u64, ns: u64| json!({ "count": count, "ns": ns });
    let stats: Vec<Value> = models
        .iter()
        .map(|model| {
            let stats = shared.metrics.model_stats(&model.name);
            json!({
                "name": model.name,
                "version": model.version.to_string(),
                "last_inference": stats.last_ms,
                "inference_count": stats.rows,
                "execution_count": stats.predictions,
                "inference_stats": {
                    "success": duration(stats.predictions, stats.queue_ns + stats.compute_ns),
                    "fail": duration(stats.failures, 0),
                    "queue": duration(stats.predictions, stats.queue_ns),
                    "compute_input": duration(0, 0),
                    "compute_infer": duration(stats.predictions, stats.compute_ns),
                    "compute_output": duration(0, 0),
                    "cache_hit": duration(0, 0),
                    "cache_miss": duration(0, 0),
                },
                "batch_stats": [],
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "model_stats": stats })))
}
