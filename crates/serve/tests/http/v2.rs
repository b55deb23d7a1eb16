//! The Open Inference Protocol v2 and Triton's binary tensor extension.

use ndarray::array;
use serde_json::{Value, json};
use verdict_model::{Model, Output};
use verdict_serve::Options;

use crate::common::*;

const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

fn serve(models: &[(&str, verdict_model::ModelFile)]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, model) in models {
        save(model, dir.path(), name);
    }
    let server = TestServer::serving(dir.path(), Options::default());
    (server, dir)
}

/// POSTs a binary request: the JSON header, then the raw tensors.
fn post_binary(url: &str, header: &Value, tensors: &[u8]) -> reqwest::blocking::Response {
    let header = serde_json::to_vec(header).unwrap();
    let mut body = header.clone();
    body.extend_from_slice(tensors);
    client()
        .post(url)
        .header(HEADER_LENGTH, header.len().to_string())
        .body(body)
        .send()
        .unwrap()
}

/// Splits a binary response into its JSON header and each output's raw bytes, by name.
fn split_binary(response: reqwest::blocking::Response) -> (Value, Vec<(String, Vec<u8>)>) {
    assert_eq!(response.status().as_u16(), 200);
    let length: usize = response
        .headers()
        .get(HEADER_LENGTH)
        .expect("a binary response has the header length")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = response.bytes().unwrap();
    let header: Value = serde_json::from_slice(&body[..length]).unwrap();
    let mut rest = &body[length..];
    let mut tensors = Vec::new();
    for output in header["outputs"].as_array().unwrap() {
        if let Some(size) = output["parameters"]["binary_data_size"].as_u64() {
            let (chunk, tail) = rest.split_at(size as usize);
            tensors.push((output["name"].as_str().unwrap().to_owned(), chunk.to_vec()));
            rest = tail;
        }
    }
    assert!(rest.is_empty(), "{} bytes left over", rest.len());
    (header, tensors)
}

fn f64s(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn output<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output {name} in {body}"))
}

