//! The Open Inference Protocol v2 (KServe, Triton, MLServer), REST flavour, with Triton's
//! binary tensor extension, so `tritonclient.http` works unchanged.
//!
//! Inputs come as one tensor of shape `[rows, features]` (any name that is not a feature's),
//! or as one tensor per feature, named after it, of shape `[rows]` or `[rows, 1]`. Any numeric
//! datatype is read, and `BYTES` for categories given by name. `data` may be nested or flat,
//! or the tensor may follow the JSON header as raw little-endian bytes
//! (`Inference-Header-Content-Length` and `binary_data_size`).
//!
//! The outputs are `predict` (`INT64` or `BYTES` class labels for classifiers, `FP64`
//! otherwise), `predict_proba` and `raw` (`FP64`). An output with one column has shape
//! `[rows]`, otherwise `[rows, columns]`. An output is sent as binary when it asks for it
//! (`binary_data`) or the request does (`binary_data_output`), as `tritonclient` does by
//! default.

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use ndarray::Array2;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use verdict_model::{ClassLabel, FeatureKind, Output, Signature, Task};

use super::{Body, Decoder, expect_object, kind_of, number, resolve};
use crate::error::Error;
use crate::inference;
use crate::repository::Repository;
use crate::service::Shared;

/// The header that gives the length of the JSON part of a binary request or response.
pub(crate) const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

#[derive(Debug, Deserialize)]
#[serde(expecting = "an inference request: an object with `inputs`")]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Debug, Deserialize)]
struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

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

/// The tensor datatypes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataType {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F16,
    Bf16,
    F32,
    F64,
    Bytes,
}

impl DataType {
    /// The datatype of an input tensor, or an error at `at` that lists the known ones.
    pub(crate) fn of_input(name: &str, at: &str) -> Result<DataType, Error> {
        DataType::parse(name).ok_or_else(|| {
            Error::bad(
                at,
                format!(
                    "unknown datatype `{name}` (expected BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64 or BYTES)"
                ),
            )
        })
    }

    fn parse(name: &str) -> Option<DataType> {
        Some(match name {
            "BOOL" => DataType::Bool,
            "UINT8" => DataType::U8,
            "UINT16" => DataType::U16,
            "UINT32" => DataType::U32,
            "UINT64" => DataType::U64,
            "INT8" => DataType::I8,
            "INT16" => DataType::I16,
            "INT32" => DataType::I32,
            "INT64" => DataType::I64,
            "FP16" => DataType::F16,
            "BF16" => DataType::Bf16,
            "FP32" => DataType::F32,
            "FP64" => DataType::F64,
            "BYTES" => DataType::Bytes,
            _ => return None,
        })
    }

    /// Bytes per element in the binary layout; `BYTES` elements carry their own length.
    fn size(self) -> Option<usize> {
        match self {
            DataType::Bool | DataType::U8 | DataType::I8 => Some(1),
            DataType::U16 | DataType::I16 | DataType::F16 | DataType::Bf16 => Some(2),
            DataType::U32 | DataType::I32 | DataType::F32 => Some(4),
            DataType::U64 | DataType::I64 | DataType::F64 => Some(8),
            DataType::Bytes => None,
        }
    }

    /// The range of an integer type, or `None` for the others.
    pub(crate) fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            DataType::U8 => (0, u8::MAX.into()),
            DataType::U16 => (0, u16::MAX.into()),
            DataType::U32 => (0, u32::MAX.into()),
            DataType::U64 => (0, u64::MAX.into()),
            DataType::I8 => (i8::MIN.into(), i8::MAX.into()),
            DataType::I16 => (i16::MIN.into(), i16::MAX.into()),
            DataType::I32 => (i32::MIN.into(), i32::MAX.into()),
            DataType::I64 => (i64::MIN.into(), i64::MAX.into()),
            _ => return None,
        })
    }

    /// Rounds a value to what this type can hold (the declared type is the contract: an
    /// `FP32` input is seen as `f32` values, as Triton would hand them to a model).
    pub(crate) fn round(self, value: f64) -> f64 {
        match self {
            DataType::F32 => f64::from(value as f32),
            DataType::F16 => half::f16::from_f64(value).to_f64(),
            DataType::Bf16 => half::bf16::from_f64(value).to_f64(),
            _ => value,
        }
    }
}

