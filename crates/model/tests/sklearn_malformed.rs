//! Bad scikit-learn exports: every one must be a clear error that says where the problem is
//! (or a correct model), never a panic, a hang or a huge allocation.
//!
//! The tests build two small exports by hand, check that they predict what the specification
//! (`docs/formats/sklearn.md`) says, then break them: another format version, an unknown
//! estimator, arrays of the wrong length, children out of range, cycles, unreachable nodes,
//! bad flags and bitsets, truncation at every length, and single-byte corruption everywhere.
//!
//! Run: `cargo test -p verdict-model --test sklearn_malformed`.

use ndarray::{Array2, array};
use serde_json::{Value, json};
use verdict_model::import::sklearn;
use verdict_model::{ClassLabel, ImportError, Model, ModelFile, Output};

/// `Pipeline(ColumnTransformer(OneHotEncoder on `c`, passthrough `x`), DecisionTreeClassifier)`.
///
/// The tree: `x <= 0.5` (NaN goes left) to leaf `[1, 0]`; else `is_b <= 0.5` to `[0.25, 0.75]`,
/// else `[0, 1]`.
fn pipeline() -> Value {
    json!({
        "format": "verdict-sklearn",
        "format_version": 1,
        "sklearn_version": "1.9.1",
        "exporter": {"name": "verdict_export", "version": "0.1.0"},
        "input": {
            "n_features": 2,
            "feature_names": ["x", "c"],
            "columns": [
                {"name": "x", "kind": "numeric"},
                {"name": "c", "kind": "categorical", "categories": ["a", "b", "c"]}
            ]
        },
        "output": {"task": "classification", "methods": ["predict", "predict_proba"], "n_outputs": 1},
        "estimator": {
            "type": "Pipeline",
            "n_features_in": 2,
            "feature_names_in": ["x", "c"],
            "steps": [
                {"name": "prep", "estimator": {
                    "type": "ColumnTransformer",
                    "n_features_in": 2,
                    "transformers": [
                        {"name": "oh", "kind": "transformer", "columns": [1],
                         "estimator": {"type": "OneHotEncoder", "n_features_in": 1,
                                       "handle_unknown": "ignore", "n_output_features": 3,
                                       "features": [{"categories": ["a", "b", "c"],
                                                     "output_index": [0, 1, 2],
                                                     "unknown": "zeros"}]},
                         "output_start": 0, "output_width": 3},
                        {"name": "remainder", "kind": "passthrough", "columns": [0],
                         "estimator": null, "output_start": 3, "output_width": 1}
                    ],
                    "n_output_features": 4
                }},
                {"name": "model", "estimator": {
                    "type": "DecisionTreeClassifier",
                    "n_features_in": 4,
                    "classes": ["no", "yes"],
                    "classes_kind": "str",
                    "tree": {
                        "node_count": 5,
                        "children_left": [1, -1, 3, -1, -1],
                        "children_right": [2, -1, 4, -1, -1],
                        "feature": [3, -2, 1, -2, -2],
                        "threshold": [0.5, -2.0, 0.5, -2.0, -2.0],
                        "missing_go_to_left": [1, 0, 0, 0, 0],
                        "value": [[0.5, 0.5], [1.0, 0.0], [0.2, 0.8], [0.25, 0.75], [0.0, 1.0]]
                    }
                }}
            ]
        }
    })
}

