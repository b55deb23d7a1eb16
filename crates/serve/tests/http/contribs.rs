//! The `contribs` output through every protocol, checked against the libraries' own
//! contributions (XGBoost `pred_contribs`, LightGBM `pred_contrib`) stored in
//! `tests/fixtures/contribs/` by `tools/fixtures/gen_contribs.py`: the server loads the model
//! file exactly as the library saved it, and the rows go over the wire with their missing
//! values.
//!
//! Tolerances as in verdict-model's parity test: 1e-6 for LightGBM, which computes TreeSHAP in
//! `f64` like Verdict, and 1e-5 for XGBoost, which computes it in `f32`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tonic::transport::Channel;
use verdict_model::Output;
use verdict_serve::Options;
use verdict_serve::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use verdict_serve::grpc::proto::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use verdict_serve::grpc::proto::{self};

use crate::common::*;

/// One fixture: the library's model file, the rows and the library's contributions.
struct Case {
    /// The model's name on the server.
    name: &'static str,
    /// The model file as the library saved it.
    path: PathBuf,
    /// The rows, `NaN` where missing.
    rows: Vec<Vec<f64>>,
    /// The library's contributions, one row each: output by output, features then bias.
    contribs: Vec<Vec<f64>>,
    /// The feature names, from the model as Verdict reads it.
    features: Vec<String>,
    /// The contributions' column names, from the model as Verdict reads it.
    columns: Vec<String>,
    /// The number of raw outputs (classes of a multiclass model, else 1).
    outputs: usize,
    tolerance: f64,
}

impl Case {
    fn load(name: &'static str, fixture: &str, model_file: &str, tolerance: f64) -> Case {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/contribs")
            .join(fixture);
        let data: Value =
            serde_json::from_slice(&std::fs::read(dir.join("data.json")).unwrap()).unwrap();
        let matrix = |value: &Value| -> Vec<Vec<f64>> {
            value
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    row.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap_or(f64::NAN))
                        .collect()
                })
                .collect()
        };
        let path = dir.join(model_file);
        let model = verdict_model::load(&path, None).unwrap();
        let signature = verdict_model::Model::signature(&model.model);
        Case {
            name,
            path,
            rows: matrix(&data["inputs"]),
            contribs: matrix(&data["contribs"]),
            features: signature.features.iter().map(|f| f.name.clone()).collect(),
            columns: signature.output_columns(Output::Contribs),
            outputs: signature.raw_width,
            tolerance,
        }
    }

    fn width(&self) -> usize {
        self.features.len()
    }

    /// The rows as JSON, `null` where missing.
    fn json_rows(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| row.iter().map(|&v| json_number(v)).collect())
                .collect(),
        )
    }

    /// Asserts that `got` (one row of contributions, in the fixture's layout) is the library's
    /// row `row`.
    fn check_row(&self, protocol: &str, row: usize, got: &[f64]) {
        let want = &self.contribs[row];
        assert_eq!(
            got.len(),
            want.len(),
            "{protocol}, {}: row {row}",
            self.name
        );
        for (j, (&mine, &theirs)) in got.iter().zip(want).enumerate() {
            assert!(
                (mine - theirs).abs() <= self.tolerance * theirs.abs().max(1.0),
                "{protocol}, {}: row {row}, `{}` is {mine}, the library gave {theirs}",
                self.name,
                self.columns[j]
            );
        }
    }

    /// Asserts that `flat` (rows of contributions, one after the other) is the library's.
    fn check_flat(&self, protocol: &str, flat: &[f64]) {
        let width = self.contribs[0].len();
        assert_eq!(flat.len(), self.rows.len() * width, "{protocol}: size");
        for (i, row) in flat.chunks_exact(width).enumerate() {
            self.check_row(protocol, i, row);
        }
    }
}

fn json_number(v: f64) -> Value {
    if v.is_nan() { Value::Null } else { json!(v) }
}

fn cases() -> [Case; 3] {
    [
        Case::load("lgb_multiclass", "lightgbm_multiclass", "model.txt", 1e-6),
        Case::load("xgb_binary", "xgboost_binary", "model.json", 1e-5),
        Case::load("xgb_multiclass", "xgboost_multiclass", "model.json", 1e-5),
    ]
}

/// Copies each case's model file into a fresh directory, named for the server.
fn serve_dir(cases: &[Case]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for case in cases {
        let extension = case.path.extension().unwrap().to_str().unwrap();
        std::fs::copy(
            &case.path,
            dir.path().join(format!("{}.{extension}", case.name)),
        )
        .unwrap();
    }
    dir
}