/// The elements of one input tensor.
#[derive(Debug)]
pub(crate) enum Values {
    Numbers(Vec<f64>),
    Texts(Vec<String>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Numbers(v) => v.len(),
            Values::Texts(v) => v.len(),
        }
    }
}

/// One decoded input tensor, whatever the transport.
#[derive(Debug)]
pub(crate) struct Tensor<'a> {
    pub(crate) name: &'a str,
    pub(crate) shape: &'a [i64],
    pub(crate) values: Values,
}

impl<'a> Tensor<'a> {
    /// Checks `values` against the shape and the row limit: the shape is the client's word,
    /// the values are what was sent.
    pub(crate) fn new(
        decoder: &Decoder<'_>,
        name: &'a str,
        shape: &'a [i64],
        values: Values,
        at: &str,
    ) -> Result<Tensor<'a>, Error> {
        let count = element_count(shape, at)?;
        if let Some(&rows) = shape.first() {
            decoder.check_rows(rows as usize)?;
        }
        if values.len() != count {
            return Err(Error::bad(
                at,
                format!(
                    "shape {shape:?} holds {count} elements but {} were sent",
                    values.len()
                ),
            ));
        }
        Ok(Tensor {
            name,
            shape,
            values,
        })
    }
}

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
    let info = req.match_info();
    match resolve(&req, &shared, info.get("model"), info.get("version")) {
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
    let info = req.match_info();
    let model = resolve(&req, &shared, info.get("model"), info.get("version"))?;
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

fn class_json(class: &ClassLabel) -> Value {
    match class {
        ClassLabel::Int(i) => Value::from(*i),
        ClassLabel::Text(t) => Value::from(t.as_str()),
    }
}

/// `INT64` or `BYTES` labels for a classifier's `predict`, `FP64` otherwise.
pub(crate) fn output_datatype(signature: &Signature, output: Output) -> &'static str {
    match (&signature.task, output) {
        (Task::Classification { classes }, Output::Predict) => {
            if classes.iter().all(|c| matches!(c, ClassLabel::Int(_))) {
                "INT64"
            } else {
                "BYTES"
            }
        }
        _ => "FP64",
    }
}

/// `POST /v2/models/{model}[/versions/{version}]/infer`.
pub(crate) async fn infer(
    req: HttpRequest,
    shared: Data<Shared>,
    body: Body,
) -> Result<HttpResponse, Error> {
    let info = req.match_info();
    let model = resolve(&req, &shared, info.get("model"), info.get("version"))?;
    let signature = model.model.signature();
    let decoder = Decoder {
        signature,
        max_rows: shared.options.max_rows,
    };
    let Decoded {
        features,
        requested,
        id,
    } = decode(&decoder, req.headers().get(HEADER_LENGTH), &body.0)?;
    let kinds: Vec<Output> = requested.iter().map(|(o, _)| *o).collect();
    let predictions = inference::predict(&shared, &model, features, &kinds).await?;

    let mut outputs = Vec::with_capacity(requested.len());
    let mut tail = Vec::new();
    for ((output, binary), values) in requested.iter().zip(&predictions) {
        outputs.push(encode_output(
            signature, *output, values, *binary, &mut tail,
        )?);
    }
    let mut answer = Map::new();
    answer.insert("model_name".into(), model.name.as_str().into());
    answer.insert("model_version".into(), model.version.to_string().into());
    if let Some(id) = &id {
        answer.insert("id".into(), id.as_str().into());
    }
    answer.insert("outputs".into(), Value::Array(outputs));
    let header =
        serde_json::to_vec(&Value::Object(answer)).map_err(|e| Error::Internal(e.to_string()))?;
    if tail.is_empty() && !requested.iter().any(|(_, binary)| *binary) {
        return Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(header));
    }
    let header_length = header.len();
    let mut body = header;
    body.extend_from_slice(&tail);
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((HEADER_LENGTH, header_length.to_string()))
        .body(body))
}