/// `HistGradientBoostingRegressor` over `n` (numeric) and `k` (categorical: u, v, w); the
/// trees read `k` first. Root: `k` in {v} goes left (1.0); everything else, missing and
/// unknown included, goes right to `n <= 0` (NaN left): 2.0, else 3.0. Baseline 0.5.
fn hist_gradient_boosting() -> Value {
    json!({
        "format": "verdict-sklearn",
        "format_version": 1,
        "sklearn_version": "1.9.1",
        "input": {
            "n_features": 2,
            "feature_names": ["n", "k"],
            "columns": [
                {"name": "n", "kind": "numeric"},
                {"name": "k", "kind": "categorical", "categories": ["u", "v", "w"]}
            ]
        },
        "output": {"task": "regression", "methods": ["predict"], "n_outputs": 1},
        "estimator": {
            "type": "HistGradientBoostingRegressor",
            "n_features_in": 2,
            "loss": "squared_error",
            "link": "identity",
            "n_trees_per_iteration": 1,
            "baseline_prediction": [0.5],
            "input_columns": [
                {"kind": "numeric"},
                {"kind": "categorical", "categories": ["u", "v", "w"]}
            ],
            "feature_order": [1, 0],
            "is_categorical": [1, 0],
            "known_cat_bitsets": [[7, 0, 0, 0, 0, 0, 0, 0]],
            "f_idx_map": [0, 0],
            "predictors": [[{
                "node_count": 5,
                "value": [0.0, 1.0, 0.0, 2.0, 3.0],
                "feature_idx": [0, 0, 1, 0, 0],
                "num_threshold": [0.0, 0.0, 0.0, 0.0, 0.0],
                "missing_go_to_left": [0, 0, 1, 0, 0],
                "left": [1, 0, 3, 0, 0],
                "right": [2, 0, 4, 0, 0],
                "is_leaf": [0, 1, 0, 1, 1],
                "is_categorical": [1, 0, 0, 0, 0],
                "bitset_idx": [0, 0, 0, 0, 0],
                "raw_left_cat_bitsets": [[2, 0, 0, 0, 0, 0, 0, 0]]
            }]]
        }
    })
}

fn import(doc: &Value) -> Result<ModelFile, ImportError> {
    sklearn::from_bytes(doc.to_string().as_bytes(), "test")
}