#[test]
fn predict_answers_contribs_by_column_name() {
    let cases = cases();
    let dir = serve_dir(&cases);
    let server = TestServer::serving(dir.path(), Options::default());
    for case in &cases {
        let (status, body) = post_json(
            &server.url(&format!("/models/{}/predict", case.name)),
            &json!({"inputs": case.json_rows(), "outputs": ["raw", "contribs"]}),
        );
        assert_eq!(status, 200, "{}: {body}", case.name);
        let rows = body["contribs"].as_array().expect("a list of rows");
        assert_eq!(rows.len(), case.rows.len());
        for (i, row) in rows.iter().enumerate() {
            let object = row.as_object().expect("each row is an object");
            let keys: Vec<&String> = object.keys().collect();
            let mut names: Vec<&String> = case.columns.iter().collect();
            names.sort();
            let mut keys_sorted = keys.clone();
            keys_sorted.sort();
            assert_eq!(keys_sorted, names, "{}: the contribs columns", case.name);
            let values: Vec<f64> = case
                .columns
                .iter()
                .map(|c| object[c].as_f64().expect("a number"))
                .collect();
            case.check_row("/predict", i, &values);
        }
    }
    // One feature's column, by name: LightGBM's unnamed features are `Column_<i>`.
    let lgb = &cases[0];
    assert_eq!(lgb.columns[0], "contrib_0_Column_0");
    assert_eq!(lgb.columns[lgb.width()], "contrib_0_bias");
}

#[test]
fn mlflow_invocations_answer_contribs_with_params_output() {
    let cases = cases();
    let dir = serve_dir(&cases);
    let server = TestServer::serving(dir.path(), Options::default());
    for case in &cases {
        let url = server.url(&format!("/models/{}/invocations", case.name));
        let records: Vec<Value> = case
            .rows
            .iter()
            .map(|row| {
                let mut object = serde_json::Map::new();
                // Records name their columns: matched by name, not by position.
                for (name, &v) in case.features.iter().zip(row).rev() {
                    object.insert(name.clone(), json_number(v));
                }
                Value::Object(object)
            })
            .collect();
        let bodies = [
            json!({"instances": case.json_rows(), "params": {"output": "contribs"}}),
            json!({"dataframe_records": records, "params": {"output": "contribs"}}),
        ];
        for body in bodies {
            let (status, answer) = post_json(&url, &body);
            assert_eq!(status, 200, "{}: {answer}", case.name);
            let rows = answer["predictions"].as_array().expect("predictions");
            assert_eq!(rows.len(), case.rows.len());
            for (i, row) in rows.iter().enumerate() {
                case.check_row("/invocations", i, &numbers(row));
            }
        }
    }
}

#[test]
fn v2_infer_answers_contribs_with_classes_as_a_dimension() {
    let cases = cases();
    let dir = serve_dir(&cases);
    let server = TestServer::serving(dir.path(), Options::default());
    for case in &cases {
        let (status, body) = post_json(
            &server.url(&format!("/v2/models/{}/infer", case.name)),
            &json!({
                "inputs": [{
                    "name": "input",
                    "shape": [case.rows.len(), case.width()],
                    "datatype": "FP64",
                    "data": case.json_rows(),
                }],
                "outputs": [{"name": "contribs"}],
            }),
        );
        assert_eq!(status, 200, "{}: {body}", case.name);
        let output = &body["outputs"][0];
        assert_eq!(output["name"], "contribs");
        assert_eq!(output["datatype"], "FP64");
        let shape = if case.outputs > 1 {
            json!([case.rows.len(), case.outputs, case.width() + 1])
        } else {
            json!([case.rows.len(), case.width() + 1])
        };
        assert_eq!(output["shape"], shape, "{}", case.name);
        case.check_flat("v2", &numbers(&output["data"]));
    }
}

#[test]
fn grpc_infer_answers_contribs_as_raw_fp64() {
    let cases = cases();
    let dir = serve_dir(&cases);
    let server = TestServer::with_grpc(dir.path(), Options::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = server.grpc.expect("a gRPC port");
    let client: GrpcInferenceServiceClient<Channel> = runtime
        .block_on(GrpcInferenceServiceClient::connect(format!(
            "http://{addr}"
        )))
        .unwrap();
    for case in &cases {
        let mut raw = Vec::new();
        for &v in case.rows.iter().flatten() {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        let request = proto::ModelInferRequest {
            model_name: case.name.to_owned(),
            inputs: vec![InferInputTensor {
                name: "input".to_owned(),
                datatype: "FP64".to_owned(),
                shape: vec![case.rows.len() as i64, case.width() as i64],
                ..InferInputTensor::default()
            }],
            outputs: vec![InferRequestedOutputTensor {
                name: "contribs".into(),
                ..InferRequestedOutputTensor::default()
            }],
            raw_input_contents: vec![raw.into()],
            ..proto::ModelInferRequest::default()
        };
        let response = runtime
            .block_on(client.clone().model_infer(request))
            .unwrap_or_else(|status| panic!("{}: {status}", case.name))
            .into_inner();
        assert_eq!(response.outputs.len(), 1);
        let tensor = &response.outputs[0];
        assert_eq!(tensor.name, "contribs");
        assert_eq!(tensor.datatype, "FP64");
        let rows = case.rows.len() as i64;
        let width = case.width() as i64 + 1;
        let shape = if case.outputs > 1 {
            vec![rows, case.outputs as i64, width]
        } else {
            vec![rows, width]
        };
        assert_eq!(tensor.shape, shape, "{}", case.name);
        let values: Vec<f64> = response.raw_output_contents[0]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        case.check_flat("gRPC", &values);
    }
    drop(client);
    let mut server = server;
    server.stop();
}