/// An inference request, decoded.
pub(crate) struct Decoded {
    /// The feature rows, in the signature's column order.
    pub(crate) features: Array2<f64>,
    /// The outputs asked for, each with whether it is to be sent as binary.
    pub(crate) requested: Vec<(Output, bool)>,
    /// The request's `id`, echoed in the answer.
    pub(crate) id: Option<String>,
}

/// Decodes an inference request: `body` is JSON, or a JSON header of `header_length` bytes
/// (the `Inference-Header-Content-Length` header) followed by the binary tensors.
pub(crate) fn decode(
    decoder: &Decoder<'_>,
    header_length: Option<&HeaderValue>,
    body: &[u8],
) -> Result<Decoded, Error> {
    let (header, mut binary) = split_body(header_length, body)?;
    expect_object(header, "`inputs`")?;
    decoder.check_json_size(header)?;
    let request: InferRequest = serde_json::from_slice(header).map_err(|e| Error::json(&e))?;

    let mut tensors = Vec::with_capacity(request.inputs.len());
    for (i, input) in request.inputs.iter().enumerate() {
        let at = format!("inputs[{i}] (`{}`)", input.name);
        let datatype = DataType::of_input(&input.datatype, &at)?;
        let values = match binary_size(input.parameters.as_ref(), &at)? {
            Some(size) => {
                if input.data.is_some() {
                    return Err(Error::bad(
                        &at,
                        "has both `data` and `binary_data_size`; send one",
                    ));
                }
                if size > binary.len() {
                    return Err(Error::bad(
                        &at,
                        format!(
                            "`binary_data_size` is {size} bytes but only {} binary bytes remain in the body",
                            binary.len()
                        ),
                    ));
                }
                let (chunk, rest) = binary.split_at(size);
                binary = rest;
                decode_binary(datatype, chunk, &at)?
            }
            None => match &input.data {
                Some(data) => decode_json(datatype, data, &at)?,
                None => return Err(Error::bad(&at, "has no `data`")),
            },
        };
        tensors.push(Tensor::new(
            decoder,
            &input.name,
            &input.shape,
            values,
            &at,
        )?);
    }
    if !binary.is_empty() {
        return Err(Error::bad(
            "body",
            format!(
                "{} bytes follow the last binary tensor; check the inputs' `binary_data_size`",
                binary.len()
            ),
        ));
    }
    let features = assemble(decoder, &tensors)?;

    let binary_default = flag(
        request.parameters.as_ref(),
        "binary_data_output",
        "parameters",
    )?;
    let requested: Vec<(Output, bool)> = match &request.outputs {
        None => decoder
            .signature
            .outputs()
            .into_iter()
            .map(|o| (o, binary_default))
            .collect(),
        Some(outputs) => {
            let mut chosen = Vec::with_capacity(outputs.len());
            for (i, output) in outputs.iter().enumerate() {
                let at = format!("outputs[{i}]");
                let kind: Output = output
                    .name
                    .parse()
                    .map_err(|e: verdict_model::UnknownOutput| Error::bad(&at, e.to_string()))?;
                let binary = match output
                    .parameters
                    .as_ref()
                    .and_then(|p| p.get("binary_data"))
                {
                    Some(_) => flag(output.parameters.as_ref(), "binary_data", &at)?,
                    None => binary_default,
                };
                chosen.push((kind, binary));
            }
            chosen
        }
    };
    Ok(Decoded {
        features,
        requested,
        id: request.id,
    })
}

