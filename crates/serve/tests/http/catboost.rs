//! A CatBoost model with categorical features, served from the `.cbm` file CatBoost saved:
//! categories go over the wire as text (and integers as numbers) and score as in CatBoost,
//! whose own outputs `tools/fixtures/gen_catboost.py` stored beside the model.

use std::path::Path;

use serde_json::{Value, json};
use verdict_serve::Options;

use crate::common::*;

/// A directory serving the fixture's `.cbm` file as model `cats`, the feature names, the rows
/// (categories as text or integers, `""` and unseen ones included) and CatBoost's raw margins.
fn fixture(name: &str) -> (tempfile::TempDir, Vec<String>, Vec<Vec<Value>>, Vec<f64>) {
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/catboost")
        .join(name);
    let data: Value =
        serde_json::from_slice(&std::fs::read(case.join("data.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(case.join("model.cbm"), dir.path().join("cats.cbm")).unwrap();
    let names = data["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    let rows = data["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect();
    let raw = data["outputs"]["raw"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_f64().unwrap())
        .collect();
    (dir, names, rows, raw)
}

fn assert_close(found: &[f64], expected: &[f64], what: &str) {
    assert_eq!(found.len(), expected.len(), "{what}");
    for (row, (ours, theirs)) in found.iter().zip(expected).enumerate() {
        assert!(
            (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
            "{what} row {row}: ours {ours}, CatBoost {theirs}"
        );
    }
}

#[test]
fn named_instances_take_raw_categories() {
    for name in ["cat_ctr_binary", "cat_int"] {
        let (dir, names, rows, raw) = fixture(name);
        let server = TestServer::serving(dir.path(), Options::default());
        let instances: Vec<Value> = rows
            .iter()
            .map(|row| {
                let object: serde_json::Map<String, Value> =
                    names.iter().cloned().zip(row.iter().cloned()).collect();
                Value::Object(object)
            })
            .collect();
        let (status, body) = post_json(
            &server.url("/predict"),
            &json!({"instances": instances, "outputs": ["raw"]}),
        );
        assert_eq!(status, 200, "{name}: {body}");
        let found: Vec<f64> = body["raw"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().or_else(|| v["raw"].as_f64()).unwrap())
            .collect();
        assert_close(&found, &raw, name);
    }
}

#[test]
fn v2_tensors_take_categories_as_bytes_and_integers_as_numbers() {
    let (dir, names, rows, raw) = fixture("cat_int");
    let server = TestServer::serving(dir.path(), Options::default());
    let inputs: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let column: Vec<Value> = rows.iter().map(|row| row[j].clone()).collect();
            let datatype = if column.iter().all(Value::is_i64) {
                "INT64"
            } else {
                "FP64"
            };
            json!({"name": name, "shape": [rows.len()], "datatype": datatype, "data": column})
        })
        .collect();
    let (status, body) = post_json(
        &server.url("/v2/models/cats/infer"),
        &json!({"inputs": inputs, "outputs": [{"name": "raw"}]}),
    );
    assert_eq!(status, 200, "{body}");
    let output = body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "raw")
        .unwrap();
    let found: Vec<f64> = output["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_close(&found, &raw, "cat_int over v2");

    // The metadata tells clients that a categorical feature takes text.
    let (status, metadata) = get(&server.url("/v2/models/cats"));
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    let zip = metadata["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "zip")
        .unwrap();
    assert_eq!(zip["datatype"], "BYTES");
}

#[test]
fn a_missing_category_is_a_client_error_naming_it() {
    let (dir, names, rows, _) = fixture("cat_one_hot");
    let server = TestServer::serving(dir.path(), Options::default());
    let mut row: serde_json::Map<String, Value> =
        names.iter().cloned().zip(rows[0].iter().cloned()).collect();
    row.insert("colour".into(), Value::Null);
    let (status, body) = post_json(&server.url("/predict"), &json!({"instances": [row]}));
    assert_eq!(status, 400, "{body}");
    let message = error_of(&body);
    assert!(
        message.contains("`colour`") && message.contains("no category"),
        "{message}"
    );
}