#[test]
fn server_and_model_metadata_and_health() {
    let (server, _dir) = serve(&[("iris", iris()), ("churn", churn())]);
    let (status, text) = get(&server.url("/v2"));
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(metadata["name"], "verdict");
    assert!(
        metadata["extensions"]
            .as_array()
            .unwrap()
            .contains(&json!("binary_tensor_data"))
    );
    // The protocol's bodies, which KServe's client reads.
    assert_eq!(
        get(&server.url("/v2/health/live")),
        (200, r#"{"live":true}"#.to_owned())
    );
    assert_eq!(
        get(&server.url("/v2/health/ready")),
        (200, r#"{"ready":true}"#.to_owned())
    );
    assert_eq!(
        get(&server.url("/v2/models/iris/ready")),
        (200, r#"{"name":"iris","ready":true}"#.to_owned())
    );
    assert_eq!(get(&server.url("/v2/models/iris/versions/1/ready")).0, 200);
    assert_eq!(get(&server.url("/v2/models/nope/ready")).0, 404);

    let (status, text) = get(&server.url("/v2/models/iris"));
    assert_eq!(status, 200, "{text}");
    let iris: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(iris["name"], "iris");
    assert_eq!(iris["versions"], json!(["1"]));
    assert_eq!(
        iris["inputs"],
        json!([{"name": "input", "datatype": "FP64", "shape": [-1, 4]}])
    );
    assert_eq!(
        iris["outputs"],
        json!([
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
            {"name": "raw", "datatype": "FP64", "shape": [-1, 3]},
            // Three classes, four features and the bias.
            {"name": "contribs", "datatype": "FP64", "shape": [-1, 3, 5]},
        ])
    );
    assert_eq!(iris["parameters"]["task"], "multiclass");

    let (status, text) = get(&server.url("/v2/models/churn/versions/1"));
    assert_eq!(status, 200, "{text}");
    let churn: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        churn["inputs"],
        json!([
            {"name": "x", "datatype": "FP64", "shape": [-1]},
            {"name": "color", "datatype": "BYTES", "shape": [-1]},
        ])
    );
    assert_eq!(
        churn["outputs"][0],
        json!({"name": "predict", "datatype": "INT64", "shape": [-1]})
    );
    let (status, text) = get(&server.url("/v2/models/nope"));
    assert_eq!(status, 404);
    assert!(text.contains("unknown model `nope`"), "{text}");
}

#[test]
fn json_infer_with_nested_or_flat_data_equals_model_predict() {
    let model = iris();
    let (server, _dir) = serve(&[("iris", iris())]);
    let rows = iris_rows();
    let nested: Vec<Vec<f64>> = rows.rows().into_iter().map(|r| r.to_vec()).collect();
    let flat: Vec<f64> = rows.iter().copied().collect();
    let signature = model.model.signature();
    let labels: Vec<Value> = expected(&model, &rows, Output::Predict)
        .iter()
        .map(|&i| json!(signature.class_label(i).unwrap().to_string()))
        .collect();
    let proba: Vec<f64> = expected(&model, &rows, Output::PredictProba)
        .iter()
        .copied()
        .collect();
    let raw: Vec<f64> = expected(&model, &rows, Output::Raw)
        .iter()
        .copied()
        .collect();
    for data in [json!(nested), json!(flat)] {
        let (status, body) = post_json(
            &server.url("/v2/models/iris/infer"),
            &json!({
                "id": "request-7",
                "inputs": [{"name": "input", "shape": [4, 4], "datatype": "FP64", "data": data}],
            }),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], "request-7");
        assert_eq!(body["model_name"], "iris");
        assert_eq!(body["model_version"], "1");
        let predict = output(&body, "predict");
        assert_eq!(predict["datatype"], "BYTES");
        assert_eq!(predict["shape"], json!([4]));
        assert_eq!(predict["data"], Value::Array(labels.clone()));
        let probabilities = output(&body, "predict_proba");
        assert_eq!(probabilities["shape"], json!([4, 3]));
        assert_eq!(numbers(&probabilities["data"]), proba);
        assert_eq!(numbers(&output(&body, "raw")["data"]), raw);
    }
}

#[test]
fn every_numeric_datatype_is_read() {
    let model = line(0.5);
    let (server, _dir) = serve(&[("line", line(0.5))]);
    let url = server.url("/v2/models/line/infer");
    let rows = array![[3.0, 1.0], [0.0, 2.0]];
    let want: Vec<f64> = expected(&model, &rows, Output::Predict)
        .iter()
        .copied()
        .collect();
    for datatype in [
        "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16",
        "FP32", "FP64",
    ] {
        let (status, body) = post_json(
            &url,
            &json!({
                "inputs": [{"name": "input", "shape": [2, 2], "datatype": datatype, "data": [3, 1, 0, 2]}],
                "outputs": [{"name": "predict"}],
            }),
        );
        assert_eq!(status, 200, "{datatype}: {body}");
        assert_eq!(body["outputs"].as_array().unwrap().len(), 1);
        assert_eq!(
            numbers(&output(&body, "predict")["data"]),
            want,
            "{datatype}"
        );
    }
    let (status, body) = post_json(
        &url,
        &json!({
            "inputs": [{"name": "input", "shape": [1, 2], "datatype": "BOOL", "data": [true, false]}],
            "outputs": [{"name": "predict"}],
        }),
    );
    assert_eq!(status, 200, "{body}");
    let want = expected(&model, &array![[1.0, 0.0]], Output::Predict);
    assert_eq!(
        numbers(&output(&body, "predict")["data"]),
        vec![want[[0, 0]]]
    );
}

#[test]
fn fp32_inputs_are_seen_as_f32_values() {
    let model = line(0.0);
    let (server, _dir) = serve(&[("line", line(0.0))]);
    let (status, body) = post_json(
        &server.url("/v2/models/line/infer"),
        &json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [0.1, 0.2]}]}),
    );
    assert_eq!(status, 200, "{body}");
    let rows = array![[f64::from(0.1f32), f64::from(0.2f32)]];
    let want = expected(&model, &rows, Output::Predict);
    assert_eq!(
        numbers(&output(&body, "predict")["data"]),
        vec![want[[0, 0]]]
    );
}