/// The JSON header and the binary tensors that follow it.
fn split_body<'a>(
    header_length: Option<&HeaderValue>,
    body: &'a [u8],
) -> Result<(&'a [u8], &'a [u8]), Error> {
    let Some(value) = header_length else {
        return Ok((body, &[]));
    };
    let length = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| {
            Error::bad(
                HEADER_LENGTH,
                format!("expected a byte count, got {value:?}"),
            )
        })?;
    if length > body.len() {
        return Err(Error::bad(
            HEADER_LENGTH,
            format!(
                "says the JSON header has {length} bytes but the body has {}",
                body.len()
            ),
        ));
    }
    Ok(body.split_at(length))
}

/// The number of elements of a shape, checked.
pub(crate) fn element_count(shape: &[i64], at: &str) -> Result<usize, Error> {
    let mut count: usize = 1;
    for &dim in shape {
        let dim = usize::try_from(dim)
            .map_err(|_| Error::bad(at, format!("shape {shape:?} has a negative dimension")))?;
        count = count
            .checked_mul(dim)
            .ok_or_else(|| Error::bad(at, format!("shape {shape:?} is too large")))?;
    }
    Ok(count)
}

/// `binary_data_size` from an input's parameters.
fn binary_size(parameters: Option<&Map<String, Value>>, at: &str) -> Result<Option<usize>, Error> {
    match parameters.and_then(|p| p.get("binary_data_size")) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| {
                Error::bad(
                    format!("{at}.parameters.binary_data_size"),
                    format!("expected a byte count, got {value}"),
                )
            }),
    }
}

/// A boolean parameter, `false` when absent.
fn flag(parameters: Option<&Map<String, Value>>, name: &str, at: &str) -> Result<bool, Error> {
    match parameters.and_then(|p| p.get(name)) {
        None => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(Error::bad(
            format!("{at}.{name}"),
            format!("expected true or false, got {}", kind_of(other)),
        )),
    }
}

/// The elements of a JSON `data` field, nested or flat, checked against the datatype.
fn decode_json(datatype: DataType, data: &Value, at: &str) -> Result<Values, Error> {
    // No reservation from the shape: it is the client's word, not the data's size.
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    if datatype == DataType::Bytes {
        let mut texts = Vec::with_capacity(flat.len());
        for (i, value) in flat.into_iter().enumerate() {
            match value {
                Value::String(text) => texts.push(text.clone()),
                other => {
                    return Err(Error::bad(
                        format!("{at}.data[{i}]"),
                        format!("a BYTES tensor holds texts, got {}", kind_of(other)),
                    ));
                }
            }
        }
        return Ok(Values::Texts(texts));
    }
    let mut numbers = Vec::with_capacity(flat.len());
    for (i, value) in flat.into_iter().enumerate() {
        let wrong = |what: &str| {
            Error::bad(
                format!("{at}.data[{i}]"),
                format!(
                    "a {} tensor holds {what}, got {value}",
                    datatype_name(datatype)
                ),
            )
        };
        let number = match (datatype, value) {
            (DataType::Bool, Value::Bool(flag)) => f64::from(u8::from(*flag)),
            (DataType::Bool, _) => return Err(wrong("true or false")),
            // JSON has no NaN: `null` stands for a missing value in floating-point tensors.
            (DataType::F16 | DataType::Bf16 | DataType::F32 | DataType::F64, Value::Null) => {
                f64::NAN
            }
            (DataType::F16 | DataType::Bf16 | DataType::F32 | DataType::F64, Value::Number(n)) => {
                datatype.round(n.as_f64().unwrap_or(f64::NAN))
            }
            (_, Value::Number(n)) => {
                let (low, high) = datatype.integer_range().unwrap_or((0, 0));
                let integer = n
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
                    .filter(|v| (low..=high).contains(v))
                    .ok_or_else(|| wrong("integers in its range"))?;
                integer as f64
            }
            _ => return Err(wrong("numbers")),
        };
        numbers.push(number);
    }
    Ok(Values::Numbers(numbers))
}

