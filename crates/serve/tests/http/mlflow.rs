//! MLflow's scoring protocol: `/invocations`, `/ping`, `/health`, `/version`.

use ndarray::array;
use serde_json::{Value, json};
use verdict_model::{Model, Output};
use verdict_serve::Options;

use crate::common::*;

fn post_typed(url: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = client()
        .post(url)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .unwrap();
    status_json(response)
}

#[test]
fn every_json_format_and_csv_give_model_predict() {
    let dir = tempfile::tempdir().unwrap();
    let model = churn();
    save(&model, dir.path(), "churn");
    let server = TestServer::serving(dir.path(), Options::default());
    let url = server.url("/invocations");

    let encoded = array![[0.7, 2.0], [0.2, 0.0], [0.9, 1.0]];
    let labels: Vec<Value> = expected(&model, &encoded, Output::Predict)
        .iter()
        .map(|&v| json!(v as i64))
        .collect();
    let want = json!({ "predictions": labels });
    let bodies = [
        json!({"dataframe_split": {"columns": ["color", "x"], "data": [["blue", 0.7], ["red", 0.2], ["green", 0.9]], "index": [0, 1, 2]}}),
        json!({"dataframe_split": {"data": [[0.7, "blue"], [0.2, "red"], [0.9, "green"]]}}),
        json!({"dataframe_records": [{"x": 0.7, "color": "blue"}, {"x": 0.2, "color": "red"}, {"x": 0.9, "color": "green"}]}),
        json!({"instances": [[0.7, "blue"], [0.2, "red"], [0.9, "green"]]}),
        json!({"inputs": [{"x": 0.7, "color": "blue"}, {"x": 0.2, "color": "red"}, {"x": 0.9, "color": "green"}]}),
        json!({"inputs": {"x": [0.7, 0.2, 0.9], "color": ["blue", "red", "green"]}}),
    ];
    for body in bodies {
        let (status, answer) = post_typed(&url, "application/json", &body.to_string());
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(answer, want, "{body}");
    }
    let csv = "color,x,id\nblue,0.7,a\nred,0.2,b\n\"green\",0.9,c\n";
    let (status, answer) = post_typed(&url, "text/csv; charset=utf-8", csv);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, want);

    let (status, answer) = post_typed(
        &url,
        "application/json",
        &json!({"instances": [[0.7, "blue"]], "params": {"output": "predict_proba"}}).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    let proba = expected(&model, &array![[0.7, 2.0]], Output::PredictProba);
    assert_eq!(
        answer,
        json!({"predictions": [[proba[[0, 0]], proba[[0, 1]]]]})
    );
}

#[test]
fn text_labels_come_back_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let model = iris();
    save(&model, dir.path(), "iris");
    let server = TestServer::serving(dir.path(), Options::default());
    let rows = iris_rows();
    let instances: Vec<Vec<f64>> = rows.rows().into_iter().map(|r| r.to_vec()).collect();
    let (status, answer) = post_typed(
        &server.url("/invocations"),
        "application/json",
        &json!({ "instances": instances }).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    let signature = model.model.signature();
    let labels: Vec<Value> = expected(&model, &rows, Output::Predict)
        .iter()
        .map(|&i| json!(signature.class_label(i).unwrap().to_string()))
        .collect();
    assert_eq!(answer, json!({ "predictions": labels }));
}