#[test]
fn one_tensor_per_feature_with_categories_as_bytes() {
    let model = churn();
    let (server, _dir) = serve(&[("churn", churn())]);
    let (status, body) = post_json(
        &server.url("/v2/models/churn/infer"),
        &json!({
            "inputs": [
                {"name": "color", "shape": [3], "datatype": "BYTES", "data": ["blue", "red", "mauve"]},
                {"name": "x", "shape": [3, 1], "datatype": "FP64", "data": [[0.7], [0.2], [0.9]]},
            ],
            "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        }),
    );
    assert_eq!(status, 200, "{body}");
    let encoded = array![[0.7, 2.0], [0.2, 0.0], [0.9, f64::NAN]];
    let predict = output(&body, "predict");
    assert_eq!(predict["datatype"], "INT64");
    let labels: Vec<Value> = expected(&model, &encoded, Output::Predict)
        .iter()
        .map(|&v| json!(v as i64))
        .collect();
    assert_eq!(predict["data"], Value::Array(labels));
    let proba: Vec<f64> = expected(&model, &encoded, Output::PredictProba)
        .iter()
        .copied()
        .collect();
    assert_eq!(numbers(&output(&body, "predict_proba")["data"]), proba);
}

#[test]
fn binary_tensors_in_and_out() {
    let model = iris();
    let (server, _dir) = serve(&[("iris", iris()), ("churn", churn())]);
    let rows = iris_rows();
    let mut raw_input = Vec::new();
    for &v in &rows {
        raw_input.extend_from_slice(&(v as f32).to_le_bytes());
    }
    // What tritonclient sends by default: binary inputs, binary_data_output, no outputs.
    let response = post_binary(
        &server.url("/v2/models/iris/infer"),
        &json!({
            "inputs": [{"name": "input", "shape": [4, 4], "datatype": "FP32",
                        "parameters": {"binary_data_size": raw_input.len()}}],
            "parameters": {"binary_data_output": true},
        }),
        &raw_input,
    );
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/octet-stream"
    );
    let (header, tensors) = split_binary(response);
    let seen = rows.mapv(|v| f64::from(v as f32));
    let signature = model.model.signature();
    let mut want_labels = Vec::new();
    for &index in &expected(&model, &seen, Output::Predict) {
        let label = signature.class_label(index).unwrap().to_string();
        want_labels.extend_from_slice(&(label.len() as u32).to_le_bytes());
        want_labels.extend_from_slice(label.as_bytes());
    }
    assert_eq!(tensors[0], ("predict".to_owned(), want_labels));
    assert_eq!(tensors[1].0, "predict_proba");
    assert_eq!(
        f64s(&tensors[1].1),
        expected(&model, &seen, Output::PredictProba)
            .iter()
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(output(&header, "predict_proba")["shape"], json!([4, 3]));
    assert!(output(&header, "raw").get("data").is_none());

    // Binary BYTES and INT64 inputs, one binary and one JSON output.
    let churn_model = churn();
    let mut colors = Vec::new();
    for color in ["blue", "green"] {
        colors.extend_from_slice(&(color.len() as u32).to_le_bytes());
        colors.extend_from_slice(color.as_bytes());
    }
    let mut xs = Vec::new();
    for x in [1i64, 0] {
        xs.extend_from_slice(&x.to_le_bytes());
    }
    let mut tensors_in = colors.clone();
    tensors_in.extend_from_slice(&xs);
    let response = post_binary(
        &server.url("/v2/models/churn/infer"),
        &json!({
            "id": "b-1",
            "inputs": [
                {"name": "color", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": colors.len()}},
                {"name": "x", "shape": [2], "datatype": "INT64", "parameters": {"binary_data_size": xs.len()}},
            ],
            "outputs": [
                {"name": "predict", "parameters": {"binary_data": true}},
                {"name": "predict_proba", "parameters": {"binary_data": false}},
            ],
        }),
        &tensors_in,
    );
    let (header, tensors) = split_binary(response);
    assert_eq!(header["id"], "b-1");
    let encoded = array![[1.0, 2.0], [0.0, 1.0]];
    let mut want = Vec::new();
    for &label in &expected(&churn_model, &encoded, Output::Predict) {
        want.extend_from_slice(&(label as i64).to_le_bytes());
    }
    assert_eq!(tensors, vec![("predict".to_owned(), want)]);
    let proba: Vec<f64> = expected(&churn_model, &encoded, Output::PredictProba)
        .iter()
        .copied()
        .collect();
    assert_eq!(numbers(&output(&header, "predict_proba")["data"]), proba);
}

#[test]
fn bad_infer_requests_are_answered_with_what_is_wrong() {
    let (server, _dir) = serve(&[("iris", iris()), ("churn", churn())]);
    let url = server.url("/v2/models/iris/infer");
    let tensor = |shape: Value, datatype: &str, data: Value| json!({"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]});
    let cases = vec![
        (
            "datatype",
            tensor(json!([1, 4]), "FP128", json!([1, 2, 3, 4])),
            "unknown datatype `FP128`",
        ),
        (
            "count",
            tensor(json!([2, 4]), "FP64", json!([1, 2, 3, 4])),
            "shape [2, 4] holds 8 elements but 4 were sent",
        ),
        (
            "columns",
            tensor(json!([1, 3]), "FP64", json!([1, 2, 3])),
            "shape [1, 3] does not match the model, which takes [rows, 4]",
        ),
        (
            "negative",
            tensor(json!([-1, 4]), "FP64", json!([1, 2, 3, 4])),
            "negative dimension",
        ),
        (
            "huge",
            tensor(
                json!([2, 4_000_000_000_000_i64]),
                "FP64",
                json!([1, 2, 3, 4]),
            ),
            "holds 8000000000000 elements but 4 were sent",
        ),
        (
            "integer",
            tensor(json!([1, 4]), "INT32", json!([1, 2.5, 3, 4])),
            "a INT32 tensor holds integers in its range, got 2.5",
        ),
        (
            "text",
            tensor(json!([1, 4]), "FP64", json!([1, "a", 3, 4])),
            "a FP64 tensor holds numbers",
        ),
        (
            "bytes",
            tensor(json!([1, 4]), "BYTES", json!(["1", "2", "x", "4"])),
            "feature `petal_length` is numeric, got the text \"x\"",
        ),
        (
            "no data",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64"}]}),
            "has no `data`",
        ),
        ("no inputs", json!({"id": "x"}), "missing field `inputs`"),
        (
            "output",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}], "outputs": [{"name": "label"}]}),
            "outputs[0]: unknown output `label`",
        ),
        (
            "flag",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}], "parameters": {"binary_data_output": "yes"}}),
            "expected true or false",
        ),
        (
            "per feature",
            json!({"inputs": [
                {"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [1]},
                {"name": "sepal_width", "shape": [1], "datatype": "FP64", "data": [1]},
            ]}),
            "missing features `petal_length`, `petal_width`",
        ),
        (
            "rows differ",
            json!({"inputs": [
                {"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [1]},
                {"name": "sepal_width", "shape": [2], "datatype": "FP64", "data": [1, 2]},
            ]}),
            "has 2 rows but the tensors before it have 1",
        ),
        (
            "stranger",
            json!({"inputs": [
                {"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [1]},
                {"name": "colour", "shape": [1], "datatype": "FP64", "data": [1]},
            ]}),
            "inputs[1] (`colour`): is not a feature of the model",
        ),
    ];
    for (name, body, message) in cases {
        let (status, answer) = post_json(&url, &body);
        assert_eq!(status, 400, "{name}: {answer}");
        assert!(error_of(&answer).contains(message), "{name}: {answer}");
    }

    let (status, answer) = post_raw(&url, b"{\"inputs\": [".to_vec());
    assert_eq!(status, 400);
    assert!(error_of(&answer).contains("malformed JSON"), "{answer}");
    let (status, answer) = post_json(
        &server.url("/v2/models/iris/versions/3/infer"),
        &tensor(json!([1, 4]), "FP64", json!([1, 2, 3, 4])),
    );
    assert_eq!(status, 404);
    assert!(error_of(&answer).contains("no version `3`"), "{answer}");
    let (status, _) = post_json(&server.url("/v2/models/nope/infer"), &json!({}));
    assert_eq!(status, 404);
    let (status, answer) = post_json(
        &server.url("/v2/models/churn/infer"),
        &json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}], "outputs": [{"name": "predict_proba"}, {"name": "raw"}]}),
    );
    assert_eq!(status, 200, "{answer}");

    // The binary extension's own mistakes.
    let binary = |header: Value, declared: Option<usize>, tensors: &[u8]| {
        let header = serde_json::to_vec(&header).unwrap();
        let length = declared.unwrap_or(header.len());
        let mut body = header;
        body.extend_from_slice(tensors);
        let response = client()
            .post(&url)
            .header(HEADER_LENGTH, length.to_string())
            .body(body)
            .send()
            .unwrap();
        status_json(response)
    };
    let sized = |size: usize| json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": size}}]});
    let cases = vec![
        (
            "short",
            binary(sized(16), None, &[0; 8]),
            "`binary_data_size` is 16 bytes but only 8 binary bytes remain",
        ),
        (
            "left over",
            binary(sized(16), None, &[0; 20]),
            "4 bytes follow the last binary tensor",
        ),
        (
            "ragged",
            binary(sized(15), None, &[0; 15]),
            "15 binary bytes are not a whole number of 4-byte FP32 elements",
        ),
        (
            "header",
            binary(sized(16), Some(100_000), &[0; 16]),
            "says the JSON header has 100000 bytes",
        ),
    ];
    for (name, (status, answer), message) in cases {
        assert_eq!(status, 400, "{name}: {answer}");
        assert!(error_of(&answer).contains(message), "{name}: {answer}");
    }
}

