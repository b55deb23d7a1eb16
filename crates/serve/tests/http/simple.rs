//! `POST /predict` and `/models/{name}/predict`.

use ndarray::array;
use serde_json::{Value, json};
use verdict_model::{Model, Output};
use verdict_serve::Options;

use crate::common::*;

#[test]
fn one_row_of_the_only_model_equals_model_predict() {
    let dir = tempfile::tempdir().unwrap();
    let model = line(1.0);
    save(&model, dir.path(), "line");
    let server = TestServer::serving(dir.path(), Options::default());

    let (status, body) = post_json(&server.url("/predict"), &json!({"input": [3.0, 1.0]}));
    assert_eq!(status, 200, "{body}");
    let want = expected(&model, &array![[3.0, 1.0]], Output::Predict);
    assert_eq!(numbers(&body["prediction"]), vec![want[[0, 0]]]);
    assert_eq!(body["model"], "line");
    assert_eq!(body["version"], "1");

    // The same row by name, through the named and versioned routes.
    for path in ["/models/line/predict", "/models/line/versions/1/predict"] {
        let (status, body) = post_json(&server.url(path), &json!({"input": {"b": 1.0, "a": 3.0}}));
        assert_eq!(status, 200, "{body}");
        assert_eq!(numbers(&body["prediction"]), vec![want[[0, 0]]]);
    }
}

#[test]
fn classifiers_answer_labels_probabilities_and_margins() {
    let dir = tempfile::tempdir().unwrap();
    let model = iris();
    save(&model, dir.path(), "iris");
    let server = TestServer::serving(dir.path(), Options::default());

    let rows = iris_rows();
    let inputs: Vec<Vec<f64>> = rows.rows().into_iter().map(|r| r.to_vec()).collect();
    let (status, body) = post_json(
        &server.url("/models/iris/predict"),
        &json!({"inputs": inputs, "outputs": ["predict", "predict_proba", "raw"]}),
    );
    assert_eq!(status, 200, "{body}");

    let signature = model.model.signature();
    let labels: Vec<Value> = expected(&model, &rows, Output::Predict)
        .iter()
        .map(|&i| json!(signature.class_label(i).unwrap().to_string()))
        .collect();
    assert_eq!(body["prediction"], Value::Array(labels));

    let proba = expected(&model, &rows, Output::PredictProba);
    let raw = expected(&model, &rows, Output::Raw);
    for r in 0..rows.nrows() {
        for (k, class) in ["setosa", "versicolor", "virginica"].iter().enumerate() {
            assert_eq!(
                body["predict_proba"][r][format!("proba_{class}")].as_f64(),
                Some(proba[[r, k]])
            );
            assert_eq!(
                body["raw"][r][format!("raw_{k}")].as_f64(),
                Some(raw[[r, k]])
            );
        }
    }
}

#[test]
fn named_instances_take_categories_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = churn();
    save(&model, dir.path(), "churn");
    let server = TestServer::serving(dir.path(), Options::default());

    let (status, body) = post_json(
        &server.url("/predict"),
        &json!({
            "instances": [
                {"x": 0.7, "color": "blue", "customer": "c-1"},
                {"x": 0.2, "color": "red"},
                {"x": null, "color": "purple"},
                {"x": "0.9", "color": 1},
            ],
            "outputs": ["predict", "proba"],
        }),
    );
    assert_eq!(status, 200, "{body}");
    // Unknown categories are missing; numbers given for a categorical feature are codes.
    let encoded = array![[0.7, 2.0], [0.2, 0.0], [f64::NAN, f64::NAN], [0.9, 1.0]];
    let labels: Vec<Value> = expected(&model, &encoded, Output::Predict)
        .iter()
        .map(|&v| json!(v as i64))
        .collect();
    assert_eq!(body["prediction"], Value::Array(labels));
    let proba = expected(&model, &encoded, Output::PredictProba);
    for r in 0..4 {
        assert_eq!(
            body["predict_proba"][r]["proba_0"].as_f64(),
            Some(proba[[r, 0]])
        );
        assert_eq!(
            body["predict_proba"][r]["proba_1"].as_f64(),
            Some(proba[[r, 1]])
        );
    }
}