#[test]
fn errors_have_mlflow_shape() {
    let dir = tempfile::tempdir().unwrap();
    save(&churn(), dir.path(), "churn");
    let options = Options {
        max_rows: 2,
        ..Options::default()
    };
    let server = TestServer::serving(dir.path(), options);
    let url = server.url("/invocations");
    let cases = [
        ("application/json", "{", 400, "malformed JSON"),
        ("application/json", "[]", 400, "expected a JSON object"),
        (
            "application/json",
            "{\"instances\": [], \"inputs\": []}",
            400,
            "has both",
        ),
        (
            "application/json",
            "{\"rows\": []}",
            400,
            "unknown field `rows`",
        ),
        (
            "application/json",
            "{\"params\": {}}",
            400,
            "expected one of `dataframe_split`",
        ),
        (
            "application/json",
            "{\"dataframe_split\": {\"columns\": [\"x\"], \"data\": [[1]]}}",
            400,
            "missing feature `color`",
        ),
        (
            "application/json",
            "{\"dataframe_split\": {\"columns\": [\"x\", \"color\"], \"data\": [[1]]}}",
            400,
            "dataframe_split.data[0]: has 1 values for 2 columns",
        ),
        (
            "application/json",
            "{\"instances\": [[1, \"red\"]], \"params\": {\"output\": \"proba\"}}",
            200,
            "",
        ),
        (
            "application/json",
            "{\"instances\": [[1, \"red\"]], \"params\": {\"output\": \"probs\"}}",
            400,
            "unknown output `probs`",
        ),
        (
            "application/json",
            "{\"instances\": [[1, \"red\"], [1, \"red\"], [1, \"red\"]]}",
            413,
            "over the limit of 2 rows",
        ),
        (
            "text/csv",
            "x\n1\n",
            400,
            "CSV header: missing feature `color`",
        ),
        (
            "text/csv",
            "x,color\n1,red\nabc,red\n",
            400,
            "CSV line 3, column `x`: feature `x` is numeric, got the text \"abc\"",
        ),
        ("text/csv", "x,color\n1,red\n2\n", 400, "CSV line 3"),
        (
            "text/plain",
            "x,color\n1,red\n",
            415,
            "unsupported content type `text/plain`",
        ),
        (
            "application/json; charset=latin-1",
            "{}",
            415,
            "unsupported content type",
        ),
    ];
    for (content_type, body, status, message) in cases {
        let (got, answer) = post_typed(&url, content_type, body);
        assert_eq!(got, status, "{body}: {answer}");
        if status != 200 {
            let code = if status == 415 || status == 413 || status == 400 {
                "BAD_REQUEST"
            } else {
                "?"
            };
            assert_eq!(answer["error_code"], code, "{answer}");
            let text = answer["message"].as_str().unwrap();
            assert!(text.contains(message), "{body}: {answer}");
            assert!(answer.get("error").is_none());
        }
    }
}

#[test]
fn a_named_route_picks_among_several_models() {
    let dir = tempfile::tempdir().unwrap();
    let model = line(1.0);
    save(&model, dir.path(), "line");
    save(&churn(), dir.path(), "churn");
    let server = TestServer::serving(dir.path(), Options::default());
    let body = json!({"inputs": [[3.0, 1.0]]}).to_string();
    let (status, answer) = post_typed(&server.url("/invocations"), "application/json", &body);
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("/models/{name}/invocations"),
        "{answer}"
    );
    let (status, answer) = post_typed(
        &server.url("/models/line/invocations"),
        "application/json",
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    let want = expected(&model, &array![[3.0, 1.0]], Output::Predict);
    assert_eq!(answer, json!({"predictions": [want[[0, 0]]]}));
}

#[test]
fn ping_health_and_version() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let server = TestServer::serving(dir.path(), Options::default());
    assert_eq!(get(&server.url("/ping")).0, 200);
    assert_eq!(get(&server.url("/health")).0, 200);
    let (status, version) = get(&server.url("/version"));
    assert_eq!(status, 200);
    assert!(version.starts_with("verdict "), "{version}");

    let empty = tempfile::tempdir().unwrap();
    let server = TestServer::serving(empty.path(), Options::default());
    assert_eq!(get(&server.url("/ping")).0, 404);
    let (status, answer) = post_typed(
        &server.url("/invocations"),
        "application/json",
        "{\"instances\": []}",
    );
    assert_eq!(status, 503);
    assert_eq!(answer["error_code"], "TEMPORARILY_UNAVAILABLE");
    assert_eq!(answer["message"], "no model is loaded");
}
