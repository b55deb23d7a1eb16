//! KServe's v1 protocol: `/v1/models`, `/v1/models/{name}` and `:predict` with `instances`.

use serde_json::{Value, json};
use verdict_model::{Model, Output};
use verdict_serve::Options;

use crate::common::*;

#[test]
fn models_readiness_and_predictions() {
    let dir = tempfile::tempdir().unwrap();
    save(&iris(), dir.path(), "iris");
    save(&line(1.0), dir.path(), "line");
    let server = TestServer::serving(dir.path(), Options::default());

    let (status, text) = get(&server.url("/v1/models"));
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"models": ["iris", "line"]})
    );
    let (status, text) = get(&server.url("/v1/models/iris"));
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"name": "iris", "ready": true})
    );
    assert_eq!(get(&server.url("/v1/models/nope")).0, 404);

    let rows = iris_rows();
    let instances: Vec<Value> = rows.rows().into_iter().map(|r| json!(r.to_vec())).collect();
    let (status, answer) = post_json(
        &server.url("/v1/models/iris:predict"),
        &json!({ "instances": instances }),
    );
    assert_eq!(status, 200, "{answer}");
    let model = iris();
    let want: Vec<Value> = expected(&model, &rows, Output::Predict)
        .iter()
        .map(|&i| json!(model.model.signature().class_label(i).unwrap().to_string()))
        .collect();
    assert_eq!(answer, json!({ "predictions": want }));

    // Records by feature name, and `inputs` as another name for `instances`.
    let (status, answer) = post_json(
        &server.url("/v1/models/line:predict"),
        &json!({"inputs": [{"a": 1, "b": 2}, [3, 1]]}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"predictions": [1.0, 6.0]}));

    let (status, answer) = post_json(
        &server.url("/v1/models/line:predict"),
        &json!({"instances": [[1]]}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        error_of(&answer).starts_with("instances[0]: expected 2 feature values"),
        "{answer}"
    );
    let (status, answer) = post_json(
        &server.url("/v1/models/nope:predict"),
        &json!({"instances": []}),
    );
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = post_json(&server.url("/v1/models/line:predict"), &json!({}));
    assert_eq!(status, 400, "{answer}");
    assert!(error_of(&answer).contains("`instances`"), "{answer}");
}