#[test]
fn a_large_batch_predicts_off_the_event_loop_with_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let model = iris();
    save(&model, dir.path(), "iris");
    let options = Options {
        offload_rows: 8,
        ..Options::default()
    };
    let server = TestServer::serving(dir.path(), options);
    let rows =
        ndarray::Array2::from_shape_fn((5000, 4), |(r, c)| ((r * 7 + c * 3) % 50) as f64 / 7.0);
    let inputs: Vec<Vec<f64>> = rows.rows().into_iter().map(|r| r.to_vec()).collect();
    let (status, body) = post_json(
        &server.url("/predict"),
        &json!({"inputs": inputs, "outputs": ["raw"]}),
    );
    assert_eq!(status, 200);
    let raw = expected(&model, &rows, Output::Raw);
    for r in [0, 1, 2500, 4999] {
        for k in 0..3 {
            assert_eq!(
                body["raw"][r][format!("raw_{k}")].as_f64(),
                Some(raw[[r, k]])
            );
        }
    }
}

#[test]
fn bad_requests_are_answered_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let options = Options {
        max_rows: 3,
        ..Options::default()
    };
    let server = TestServer::serving(dir.path(), options);
    let url = server.url("/predict");
    let cases: Vec<(&str, &[u8], u16, &str)> = vec![
        (
            "malformed",
            b"{\"input\": [1, 2",
            400,
            "malformed JSON at line 1",
        ),
        ("empty", b"", 400, "malformed JSON"),
        (
            "not an object",
            b"[1, 2]",
            400,
            "body: expected a JSON object with `input`",
        ),
        (
            "wrong type",
            b"{\"inputs\": 3}",
            400,
            "JSON at line 1, column 12: invalid type: integer `3`, expected a sequence",
        ),
        ("typo", b"{\"inptu\": [1, 2]}", 400, "unknown field `inptu`"),
        (
            "no rows",
            b"{\"outputs\": [\"predict\"]}",
            400,
            "expected exactly one of",
        ),
        (
            "two forms",
            b"{\"input\": [1, 2], \"inputs\": [[1, 2]]}",
            400,
            "expected exactly one of",
        ),
        (
            "width",
            b"{\"input\": [1, 2, 3]}",
            400,
            "input: expected 2 feature values (a, b), got 3",
        ),
        (
            "text",
            b"{\"input\": [1, \"x\"]}",
            400,
            "input[1]: feature `b` is numeric, got the text \"x\"",
        ),
        (
            "nested",
            b"{\"input\": [1, [2]]}",
            400,
            "input[1]: expected a number",
        ),
        (
            "scalar row",
            b"{\"inputs\": [1, 2]}",
            400,
            "inputs[0]: expected a row",
        ),
        (
            "missing name",
            b"{\"input\": {\"a\": 1}}",
            400,
            "missing feature `b`",
        ),
        (
            "unknown output",
            b"{\"input\": [1, 2], \"outputs\": [\"proba_max\"]}",
            400,
            "outputs[0]: unknown output `proba_max`",
        ),
        (
            "no proba",
            b"{\"input\": [1, 2], \"outputs\": [\"predict_proba\"]}",
            400,
            "has no `predict_proba` output",
        ),
        (
            "rows",
            b"{\"inputs\": [[1, 2], [1, 2], [1, 2], [1, 2]]}",
            413,
            "4 rows, over the limit of 3",
        ),
    ];
    for (name, body, status, message) in cases {
        let (got, answer) = post_raw(&url, body.to_vec());
        assert_eq!(got, status, "{name}: {answer}");
        assert!(error_of(&answer).contains(message), "{name}: {answer}");
    }
    let (status, answer) = post_json(
        &server.url("/models/nope/predict"),
        &json!({"input": [1, 2]}),
    );
    assert_eq!(status, 404);
    assert_eq!(
        error_of(&answer),
        "unknown model `nope` (served models: line)"
    );
    let (status, answer) = post_json(
        &server.url("/models/line/versions/7/predict"),
        &json!({"input": [1, 2]}),
    );
    assert_eq!(status, 404);
    assert!(error_of(&answer).contains("no version `7`"), "{answer}");
}

#[test]
fn the_default_route_needs_a_name_when_several_models_are_served() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    save(&iris(), dir.path(), "iris");
    let server = TestServer::serving(dir.path(), Options::default());
    let (status, body) = post_json(&server.url("/predict"), &json!({"input": [1, 2]}));
    assert_eq!(status, 400);
    assert!(
        error_of(&body).contains("2 models are served (iris, line); name one in the path"),
        "{body}"
    );

    let options = Options {
        default_model: Some("line".into()),
        ..Options::default()
    };
    let server = TestServer::serving(dir.path(), options);
    let (status, body) = post_json(&server.url("/predict"), &json!({"input": [1, 2]}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "line");
}