#[test]
fn repository_index_load_and_unload() {
    let (server, _dir) = serve(&[("iris", iris()), ("line", line(1.0))]);
    let (status, index) = post_raw(&server.url("/v2/repository/index"), Vec::new());
    assert_eq!(status, 200, "{index}");
    assert_eq!(
        index,
        json!([
            {"name": "iris", "version": "1", "state": "READY", "reason": ""},
            {"name": "line", "version": "1", "state": "READY", "reason": ""},
        ])
    );
    let unload = client()
        .post(server.url("/v2/repository/models/line/unload"))
        .send()
        .unwrap();
    assert_eq!(unload.status().as_u16(), 200);
    let (status, answer) = post_json(
        &server.url("/models/line/predict"),
        &json!({"input": [1, 2]}),
    );
    assert_eq!(status, 503, "{answer}");
    assert!(error_of(&answer).contains("unloaded"), "{answer}");
    assert_eq!(get(&server.url("/v2/models/line/ready")).0, 400);
    // Only one model is left to answer the unnamed route.
    let (status, answer) = post_json(&server.url("/predict"), &json!({"input": [1, 2, 3, 4]}));
    assert_eq!(status, 200, "{answer}");
    let (_, index) = post_json(&server.url("/v2/repository/index"), &json!({"ready": true}));
    assert_eq!(index.as_array().unwrap().len(), 1);

    let load = client()
        .post(server.url("/v2/repository/models/line/load"))
        .send()
        .unwrap();
    assert_eq!(load.status().as_u16(), 200);
    let (status, answer) = post_json(
        &server.url("/models/line/predict"),
        &json!({"input": [1, 2]}),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = post_raw(&server.url("/v2/repository/models/nope/load"), Vec::new());
    assert_eq!(status, 404, "{answer}");
}

#[test]
fn model_configuration_and_statistics() {
    let (server, _dir) = serve(&[("iris", iris()), ("line", line(1.0))]);
    let (status, text) = get(&server.url("/v2/models/iris/config"));
    assert_eq!(status, 200, "{text}");
    let config: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        config["input"],
        json!([{"name": "input", "data_type": "TYPE_FP64", "dims": [-1, 4]}])
    );
    assert_eq!(
        config["output"][0],
        json!({"name": "predict", "data_type": "TYPE_STRING", "dims": [-1]})
    );
    assert_eq!(get(&server.url("/v2/models/nope/config")).0, 404);

    let stats = |path: &str| -> Value {
        let (status, text) = get(&server.url(path));
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    };
    let fresh = stats("/v2/models/line/stats");
    assert_eq!(fresh["model_stats"][0]["inference_count"], 0);
    assert_eq!(fresh["model_stats"][0]["last_inference"], 0);
    let infer = server.url("/v2/models/line/infer");
    let body = json!({"inputs": [{"name": "input", "shape": [3, 2], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6]}]});
    assert_eq!(post_json(&infer, &body).0, 200);
    assert_eq!(post_json(&infer, &body).0, 200);
    let bad = json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]});
    assert_eq!(post_json(&infer, &bad).0, 400);
    let line = &stats("/v2/models/line/versions/1/stats")["model_stats"][0];
    assert_eq!(line["name"], "line");
    assert_eq!(line["inference_count"], 6);
    assert_eq!(line["execution_count"], 2);
    assert_eq!(line["inference_stats"]["success"]["count"], 2);
    assert_eq!(line["inference_stats"]["fail"]["count"], 1);
    assert!(line["last_inference"].as_u64().unwrap() > 0);
    let all = stats("/v2/models/stats");
    let names: Vec<&str> = all["model_stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["iris", "line"]);
}
