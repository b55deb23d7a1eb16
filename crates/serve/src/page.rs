//! `GET /`: a page for people, listing the models and their signatures with a form that calls
//! the API; and `GET /openapi.json`, which describes the simple and MLflow routes.

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};
use verdict_model::{FeatureKind, Signature};

use crate::state::Shared;

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A request body that fits the signature, to start from in the form.
fn example_body(signature: &Signature) -> String {
    let value = |kind: &FeatureKind| match kind {
        FeatureKind::Categorical { categories } if !categories.is_empty() => {
            Value::from(categories[0].as_str())
        }
        _ => Value::from(0.0),
    };
    let body = if signature.num_features() <= 12 && !signature.positional {
        let row: Map<String, Value> = signature
            .features
            .iter()
            .map(|f| (f.name.clone(), value(&f.kind)))
            .collect();
        json!({ "input": row, "outputs": signature.outputs() })
    } else {
        let row: Vec<Value> = signature.features.iter().map(|f| value(&f.kind)).collect();
        json!({ "input": row, "outputs": signature.outputs() })
    };
    serde_json::to_string_pretty(&body).unwrap_or_default()
}

/// True when the client asks for a page (a browser), not for data.
fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// `GET /`: the page for browsers; for other clients KServe's v1 liveness answer,
/// `{"status": "alive"}`.
///
/// It needs no token: a browser cannot send one when it opens a page. With a token set, the
/// page lists nothing itself; its script asks for the models with the token typed into it.
pub(crate) async fn index(req: HttpRequest, shared: Data<Shared>) -> HttpResponse {
    if !wants_html(&req) {
        return HttpResponse::Ok().json(json!({ "status": "alive" }));
    }
    let mut models = String::new();
    let mut options = String::new();
    if shared.options.token.is_some() {
        models.push_str(
            "<p id=locked>This server needs a token: enter it in the form below to list the models.</p>",
        );
        return page(&models, &options, true);
    }
    for status in shared.repository.models() {
        let name = escape(&status.name);
        let versions: Vec<String> = status
            .versions
            .iter()
            .map(|v| v.version.to_string())
            .collect();
        let state = if status.is_ready() {
            "ready"
        } else {
            "unavailable"
        };
        let _ = write!(
            models,
            "<section><h2>{name} <small>versions {} &middot; {state}</small></h2>",
            escape(&versions.join(", "))
        );
        if let Some(reason) = status.reason() {
            let _ = write!(models, "<p class=error>{}</p>", escape(&reason));
        }
        if let Some(model) = status.latest() {
            let signature = model.model.signature();
            let mut task = signature.task.name().to_owned();
            if let Some(classes) = signature.classes() {
                let names: Vec<String> = classes.iter().map(ToString::to_string).collect();
                let _ = write!(task, " ({})", names.join(", "));
            }
            let _ = write!(
                models,
                "<p>{} &middot; {} &middot; from {} {}</p>",
                escape(&model.family),
                escape(&task),
                escape(&model.info.source.library),
                escape(&model.info.source.library_version)
            );
            let outputs: Vec<String> = signature
                .outputs()
                .into_iter()
                .map(|o| format!("{o}: {}", signature.output_columns(o).join(", ")))
                .collect();
            let _ = write!(models, "<p>outputs: {}</p>", escape(&outputs.join("; ")));
            models.push_str("<table><tr><th>#</th><th>feature</th><th>kind</th></tr>");
            for (i, feature) in signature.features.iter().enumerate() {
                let kind = match &feature.kind {
                    FeatureKind::Numeric => "numeric".to_owned(),
                    FeatureKind::Unused => "unused: any value, never read".to_owned(),
                    FeatureKind::HashedCategory => "categorical (CatBoost, any text)".to_owned(),
                    FeatureKind::Categorical { categories } if categories.is_empty() => {
                        "categorical (codes)".to_owned()
                    }
                    FeatureKind::Categorical { categories } => {
                        format!("categorical: {}", categories.join(", "))
                    }
                };
                let _ = write!(
                    models,
                    "<tr><td>{i}</td><td>{}</td><td>{}</td></tr>",
                    escape(&feature.name),
                    escape(&kind)
                );
            }
            models.push_str("</table>");
            let _ = write!(
                options,
                "<option value=\"{name}\" data-example=\"{}\">{name}</option>",
                escape(&example_body(signature))
            );
        }
        models.push_str("</section>");
    }
    page(&models, &options, false)
}