pub(crate) fn datatype_name(datatype: DataType) -> &'static str {
    match datatype {
        DataType::Bool => "BOOL",
        DataType::U8 => "UINT8",
        DataType::U16 => "UINT16",
        DataType::U32 => "UINT32",
        DataType::U64 => "UINT64",
        DataType::I8 => "INT8",
        DataType::I16 => "INT16",
        DataType::I32 => "INT32",
        DataType::I64 => "INT64",
        DataType::F16 => "FP16",
        DataType::Bf16 => "BF16",
        DataType::F32 => "FP32",
        DataType::F64 => "FP64",
        DataType::Bytes => "BYTES",
    }
}

/// Row-major leaves of nested arrays.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        leaf => out.push(leaf),
    }
}

/// The elements of a binary tensor: little-endian, row-major, no padding; `BYTES` elements
/// are a 4-byte length followed by their bytes.
pub(crate) fn decode_binary(datatype: DataType, bytes: &[u8], at: &str) -> Result<Values, Error> {
    let Some(size) = datatype.size() else {
        let mut texts = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some((length, tail)) = rest.split_first_chunk::<4>() else {
                return Err(Error::bad(
                    at,
                    format!(
                        "BYTES element {} has a truncated length prefix",
                        texts.len()
                    ),
                ));
            };
            let length = u32::from_le_bytes(*length) as usize;
            if length > tail.len() {
                return Err(Error::bad(
                    at,
                    format!(
                        "BYTES element {} claims {length} bytes but {} remain",
                        texts.len(),
                        tail.len()
                    ),
                ));
            }
            let (text, tail) = tail.split_at(length);
            let text = std::str::from_utf8(text).map_err(|_| {
                Error::bad(
                    at,
                    format!("BYTES element {} is not UTF-8 text", texts.len()),
                )
            })?;
            texts.push(text.to_owned());
            rest = tail;
        }
        return Ok(Values::Texts(texts));
    };
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::bad(
            at,
            format!(
                "{} binary bytes are not a whole number of {}-byte {} elements",
                bytes.len(),
                size,
                datatype_name(datatype)
            ),
        ));
    }
    let numbers = bytes
        .chunks_exact(size)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..size].copy_from_slice(chunk);
            let bits = u64::from_le_bytes(word);
            match datatype {
                DataType::Bool => f64::from(u8::from(bits != 0)),
                DataType::U8 | DataType::U16 | DataType::U32 | DataType::U64 => bits as f64,
                DataType::I8 => f64::from(bits as u8 as i8),
                DataType::I16 => f64::from(bits as u16 as i16),
                DataType::I32 => f64::from(bits as u32 as i32),
                DataType::I64 => bits as i64 as f64,
                DataType::F16 => half::f16::from_bits(bits as u16).to_f64(),
                DataType::Bf16 => half::bf16::from_bits(bits as u16).to_f64(),
                DataType::F32 => f64::from(f32::from_bits(bits as u32)),
                DataType::F64 | DataType::Bytes => f64::from_bits(bits),
            }
        })
        .collect();
    Ok(Values::Numbers(numbers))
}