/// The error of importing `doc`, as text, asserting that it fails.
fn error(doc: &Value) -> String {
    match import(doc) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_error(doc: &Value, parts: &[&str]) {
    let message = error(doc);
    for part in parts {
        assert!(
            message.contains(part),
            "`{message}` does not mention `{part}`"
        );
    }
}

fn rows(file: &ModelFile, rows: &[(f64, &str)]) -> Array2<f64> {
    let signature = file.model.signature();
    let mut out = Array2::zeros((rows.len(), 2));
    for (i, (x, c)) in rows.iter().enumerate() {
        out[[i, 0]] = *x;
        out[[i, 1]] = signature.encode_category(1, c);
    }
    out
}

#[test]
fn the_small_pipeline_predicts_what_the_specification_says() {
    let file = import(&pipeline()).unwrap();
    let signature = file.model.signature();
    assert_eq!(signature.features[0].name, "x");
    assert_eq!(
        signature.classes().unwrap(),
        [
            ClassLabel::Text("no".into()),
            ClassLabel::Text("yes".into())
        ]
    );
    let x = rows(
        &file,
        &[
            (0.0, "a"),
            (1.0, "a"),
            (1.0, "b"),
            (f64::NAN, "b"),
            (1.0, "zz"),
        ],
    );
    let proba = file.model.predict(x.view(), Output::PredictProba).unwrap();
    assert_eq!(
        proba,
        array![
            [1.0, 0.0],
            [0.25, 0.75],
            [0.0, 1.0],
            [1.0, 0.0],
            [0.25, 0.75]
        ]
    );
    let labels = file.model.predict(x.view(), Output::Predict).unwrap();
    assert_eq!(labels, array![[0.0], [1.0], [1.0], [0.0], [1.0]]);
}

#[test]
fn the_small_hist_gradient_boosting_routes_categories_and_missing_values() {
    let file = import(&hist_gradient_boosting()).unwrap();
    let x = rows(
        &file,
        &[
            (5.0, "v"),
            (-1.0, "u"),
            (1.0, "w"),
            (1.0, "zz"),
            (f64::NAN, "u"),
        ],
    );
    let mut x = x;
    x.push_row(ndarray::ArrayView1::from(&[1.0, f64::NAN]))
        .unwrap();
    let y = file.model.predict(x.view(), Output::Predict).unwrap();
    assert_eq!(y, array![[1.5], [2.5], [3.5], [3.5], [2.5], [3.5]]);
}

#[test]
fn keys_in_any_order_are_read_the_same() {
    // Python's json.dump(..., sort_keys=True) puts `type` after other keys.
    let sorted: Value = serde_json::from_str(&serde_json::to_string(&pipeline()).unwrap()).unwrap();
    let text = serde_json::to_string(&sorted).unwrap();
    assert!(!text.contains("{\"type\""), "serde_json sorts keys");
    let file = sklearn::from_bytes(text.as_bytes(), "sorted").unwrap();
    assert_eq!(file.model, import(&pipeline()).unwrap().model);
}

#[test]
fn another_format_version_is_refused_by_number() {
    let mut doc = pipeline();
    doc["format_version"] = json!(2);
    assert_error(&doc, &["format_version 2", "version 1"]);
    assert!(matches!(import(&doc), Err(ImportError::Unsupported { .. })));
    doc["format_version"] = json!("1");
    assert_error(&doc, &["malformed scikit-learn"]);
    let mut doc = pipeline();
    doc.as_object_mut().unwrap().remove("format_version");
    assert_error(&doc, &["format_version"]);
}

#[test]
fn another_format_tag_is_refused() {
    let mut doc = pipeline();
    doc["format"] = json!("verdict-lightgbm");
    assert_error(&doc, &["at format", "verdict-lightgbm"]);
}

#[test]
fn an_unknown_estimator_is_refused_with_its_name_and_place() {
    let mut doc = pipeline();
    doc["estimator"]["steps"][1]["estimator"]["type"] = json!("KNeighborsClassifier");
    assert_error(
        &doc,
        &[
            "unsupported",
            "KNeighborsClassifier",
            "estimator.steps[1].estimator",
        ],
    );
    let mut doc = pipeline();
    doc["estimator"]["steps"][0]["estimator"]["transformers"][0]["estimator"]["type"] =
        json!("PolynomialFeatures");
    assert_error(&doc, &["PolynomialFeatures", "transformers[0].estimator"]);
    let mut doc = pipeline();
    doc["estimator"]["steps"][0]["estimator"]["transformers"][0]["estimator"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    assert_error(&doc, &["missing field `type`"]);
}

#[test]
fn a_pipeline_that_ends_in_a_transformer_is_refused() {
    let mut doc = pipeline();
    doc["estimator"]["steps"].as_array_mut().unwrap().pop();
    assert_error(&doc, &["ColumnTransformer", "is a transformer"]);
}

#[test]
fn arrays_of_the_wrong_length_are_named() {
    let tree = "/estimator/steps/1/estimator/tree";
    let cases: [(&str, Value, &[&str]); 6] = [
        (
            "children_left",
            json!([1, -1, 3, -1]),
            &["children_left", "expected 5 entries"],
        ),
        ("threshold", json!([0.5]), &["tree.threshold", "expected 5"]),
        ("value", json!([[0.5, 0.5]]), &["tree.value"]),
        (
            "missing_go_to_left",
            json!([1, 0, 0, 0, 0, 0]),
            &["missing_go_to_left"],
        ),
        ("node_count", json!(4), &["expected 4 entries"]),
        ("node_count", json!(-1), &["node_count"]),
    ];
    for (field, value, parts) in cases {
        let mut doc = pipeline();
        *doc.pointer_mut(&format!("{tree}/{field}")).unwrap() = value;
        assert_error(&doc, parts);
    }
    // A class row of the wrong width.
    let mut doc = pipeline();
    *doc.pointer_mut(&format!("{tree}/value/3")).unwrap() = json!([0.25, 0.5, 0.25]);
    assert_error(&doc, &["tree.value[3]", "2 class fractions"]);
    // The one-hot encoder's output indices.
    let mut doc = pipeline();
    let oh = "/estimator/steps/0/estimator/transformers/0/estimator";
    *doc.pointer_mut(&format!("{oh}/features/0/output_index"))
        .unwrap() = json!([0, 1]);
    assert_error(&doc, &["output_index", "expected 3 entries"]);
    // The input description.
    let mut doc = pipeline();
    doc["input"]["columns"].as_array_mut().unwrap().pop();
    assert_error(&doc, &["input.columns", "expected 2"]);
}

#[test]
fn children_out_of_range_cycles_and_unreachable_nodes_are_errors() {
    let tree = "/estimator/steps/1/estimator/tree";
    let cases: [(&str, Value, &[&str]); 6] = [
        (
            "children_right",
            json!([2, -1, 5, -1, -1]),
            &["children_right[2]", "out of range"],
        ),
        (
            "children_left",
            json!([1, -1, -7, -1, -1]),
            &["children_left[2]", "out of range"],
        ),
        // Node 2's left child is the root: a cycle.
        (
            "children_left",
            json!([1, -1, 0, -1, -1]),
            &["node 2", "reached twice"],
        ),
        // Node 2's children are node 1, already a child of the root.
        (
            "children_left",
            json!([1, -1, 1, -1, -1]),
            &["reached twice"],
        ),
        (
            "children_right",
            json!([2, -1, 2, -1, -1]),
            &["reached twice"],
        ),
        // Node 2 is a leaf: nodes 3 and 4 hang from nothing.
        (
            "children_left",
            json!([1, -1, -1, -1, -1]),
            &["node 3", "not reachable"],
        ),
    ];
    for (field, value, parts) in cases {
        let mut doc = pipeline();
        *doc.pointer_mut(&format!("{tree}/{field}")).unwrap() = value;
        assert_error(&doc, parts);
    }
    let mut doc = hist_gradient_boosting();
    let hgb = "/estimator/predictors/0/0";
    *doc.pointer_mut(&format!("{hgb}/left")).unwrap() = json!([1, 0, 2, 0, 0]);
    assert_error(&doc, &["predictors[0][0], node 2", "reached twice"]);
    let mut doc = hist_gradient_boosting();
    *doc.pointer_mut(&format!("{hgb}/right")).unwrap() = json!([2, 0, 9, 0, 0]);
    assert_error(&doc, &["predictors[0][0].right[2]"]);
}

#[test]
fn bad_features_flags_and_bitsets_are_errors() {
    let tree = "/estimator/steps/1/estimator/tree";
    let mut doc = pipeline();
    *doc.pointer_mut(&format!("{tree}/feature/2")).unwrap() = json!(4);
    assert_error(&doc, &["tree.feature[2]", "out of range (0..4)"]);
    let mut doc = pipeline();
    *doc.pointer_mut(&format!("{tree}/missing_go_to_left/0"))
        .unwrap() = json!(2);
    assert_error(&doc, &["missing_go_to_left[0]", "0 or 1"]);

    let hgb = "/estimator/predictors/0/0";
    let cases: [(&str, Value, &[&str]); 5] = [
        (
            "/raw_left_cat_bitsets",
            json!([[2, 0, 0]]),
            &["raw_left_cat_bitsets[0]", "expected 8"],
        ),
        (
            "/raw_left_cat_bitsets",
            json!([[-1, 0, 0, 0, 0, 0, 0, 0]]),
            &["32-bit word"],
        ),
        ("/bitset_idx", json!([3, 0, 0, 0, 0]), &["bitset_idx[0]"]),
        ("/feature_idx", json!([0, 0, 2, 0, 0]), &["feature_idx[2]"]),
        ("/is_leaf", json!([0, 1, 0, 1, 3]), &["is_leaf[4]"]),
    ];
    for (field, value, parts) in cases {
        let mut doc = hist_gradient_boosting();
        *doc.pointer_mut(&format!("{hgb}{field}")).unwrap() = value;
        assert_error(&doc, parts);
    }
    let mut doc = hist_gradient_boosting();
    doc["estimator"]["feature_order"] = json!([1, 1]);
    assert_error(&doc, &["feature_order[1]", "appears twice"]);
    let mut doc = hist_gradient_boosting();
    doc["estimator"]["is_categorical"] = json!([0, 0]);
    assert_error(&doc, &["is_categorical[0]", "disagrees"]);
    let mut doc = hist_gradient_boosting();
    doc["estimator"]["f_idx_map"] = json!([5, 0]);
    assert_error(&doc, &["f_idx_map[0]"]);
}

#[test]
fn inconsistent_widths_tasks_and_ranges_are_errors() {
    let ct = "/estimator/steps/0/estimator";
    let mut doc = pipeline();
    *doc.pointer_mut(&format!("{ct}/transformers/0/output_width"))
        .unwrap() = json!(2);
    assert_error(&doc, &["transformers[0].output_width", "produces 3"]);
    let mut doc = pipeline();
    *doc.pointer_mut(&format!("{ct}/n_output_features")).unwrap() = json!(5);
    assert_error(&doc, &["n_output_features"]);
    let mut doc = pipeline();
    *doc.pointer_mut(&format!("{ct}/transformers/1/columns"))
        .unwrap() = json!([2]);
    assert_error(&doc, &["transformers[1].columns[0]", "out of range"]);
    let mut doc = pipeline();
    *doc.pointer_mut("/estimator/steps/1/estimator/n_features_in")
        .unwrap() = json!(3);
    assert_error(&doc, &["steps[1].estimator.n_features_in", "receives 4"]);
    let mut doc = pipeline();
    doc["output"]["task"] = json!("regression");
    assert_error(&doc, &["output.task", "classifier"]);
    let mut doc = pipeline();
    *doc.pointer_mut("/estimator/steps/1/estimator/classes")
        .unwrap() = json!(["only"]);
    assert_error(&doc, &["classes", "expected 2"]);
    // A scaler reading the string column.
    let mut doc = pipeline();
    *doc.pointer_mut(&format!("{ct}/transformers/0/estimator"))
        .unwrap() = json!({
        "type": "MinMaxScaler", "n_features_in": 1, "scale": [1.0], "min": [0.0],
        "clip": true, "feature_range": [1.0, 0.0]
    });
    *doc.pointer_mut(&format!("{ct}/transformers/0/output_width"))
        .unwrap() = json!(1);
    assert_error(&doc, &["MinMaxScaler", "string categories"]);
    *doc.pointer_mut(&format!("{ct}/transformers/0/columns"))
        .unwrap() = json!([0]);
    assert_error(&doc, &["feature_range", "not a range"]);
}

#[test]
fn non_finite_floats_are_read_from_their_names() {
    let mut doc = pipeline();
    // "Infinity": every number goes left; NaN follows missing_go_to_left (left).
    *doc.pointer_mut("/estimator/steps/1/estimator/tree/threshold/0")
        .unwrap() = json!("Infinity");
    let file = import(&doc).unwrap();
    let x = rows(&file, &[(1e300, "b"), (f64::NAN, "b")]);
    let proba = file.model.predict(x.view(), Output::PredictProba).unwrap();
    assert_eq!(proba, array![[1.0, 0.0], [1.0, 0.0]]);
    *doc.pointer_mut("/estimator/steps/1/estimator/tree/threshold/0")
        .unwrap() = json!("Inf");
    assert_error(&doc, &["Inf"]);
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for doc in [pipeline(), hist_gradient_boosting()] {
        let text = doc.to_string();
        for end in 0..text.len() {
            let result = sklearn::from_bytes(&text.as_bytes()[..end], "cut");
            assert!(
                matches!(result, Err(ImportError::Malformed { .. })),
                "truncated at {end}: {result:?}"
            );
        }
    }
}

#[test]
fn corrupting_any_byte_never_panics() {
    for doc in [pipeline(), hist_gradient_boosting()] {
        let text = doc.to_string().into_bytes();
        let x = array![[0.25, 1.0], [f64::NAN, 0.0], [3.0, f64::NAN], [-1.0, 7.0]];
        for at in 0..text.len() {
            for replacement in [b'0', b'9', b'-', b'"', b'}', b'x'] {
                let mut bytes = text.clone();
                bytes[at] = replacement;
                // Either an error or a model that predicts without panicking.
                if let Ok(file) = sklearn::from_bytes(&bytes, "flipped") {
                    for output in file.model.signature().outputs() {
                        let _ = file.model.predict(x.view(), output);
                    }
                }
            }
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 5000 nested pipelines, written by hand: serde_json's own writer would recurse.
    let mut text = String::new();
    for _ in 0..5000 {
        text.push_str(r#"{"type":"Pipeline","steps":[{"name":"p","estimator":"#);
    }
    text.push_str("null");
    for _ in 0..5000 {
        text.push_str("}]}");
    }
    let doc = format!(
        r#"{{"format":"verdict-sklearn","format_version":1,"sklearn_version":"1.9.1",
            "input":{{"n_features":1,"feature_names":null,"columns":[{{"name":null,"kind":"numeric"}}]}},
            "output":{{"task":"regression"}},"estimator":{text}}}"#
    );
    let result = sklearn::from_bytes(doc.as_bytes(), "deep");
    assert!(
        matches!(result, Err(ImportError::Malformed { .. })),
        "{result:?}"
    );
}

#[test]
fn a_column_the_column_transformer_drops_is_an_unused_feature() {
    // The small pipeline with a third input column `note` that no entry selects: the
    // exporter marks it `ignored`, and scikit-learn accepts any value there.
    let mut doc = pipeline();
    doc["input"]["n_features"] = json!(3);
    doc["input"]["feature_names"] = json!(["x", "c", "note"]);
    doc["input"]["columns"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "note", "kind": "ignored"}));
    doc["estimator"]["n_features_in"] = json!(3);
    doc["estimator"]["steps"][0]["estimator"]["n_features_in"] = json!(3);
    let file = import(&doc).unwrap();
    let signature = file.model.signature();
    assert_eq!(
        signature.features[2].kind,
        verdict_model::FeatureKind::Unused
    );
    // Whatever the unused column holds, the prediction is the same.
    let x = [(1.0, "a")];
    let mut with = Array2::zeros((1, 3));
    with[[0, 0]] = x[0].0;
    with[[0, 1]] = signature.encode_category(1, x[0].1);
    let mut other = with.clone();
    with[[0, 2]] = f64::NAN;
    other[[0, 2]] = 12345.0;
    let proba = |rows: &Array2<f64>| {
        file.model
            .predict(rows.view(), Output::PredictProba)
            .unwrap()
    };
    assert_eq!(proba(&with), array![[0.25, 0.75]]);
    assert_eq!(proba(&other), proba(&with));

    // A step that would read the ignored column is a malformed export, named.
    let mut reads_it = doc.clone();
    reads_it["estimator"]["steps"][0]["estimator"]["transformers"][1]["columns"] = json!([0, 2]);
    reads_it["estimator"]["steps"][0]["estimator"]["transformers"][1]["output_width"] = json!(2);
    reads_it["estimator"]["steps"][0]["estimator"]["n_output_features"] = json!(5);
    reads_it["estimator"]["steps"][1]["estimator"]["n_features_in"] = json!(5);
    assert_error(
        &reads_it,
        &[
            "estimator.steps[1].estimator",
            "reads its input column 4",
            "marks `ignored`",
        ],
    );
}