fn page(models: &str, options: &str, locked: bool) -> HttpResponse {
    let page = PAGE
        .replace("{{models}}", models)
        .replace("{{options}}", options)
        .replace("{{locked}}", if locked { "true" } else { "false" })
        .replace("{{version}}", env!("CARGO_PKG_VERSION"));
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page)
}

const PAGE: &str = r#"<!doctype html>
<html lang=en><head><meta charset=utf-8><title>Verdict</title>
<meta name=viewport content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1 small,h2 small{color:#777;font-weight:normal;font-size:.7em}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border-bottom:1px solid #ddd;padding:.15rem .6rem;text-align:left}
textarea{width:100%;height:12rem;font:13px monospace}pre{background:#f5f5f5;padding:.75rem;overflow:auto}
.error{color:#a00}section{margin-bottom:1.5rem}
</style></head><body>
<h1>Verdict <small>{{version}}</small></h1>
<p>Routes: <code>POST /predict</code>, <code>POST /models/{name}/predict</code>,
Open Inference Protocol v2 under <code>/v2</code>, MLflow <code>POST /invocations</code>,
<code>GET /metrics</code>, <a href="docs">API docs</a> (<a href="openapi.json">openapi.json</a>).</p>
{{models}}
<h2>Try it</h2>
<form id=try>
<p><label>Model <select id=model>{{options}}</select></label>
<label>Token <input id=token type=password placeholder="if the server needs one"></label></p>
<textarea id=body spellcheck=false></textarea>
<p><button>Predict</button></p>
</form>
<pre id=answer></pre>
<script>
const model = document.getElementById('model'), body = document.getElementById('body');
const tokenField = document.getElementById('token');
const fill = () => { const o = model.selectedOptions[0]; if (o) body.value = o.dataset.example; };
model.addEventListener('change', fill); fill();
// With a token, the server renders no models: list them with the token the user types.
const locked = {{locked}};
const auth = () => tokenField.value ? {'Authorization': 'Bearer ' + tokenField.value} : {};
async function unlock() {
  const listed = await fetch('v1/models', {headers: auth()});
  if (!listed.ok) { document.getElementById('locked').textContent = 'The token was refused (' + listed.status + ').'; return; }
  model.replaceChildren();
  for (const name of (await listed.json()).models) {
    const meta = await (await fetch('v2/models/' + encodeURIComponent(name), {headers: auth()})).json();
    const row = {};
    for (const feature of meta.parameters.features) row[feature] = 0;
    const option = new Option(name, name);
    option.dataset.example = JSON.stringify({input: row}, null, 2);
    model.append(option);
  }
  document.getElementById('locked').textContent = 'Models: ' + [...model.options].map(o => o.value).join(', ');
  fill();
}
if (locked) tokenField.addEventListener('change', unlock);
document.getElementById('try').addEventListener('submit', async (event) => {
  event.preventDefault();
  const headers = {'Content-Type': 'application/json', ...auth()};
  const answer = document.getElementById('answer');
  const response = await fetch('models/' + encodeURIComponent(model.value) + '/predict',
    {method: 'POST', headers, body: body.value});
  const text = await response.text();
  let shown = text;
  try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) {}
  answer.textContent = response.status + ' ' + response.statusText + '\n' + shown;
});
</script>
</body></html>
"#;

/// The KServe v1, Open Inference Protocol v2 and admin routes of `/openapi.json`.
fn open_inference_paths(errors: &Value) -> Vec<(&'static str, Value)> {
    let name =
        json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } });
    let version = json!({ "name": "version", "in": "path", "required": true, "schema": { "type": "string" } });
    let json_answer = |description: &str, schema: &str| {
        let mut responses = errors.clone();
        responses["200"] = json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
        responses
    };
    let get = |summary: &str, params: &[&Value], schema: &str| json!({ "get": { "summary": summary, "parameters": params, "responses": json_answer(summary, schema) } });
    let public = |summary: &str, params: &[&Value]| json!({ "get": { "summary": summary, "security": [], "parameters": params, "responses": json_answer(summary, "Json") } });
    let post = |summary: &str, params: &[&Value], request: &str, response: &str| {
        json!({ "post": {
            "summary": summary,
            "parameters": params,
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{request}") } } } },
            "responses": json_answer(summary, response),
        } })
    };
    let repository = |summary: &str, params: &[&Value]| json!({ "post": { "summary": summary, "parameters": params, "responses": json_answer(summary, "Json") } });
    vec![
        (
            "/",
            public(
                "The page for browsers (Accept: text/html); otherwise KServe's v1 liveness, {\"status\": \"alive\"}",
                &[],
            ),
        ),
        ("/docs", public("This interactive documentation", &[])),
        (
            "/metrics",
            json!({ "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "The exposition text", "content": { "text/plain": { "schema": { "type": "string" } } } } } } }),
        ),
        (
            "/v1/models",
            get("KServe v1: the models serving", &[], "Json"),
        ),
        (
            "/v1/models/{name}",
            get("KServe v1: a model's readiness", &[&name], "Json"),
        ),
        (
            "/v1/models/{name}:predict",
            post(
                "KServe v1: predict with instances",
                &[&name],
                "V1Request",
                "V1Response",
            ),
        ),
        ("/v2", get("Server metadata", &[], "Json")),
        (
            "/v2/health/live",
            public("{\"live\": true} while the process runs", &[]),
        ),
        (
            "/v2/health/ready",
            public(
                "{\"ready\": true} when every model serves (400 otherwise)",
                &[],
            ),
        ),
        (
            "/v2/models/stats",
            get("Triton's statistics of every model", &[], "Json"),
        ),
        ("/v2/models/{name}", get("Model metadata", &[&name], "Json")),
        (
            "/v2/models/{name}/ready",
            public("Model readiness", &[&name]),
        ),
        (
            "/v2/models/{name}/infer",
            post(
                "Inference (JSON; binary tensors with Inference-Header-Content-Length)",
                &[&name],
                "InferRequest",
                "InferResponse",
            ),
        ),
        (
            "/v2/models/{name}/config",
            get("Triton's model configuration", &[&name], "Json"),
        ),
        (
            "/v2/models/{name}/stats",
            get("Triton's statistics of a model", &[&name], "Json"),
        ),
        (
            "/v2/models/{name}/versions/{version}",
            get("Model metadata of a version", &[&name, &version], "Json"),
        ),
        (
            "/v2/models/{name}/versions/{version}/ready",
            public("Readiness of a version", &[&name, &version]),
        ),
        (
            "/v2/models/{name}/versions/{version}/infer",
            post(
                "Inference with a version",
                &[&name, &version],
                "InferRequest",
                "InferResponse",
            ),
        ),
        (
            "/v2/repository/index",
            repository("Every model version and its state", &[]),
        ),
        (
            "/v2/repository/models/{name}/load",
            repository("(Re)load a model from its files", &[&name]),
        ),
        (
            "/v2/repository/models/{name}/unload",
            repository("Unload a model", &[&name]),
        ),
    ]
}

/// `GET /docs`: the routes of `/openapi.json`, each with a form that calls it. Self-contained
/// (no script from elsewhere), so it works where the server has no internet.
pub(crate) async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(DOCS.replace("{{version}}", env!("CARGO_PKG_VERSION")))
}