/// The feature matrix from the decoded input tensors.
pub(crate) fn assemble(
    decoder: &Decoder<'_>,
    tensors: &[Tensor<'_>],
) -> Result<Array2<f64>, Error> {
    let signature = decoder.signature;
    let width = signature.num_features();
    if let [tensor] = tensors
        && signature.feature_index(tensor.name).is_none()
    {
        // One tensor holding every feature: [rows, features].
        let at = format!("inputs[0] (`{}`)", tensor.name);
        let rows = match tensor.shape {
            &[rows, columns] if columns as usize == width => rows as usize,
            shape => {
                return Err(Error::bad(
                    at,
                    format!(
                        "shape {shape:?} does not match the model, which takes [rows, {width}] ({}); or send one tensor per feature, named after it",
                        decoder.feature_list()
                    ),
                ));
            }
        };
        let data = match &tensor.values {
            Values::Numbers(numbers) => numbers.clone(),
            Values::Texts(texts) => texts
                .iter()
                .enumerate()
                .map(|(i, text)| decoder.text(i % width, text, &format!("{at} row {}", i / width)))
                .collect::<Result<Vec<_>, _>>()?,
        };
        return Array2::from_shape_vec((rows, width), data)
            .map_err(|e| Error::Internal(e.to_string()));
    }

    // One tensor per feature, named after it.
    let mut columns: Vec<Option<(usize, &Values)>> = vec![None; width];
    let mut rows = None;
    for (i, tensor) in tensors.iter().enumerate() {
        let at = format!("inputs[{i}] (`{}`)", tensor.name);
        let Some(feature) = signature.feature_index(tensor.name) else {
            return Err(Error::bad(
                at,
                format!(
                    "is not a feature of the model (it takes {}); send one tensor of shape [rows, {width}], or one tensor per feature",
                    decoder.feature_list()
                ),
            ));
        };
        let length = match tensor.shape {
            &[rows] | &[rows, 1] => rows as usize,
            shape => {
                return Err(Error::bad(
                    at,
                    format!(
                        "a feature's tensor must have shape [rows] or [rows, 1], got {shape:?}"
                    ),
                ));
            }
        };
        if *rows.get_or_insert(length) != length {
            return Err(Error::bad(
                at,
                format!(
                    "has {length} rows but the tensors before it have {}",
                    rows.unwrap_or(0)
                ),
            ));
        }
        if columns[feature].replace((i, &tensor.values)).is_some() {
            return Err(Error::bad(at, "repeats a feature"));
        }
    }
    let rows = rows.unwrap_or(0);
    let mut matrix = Array2::zeros((rows, width));
    for (f, column) in columns.iter().enumerate() {
        let Some((i, values)) = column else {
            return Err(
                decoder.missing_features("inputs", |name| tensors.iter().any(|t| t.name == name))
            );
        };
        match values {
            Values::Numbers(numbers) => matrix
                .column_mut(f)
                .assign(&ndarray::ArrayView1::from(numbers)),
            Values::Texts(texts) => {
                for (r, text) in texts.iter().enumerate() {
                    matrix[[r, f]] = decoder.text(f, text, &format!("inputs[{i}] row {r}"))?;
                }
            }
        }
    }
    Ok(matrix)
}

/// The shape of an output tensor of `rows` rows (`-1` in metadata): `[rows]` for one column,
/// `[rows, width]` for more, and `[rows, outputs, features + 1]` for the contributions of a
/// model with several raw outputs (the data is row-major either way).
pub(crate) fn output_shape(signature: &Signature, output: Output, rows: i64) -> Vec<i64> {
    let width = signature.output_width(output).unwrap_or(1) as i64;
    match output {
        Output::Contribs if signature.raw_width > 1 => vec![
            rows,
            signature.raw_width as i64,
            signature.num_features() as i64 + 1,
        ],
        Output::Contribs => vec![rows, width],
        _ if width == 1 => vec![rows],
        _ => vec![rows, width],
    }
}

/// The class labels of a classifier's `predict` values.
fn labels(signature: &Signature, values: &Array2<f64>) -> Result<Vec<ClassLabel>, Error> {
    values
        .iter()
        .map(|&index| {
            signature.class_label(index).cloned().ok_or_else(|| {
                Error::Internal(format!(
                    "the model predicted class index {index}, which is not one of its classes"
                ))
            })
        })
        .collect()
}

/// Appends an output's elements to `tail` in the binary layout of its datatype (see
/// [`output_datatype`]): little-endian, row-major, `BYTES` elements length-prefixed.
pub(crate) fn write_binary(
    signature: &Signature,
    output: Output,
    values: &Array2<f64>,
    tail: &mut Vec<u8>,
) -> Result<(), Error> {
    let datatype = output_datatype(signature, output);
    if datatype == "FP64" {
        for &value in values {
            tail.extend_from_slice(&value.to_le_bytes());
        }
        return Ok(());
    }
    for label in labels(signature, values)? {
        match label {
            ClassLabel::Int(i) if datatype == "INT64" => tail.extend_from_slice(&i.to_le_bytes()),
            other => {
                let text = other.to_string();
                tail.extend_from_slice(&(text.len() as u32).to_le_bytes());
                tail.extend_from_slice(text.as_bytes());
            }
        }
    }
    Ok(())
}

/// One output tensor's JSON, with its data inline or appended to `tail` as binary.
fn encode_output(
    signature: &Signature,
    output: Output,
    values: &Array2<f64>,
    binary: bool,
    tail: &mut Vec<u8>,
) -> Result<Value, Error> {
    let datatype = output_datatype(signature, output);
    let mut tensor = Map::new();
    tensor.insert("name".into(), output.name().into());
    tensor.insert("datatype".into(), datatype.into());
    tensor.insert(
        "shape".into(),
        output_shape(signature, output, values.nrows() as i64).into(),
    );
    if binary {
        let start = tail.len();
        write_binary(signature, output, values, tail)?;
        tensor.insert(
            "parameters".into(),
            json!({ "binary_data_size": tail.len() - start }),
        );
    } else {
        let data: Value = match datatype {
            "INT64" => labels(signature, values)?.iter().map(class_json).collect(),
            "BYTES" => labels(signature, values)?
                .iter()
                .map(|l| Value::from(l.to_string()))
                .collect(),
            _ => values.iter().map(|&v| number(v)).collect(),
        };
        tensor.insert("data".into(), data);
    }
    Ok(Value::Object(tensor))
}

/// One model version in the repository index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) name: String,
    pub(crate) version: String,
    /// `READY` or `UNAVAILABLE`.
    pub(crate) state: &'static str,
    /// Why it is not ready (`unloaded`, a load error), or empty.
    pub(crate) reason: String,
}

