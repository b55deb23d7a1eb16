//! `POST /v2/models/{model}[/versions/{version}]/infer`: the request (a JSON header, then
//! binary tensors when `Inference-Header-Content-Length` says so), decoded by the codec,
//! predicted, and the outputs encoded as asked.

use actix_web::http::header::HeaderValue;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use ndarray::Array2;
use serde::Deserialize;
use serde_json::{Map, Value};
use verdict_model::Output;

use super::codec::{DataType, Tensor, assemble, decode_binary, decode_json, encode_output};
use crate::error::Error;
use crate::inference;
use crate::protocol::{Body, Decoder, expect_object, kind_of, resolve_route};
use crate::state::Shared;

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

/// `POST /v2/models/{model}[/versions/{version}]/infer`.
pub(crate) async fn infer(
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