const DOCS: &str = r#"<!doctype html>
<html lang=en><head><meta charset=utf-8><title>Verdict API</title>
<meta name=viewport content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
h1 small{color:#777;font-weight:normal;font-size:.6em}details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code.m{display:inline-block;width:3.5rem;font-weight:bold}textarea{width:100%;height:8rem;font:13px monospace}
pre{background:#f5f5f5;padding:.6rem;overflow:auto;max-height:24rem}input{font:13px monospace}
</style></head><body>
<h1>Verdict API <small>{{version}}</small></h1>
<p>Every route of <a href="openapi.json">openapi.json</a>. Open one, fill in its path, send it.
<label>Token <input id=token type=password placeholder="if the server needs one"></label></p>
<div id=routes>loading openapi.json...</div>
<script>
const token = document.getElementById('token');
const element = (tag, props, ...children) => { const e = Object.assign(document.createElement(tag), props); e.append(...children); return e; };
function example(spec, operation) {
  const ref = operation.requestBody?.content?.['application/json']?.schema?.$ref;
  const schema = ref && spec.components.schemas[ref.split('/').pop()];
  return schema?.example ? JSON.stringify(schema.example, null, 2) : '{}';
}
async function load() {
  const headers = token.value ? {'Authorization': 'Bearer ' + token.value} : {};
  const answer = await fetch('openapi.json', {headers});
  const routes = document.getElementById('routes');
  if (!answer.ok) { routes.textContent = 'openapi.json answered ' + answer.status + (token.value ? '' : ': enter the token above'); return; }
  const spec = await answer.json();
  routes.replaceChildren(element('p', {textContent: spec.info.description}));
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const url = element('input', {value: path.slice(1), size: 60});
      const body = element('textarea', {value: example(spec, operation), spellcheck: false});
      const out = element('pre');
      const send = element('button', {textContent: 'Send', type: 'button'});
      send.onclick = async () => {
        const headers = token.value ? {'Authorization': 'Bearer ' + token.value} : {};
        const init = {method: method.toUpperCase(), headers};
        if (method === 'post') { headers['Content-Type'] = 'application/json'; init.body = body.value; }
        const response = await fetch(url.value, init);
        const text = await response.text();
        let shown = text; try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) {}
        out.textContent = response.status + ' ' + response.statusText + '
' + shown;
      };
      const parts = [element('summary', {}, element('code', {className: 'm', textContent: method.toUpperCase()}), element('code', {textContent: path}), ' ', operation.summary || ''),
        element('p', {}, 'Path: /', url)];
      if (method === 'post') parts.push(body);
      parts.push(element('p', {}, send), out);
      routes.append(element('details', {}, ...parts));
    }
  }
}
token.addEventListener('change', load); load();
</script>
</body></html>
"#;

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> HttpResponse {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let error_responses = json!({
        "400": { "description": "The request does not fit the protocol or the model", "content": { "application/json": { "schema": error } } },
        "401": { "description": "Missing or wrong bearer token", "content": { "application/json": { "schema": error } } },
        "404": { "description": "Unknown model", "content": { "application/json": { "schema": error } } },
        "413": { "description": "Body or row count over the limit", "content": { "application/json": { "schema": error } } },
        "503": {
            "description": "The model is not loaded, or the batch queue is full (then with Retry-After)",
            "headers": { "Retry-After": { "description": "Seconds to wait before retrying, when the batch queue is full", "schema": { "type": "integer" } } },
            "content": { "application/json": { "schema": error } },
        },
        "504": { "description": "The request took longer than the timeout", "content": { "application/json": { "schema": error } } },
    });
    let mut mlflow_errors = error_responses.clone();
    if let Value::Object(responses) = &mut mlflow_errors {
        for response in responses.values_mut() {
            response["content"]["application/json"]["schema"] =
                json!({ "$ref": "#/components/schemas/MlflowError" });
        }
        responses.insert(
            "415".into(),
            json!({ "description": "Neither JSON nor CSV", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/MlflowError" } } } }),
        );
    }
    let simple = |summary: &str| {
        let mut responses = error_responses.clone();
        responses["200"] = json!({ "description": "The predictions", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PredictResponse" } } } });
        json!({
            "summary": summary,
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PredictRequest" } } } },
            "responses": responses,
        })
    };
    let mut invocations_responses = mlflow_errors;
    invocations_responses["200"] = json!({ "description": "The predictions", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/MlflowResponse" } } } });
    let invocations = json!({
        "summary": "MLflow scoring with the only model served (or the default model)",
        "requestBody": { "required": true, "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/MlflowRequest" } },
            "text/csv": { "schema": { "type": "string", "description": "CSV with a header line naming the features" } }
        } },
        "responses": invocations_responses
    });
    let mut named_invocations = invocations.clone();
    named_invocations["summary"] = json!("MLflow scoring with a named model");
    named_invocations["parameters"] =
        json!([{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }]);
    let mut named = simple("Predict with a named model");
    named["parameters"] =
        json!([{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }]);
    let document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Verdict inference server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The simple JSON protocol, KServe's v1 protocol, the Open Inference Protocol v2 (REST, with Triton's binary tensor, repository, model configuration and statistics extensions) and MLflow's scoring protocol. The same protocol over gRPC (inference.GRPCInferenceService) is on the port given with --grpc-port."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "MlflowError": { "type": "object", "required": ["error_code", "message"], "properties": { "error_code": { "type": "string", "example": "BAD_REQUEST" }, "message": { "type": "string" } } },
                "Row": {
                    "description": "Feature values in the model's order, or an object keyed by feature name. Numbers, null (missing) or texts (category names).",
                    "oneOf": [ { "type": "array", "items": {} }, { "type": "object", "additionalProperties": {} } ]
                },
                "PredictRequest": {
                    "type": "object",
                    "description": "Exactly one of input, inputs or instances.",
                    "properties": {
                        "input": { "$ref": "#/components/schemas/Row" },
                        "inputs": { "type": "array", "items": { "$ref": "#/components/schemas/Row" } },
                        "instances": { "type": "array", "items": { "$ref": "#/components/schemas/Row" } },
                        "outputs": { "type": "array", "items": { "type": "string", "enum": ["predict", "predict_proba", "raw"] } }
                    },
                    "example": { "input": [5.1, 3.5, 1.4, 0.2], "outputs": ["predict", "predict_proba"] }
                },
                "PredictResponse": {
                    "type": "object",
                    "properties": {
                        "model": { "type": "string" },
                        "version": { "type": "string" },
                        "prediction": { "type": "array", "description": "One entry per row: the class label for classifiers, the value otherwise, or an object of target values.", "items": {} },
                        "predict_proba": { "type": "array", "description": "One object per row, keyed proba_<class>.", "items": { "type": "object", "additionalProperties": { "type": "number" } } },
                        "raw": { "type": "array", "description": "One entry per row: the margin, or an object keyed raw_<k>.", "items": {} }
                    }
                },
                "MlflowRequest": {
                    "type": "object",
                    "description": "Exactly one of dataframe_split, dataframe_records, instances or inputs; params.output picks predict (default), predict_proba or raw.",
                    "properties": {
                        "dataframe_split": { "type": "object", "properties": { "columns": { "type": "array", "items": { "type": "string" } }, "data": { "type": "array", "items": { "type": "array", "items": {} } }, "index": { "type": "array", "items": {} } } },
                        "dataframe_records": { "type": "array", "items": { "type": "object", "additionalProperties": {} } },
                        "instances": { "type": "array", "items": { "$ref": "#/components/schemas/Row" } },
                        "inputs": { "oneOf": [ { "type": "array", "items": { "$ref": "#/components/schemas/Row" } }, { "type": "object", "additionalProperties": { "type": "array", "items": {} } } ] },
                        "params": { "type": "object", "properties": { "output": { "type": "string", "enum": ["predict", "predict_proba", "raw"] } } }
                    }
                },
                "MlflowResponse": { "type": "object", "properties": { "predictions": { "type": "array", "items": {} } } },
                "V1Request": { "type": "object", "description": "Exactly one of instances or inputs.", "properties": { "instances": { "type": "array", "items": { "$ref": "#/components/schemas/Row" } }, "inputs": { "type": "array", "items": { "$ref": "#/components/schemas/Row" } } }, "example": { "instances": [[5.1, 3.5, 1.4, 0.2]] } },
                "V1Response": { "type": "object", "properties": { "predictions": { "type": "array", "description": "The predict output, one entry per row", "items": {} } } },
                "Tensor": {
                    "type": "object",
                    "required": ["name", "shape", "datatype"],
                    "properties": {
                        "name": { "type": "string" },
                        "shape": { "type": "array", "items": { "type": "integer" } },
                        "datatype": { "type": "string", "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64", "BYTES"] },
                        "parameters": { "type": "object", "description": "binary_data_size (inputs), binary_data (requested outputs)", "additionalProperties": {} },
                        "data": { "description": "Row-major elements, nested or flat", "type": "array", "items": {} }
                    }
                },
                "InferRequest": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": { "type": "string" },
                        "parameters": { "type": "object", "additionalProperties": {} },
                        "inputs": { "type": "array", "items": { "$ref": "#/components/schemas/Tensor" } },
                        "outputs": { "type": "array", "items": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string", "enum": ["predict", "predict_proba", "raw"] }, "parameters": { "type": "object", "additionalProperties": {} } } } }
                    },
                    "example": { "inputs": [{ "name": "input", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2] }] }
                },
                "InferResponse": {
                    "type": "object",
                    "properties": {
                        "model_name": { "type": "string" },
                        "model_version": { "type": "string" },
                        "id": { "type": "string" },
                        "outputs": { "type": "array", "items": { "$ref": "#/components/schemas/Tensor" } }
                    }
                },
                "Json": { "type": "object", "additionalProperties": {} }
            }
        },
        "security": [ { "bearer": [] } ],
        "paths": {
            "/predict": { "post": simple("Predict with the only model served (or the default model)") },
            "/models/{name}/predict": { "post": named },
            "/invocations": { "post": invocations },
            "/models/{name}/invocations": { "post": named_invocations },
            "/ping": { "get": { "summary": "200 when a model is serving, 404 otherwise", "security": [], "responses": { "200": { "description": "Serving" }, "404": { "description": "No model is serving" } } } },
            "/health": { "get": { "summary": "The same as /ping", "security": [], "responses": { "200": { "description": "Serving" }, "404": { "description": "No model is serving" } } } },
            "/version": { "get": { "summary": "The server's version", "responses": { "200": { "description": "The version", "content": { "text/plain": { "schema": { "type": "string" } } } } } } }
        }
    });
    let mut document = document;
    if let Value::Object(paths) = &mut document["paths"] {
        for (path, item) in open_inference_paths(&error_responses) {
            paths.insert(path.to_owned(), item);
        }
    }
    HttpResponse::Ok().json(document)
}