/// Every model version and its state; only the ready ones with `ready_only`.
pub(crate) fn index(repository: &Repository, ready_only: bool) -> Vec<IndexEntry> {
    let mut index = Vec::new();
    for model in repository.models() {
        for version in &model.versions {
            let ready = !model.unloaded && version.model.is_some();
            if ready_only && !ready {
                continue;
            }
            let reason = if model.unloaded {
                "unloaded".to_owned()
            } else {
                version.error.clone().unwrap_or_default()
            };
            index.push(IndexEntry {
                name: model.name.clone(),
                version: version.version.to_string(),
                state: if ready { "READY" } else { "UNAVAILABLE" },
                reason,
            });
        }
    }
    index
}

#[derive(Debug, Default, Deserialize)]
struct IndexRequest {
    #[serde(default)]
    ready: bool,
}

/// `POST /v2/repository/index`: every model version and its state.
pub(crate) async fn repository_index(
    shared: Data<Shared>,
    body: Body,
) -> Result<HttpResponse, Error> {
    let request: IndexRequest = if body.0.iter().all(u8::is_ascii_whitespace) {
        IndexRequest::default()
    } else {
        serde_json::from_slice(&body.0).map_err(|e| Error::json(&e))?
    };
    let index: Vec<Value> = index(&shared.repository, request.ready)
        .into_iter()
        .map(|entry| {
            json!({
                "name": entry.name,
                "version": entry.version,
                "state": entry.state,
                "reason": entry.reason,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(index))
}

/// `POST /v2/repository/models/{model}/load`: (re)loads the model from its files.
pub(crate) async fn repository_load(
    req: HttpRequest,
    shared: Data<Shared>,
) -> Result<HttpResponse, Error> {
    let name = req.match_info().get("model").unwrap_or_default().to_owned();
    load(&shared.repository, name).await?;
    Ok(HttpResponse::Ok().finish())
}

/// (Re)loads a model from its files on the blocking pool: reading and parsing a model file
/// takes milliseconds to seconds, too long for an event loop.
pub(crate) async fn load(
    repository: &std::sync::Arc<Repository>,
    name: String,
) -> Result<(), Error> {
    let repository = std::sync::Arc::clone(repository);
    tokio::task::spawn_blocking(move || repository.load(&name))
        .await
        .map_err(|e| Error::Internal(format!("the loading thread failed: {e}")))?
}

/// `POST /v2/repository/models/{model}/unload`.
pub(crate) async fn repository_unload(
    req: HttpRequest,
    shared: Data<Shared>,
) -> Result<HttpResponse, Error> {
    let name = req.match_info().get("model").unwrap_or_default();
    shared.repository.unload(name)?;
    Ok(HttpResponse::Ok().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_numbers_are_little_endian() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1.5f32.to_le_bytes());
        bytes.extend_from_slice(&(-2.0f32).to_le_bytes());
        let Values::Numbers(numbers) = decode_binary(DataType::F32, &bytes, "t").unwrap() else {
            panic!("numbers expected");
        };
        assert_eq!(numbers, vec![1.5, -2.0]);
        let Values::Numbers(numbers) =
            decode_binary(DataType::I16, &[0xff, 0xff, 2, 0], "t").unwrap()
        else {
            panic!("numbers expected");
        };
        assert_eq!(numbers, vec![-1.0, 2.0]);
        assert!(decode_binary(DataType::F64, &[0; 7], "t").is_err());
    }

    #[test]
    fn binary_bytes_carry_their_length() {
        let bytes = [3, 0, 0, 0, b'r', b'e', b'd', 0, 0, 0, 0];
        let Values::Texts(texts) = decode_binary(DataType::Bytes, &bytes, "t").unwrap() else {
            panic!("texts expected");
        };
        assert_eq!(texts, vec!["red".to_owned(), String::new()]);
        assert!(decode_binary(DataType::Bytes, &[9, 0, 0, 0, b'x'], "t").is_err());
        assert!(decode_binary(DataType::Bytes, &[1, 0], "t").is_err());
    }

    #[test]
    fn json_data_is_checked_against_the_datatype() {
        let data = json!([[1, 2], [3, 4]]);
        let Values::Numbers(numbers) = decode_json(DataType::I32, &data, "t").unwrap() else {
            panic!("numbers expected");
        };
        assert_eq!(numbers, vec![1.0, 2.0, 3.0, 4.0]);
        let error = decode_json(DataType::U8, &json!([300]), "t").unwrap_err();
        assert_eq!(
            error.to_string(),
            "t.data[0]: a UINT8 tensor holds integers in its range, got 300"
        );
        assert!(decode_json(DataType::I64, &json!([1.5]), "t").is_err());
        assert!(decode_json(DataType::Bool, &json!([1]), "t").is_err());
        assert!(decode_json(DataType::Bytes, &json!([1]), "t").is_err());
        let Values::Numbers(numbers) =
            decode_json(DataType::F32, &json!([0.1, null]), "t").unwrap()
        else {
            panic!("numbers expected");
        };
        assert_eq!(numbers[0], f64::from(0.1f32));
        assert!(numbers[1].is_nan());
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(element_count(&[2, 3], "t").unwrap(), 6);
        assert!(element_count(&[-1, 3], "t").is_err());
        assert!(element_count(&[i64::MAX, i64::MAX], "t").is_err());
    }
}
