//! CatBoost parity: every model under `tests/fixtures/catboost/`, imported from its binary
//! `.cbm` file and from its JSON export, and scored on the fixture's inputs, must give
//! CatBoost's own outputs, stored beside it by
//! `tools/fixtures/gen_catboost.py` (CatBoost 1.2.10):
//!
//! - `raw` against `predict(prediction_type="RawFormulaVal")`;
//! - `predict` against `predict()`: values for regressors (`exp` of the margin for Poisson and
//!   Tweedie), class labels for classifiers, compared exactly through the signature's labels;
//! - `predict_proba` against `predict_proba()`.
//!
//! The tolerance is 1e-9 relative, in `f64`. Every case is scored by the compiled engine and
//! by the reference evaluator, which must agree to the bit.
//!
//! Run: `cargo test -p verdict-model --test catboost_parity`.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;
use verdict_model::family::Family;
use verdict_model::{
    ClassLabel, Codec, FeatureKind, Model, ModelFile, Output, PredictError, Signature,
    SourceFormat, Task, import, matching,
};

/// The relative tolerance of every comparison.
const TOLERANCE: f64 = 1e-9;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/catboost")
}

struct Case {
    name: String,
    model: ModelFile,
    data: Value,
}

/// The two files CatBoost saves for each case.
const FILES: [&str; 2] = ["model.cbm", "model.json"];

fn load(case: &str, file: &str) -> Case {
    let dir = fixtures().join(case);
    let bytes = std::fs::read(dir.join(file)).expect("the fixture model exists");
    let data: Value = serde_json::from_slice(
        &std::fs::read(dir.join("data.json")).expect("the fixture data exists"),
    )
    .expect("data.json is JSON");
    // Detected from the content, and again when named: both must give the same model.
    let model = import::from_bytes(&bytes, case, None)
        .unwrap_or_else(|e| panic!("{case}/{file}: import failed: {e}"));
    let named = import::from_bytes(&bytes, case, Some(SourceFormat::Catboost)).unwrap();
    assert_eq!(model.model, named.model);
    Case {
        name: format!("{case}/{file}"),
        model,
        data,
    }
}

fn matrix(value: &Value, what: &str) -> Array2<f64> {
    let rows = value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is a list"));
    let width = rows.first().map_or(0, |r| r.as_array().unwrap().len());
    Array2::from_shape_fn((rows.len(), width), |(i, j)| match &rows[i][j] {
        Value::Null => f64::NAN,
        v => v
            .as_f64()
            .unwrap_or_else(|| panic!("{what}[{i}][{j}] = {v} is a number")),
    })
}

/// The model's input for the fixture's rows: numbers as they are; for a categorical feature,
/// its category's hash, computed from the text (or the integer) as front ends compute it.
fn inputs(value: &Value, signature: &Signature) -> Array2<f64> {
    let rows = value.as_array().expect("inputs is a list");
    let width = signature.num_features();
    Array2::from_shape_fn((rows.len(), width), |(i, j)| {
        let hashed = signature.features[j].kind == FeatureKind::HashedCategory;
        match (&rows[i][j], hashed) {
            (Value::Null, _) => f64::NAN,
            (Value::String(text), true) => matching::hashed_text(text),
            (Value::Number(n), true) => matching::hashed_number(n.as_f64().unwrap()),
            (Value::Number(n), false) => n.as_f64().unwrap(),
            (v, _) => panic!("inputs[{i}][{j}] = {v} does not fit feature {j}"),
        }
    })
}

fn compare(case: &str, what: &str, found: &Array2<f64>, expected: &Array2<f64>) {
    assert_eq!(found.dim(), expected.dim(), "{case}: {what}: shape");
    for ((i, j), &e) in expected.indexed_iter() {
        let f = found[(i, j)];
        let close = f == e || (f - e).abs() <= TOLERANCE * f.abs().max(e.abs());
        assert!(
            close,
            "{case}: {what}[{i}][{j}]: Verdict {f:e}, CatBoost {e:e}"
        );
    }
}

fn bits(a: &Array2<f64>) -> Vec<u64> {
    a.iter().map(|v| v.to_bits()).collect()
}

/// Imports `case` from both of its files and checks each (see [`check_file`]); returns the
/// model read from the `.cbm` file.
fn check(case: &str) -> Case {
    let [cbm, json] = FILES.map(|file| check_file(case, file));
    // Two readers of two encodings of one model: the same borders, leaves and options.
    assert_eq!(
        cbm.model.model, json.model.model,
        "{case}: .cbm and JSON differ"
    );
    cbm
}

/// Imports `file` of `case`, checks every output against CatBoost's, the compiled engine
/// against the reference, and the model's round trip through a `.vdm` file.
fn check_file(case: &str, file: &str) -> Case {
    let case = load(case, file);
    let name = &case.name;
    let model = &case.model.model;
    let features = inputs(&case.data["inputs"], model.signature());
    let outputs = &case.data["outputs"];
    let reference = model.reference();
    let file = ModelFile::from_bytes(&case.model.to_bytes(Codec::Bincode).unwrap()).unwrap();
    assert_eq!(file.model, *model, "{name}: .vdm round trip");

    for output in model.signature().outputs() {
        let found = model.predict(features.view(), output).unwrap();
        let slow = reference.predict(features.view(), output).unwrap();
        assert_eq!(
            bits(&found),
            bits(&slow),
            "{name}: {output}: engine vs reference"
        );
        let reloaded = file.model.predict(features.view(), output).unwrap();
        assert_eq!(
            bits(&found),
            bits(&reloaded),
            "{name}: {output}: after .vdm"
        );
    }

    let raw = model.predict(features.view(), Output::Raw).unwrap();
    compare(name, "raw", &raw, &matrix(&outputs["raw"], "raw"));
    let predict = model.predict(features.view(), Output::Predict).unwrap();
    match model.signature().classes() {
        Some(_) => {
            let proba = model
                .predict(features.view(), Output::PredictProba)
                .unwrap();
            compare(
                name,
                "predict_proba",
                &proba,
                &matrix(&outputs["predict_proba"], "proba"),
            );
            for (i, expected) in outputs["predict"].as_array().unwrap().iter().enumerate() {
                let label = model.signature().class_label(predict[(i, 0)]);
                let expected = match &expected[0] {
                    Value::String(s) => ClassLabel::Text(s.clone()),
                    v => ClassLabel::Int(v.as_i64().expect("an integer label")),
                };
                assert_eq!(label, Some(&expected), "{name}: label of row {i}");
            }
        }
        None => compare(
            name,
            "predict",
            &predict,
            &matrix(&outputs["predict"], "predict"),
        ),
    }
    case
}

fn is_oblivious(case: &Case) -> bool {
    matches!(case.model.model.family(), Family::Oblivious(_))
}

#[test]
fn binary_classifiers() {
    for name in [
        "logloss",
        "logloss_nan_max",
        "logloss_string_labels",
        "cross_entropy",
    ] {
        assert!(is_oblivious(&check(name)), "{name}");
    }
}

#[test]
fn multiclass_classifiers() {
    for name in ["multiclass", "multiclass_int"] {
        let case = check(name);
        assert!(case.model.model.signature().raw_width > 2, "{name}");
    }
}

#[test]
fn regressors() {
    for name in [
        "rmse",
        "mae",
        "quantile",
        "poisson",
        "tweedie",
        "scale_and_bias",
        "deep",
    ] {
        assert!(is_oblivious(&check(name)), "{name}");
    }
}

#[test]
fn rmse_with_uncertainty_predicts_the_mean_and_the_variance() {
    for name in ["rmse_uncertainty", "rmse_uncertainty_depthwise"] {
        let case = check(name);
        assert_eq!(
            case.model.model.signature().task,
            Task::MultiOutput {
                targets: vec!["mean".into(), "variance".into()]
            },
            "{name}"
        );
    }
}

#[test]
fn non_symmetric_trees_go_through_the_general_engine() {
    for name in [
        "rmse_depthwise",
        "rmse_lossguide",
        "logloss_depthwise",
        "multiclass_lossguide",
    ] {
        let case = check(name);
        assert!(
            matches!(case.model.model.family(), Family::Trees(_)),
            "{name}"
        );
    }
}

#[test]
fn the_release_that_saved_the_model_is_recorded() {
    // tools/fixtures/requirements-catboost.txt pins catboost==1.2.10.
    for file in FILES {
        let case = load("logloss", file);
        let source = &case.model.info.source;
        assert_eq!(
            (source.library.as_str(), source.library_version.as_str()),
            ("catboost", "1.2.10"),
            "{file}"
        );
    }
}

#[test]
fn feature_names_come_from_the_model() {
    let case = load("rmse", "model.cbm");
    let names: Vec<_> = case
        .model
        .model
        .signature()
        .features
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let expected: Vec<String> = serde_json::from_value(case.data["feature_names"].clone()).unwrap();
    assert_eq!(names, expected);
    assert!(!case.model.model.signature().positional);
}

#[test]
fn a_missing_value_is_refused_where_the_model_forbids_it() {
    let case = check("forbidden");
    let model = &case.model.model;
    let rows = matrix(&case.data["forbidden_inputs"], "forbidden_inputs");
    for (i, row) in rows.rows().into_iter().enumerate() {
        let one = row.to_owned().insert_axis(ndarray::Axis(0));
        let feature = model.signature().features[row.iter().position(|v| v.is_nan()).unwrap()]
            .name
            .clone();
        for m in [model.clone(), model.reference()] {
            let error = m.predict(one.view(), Output::Raw).unwrap_err();
            assert_eq!(
                error,
                PredictError::ForbiddenMissing {
                    row: 0,
                    feature: feature.clone()
                },
                "forbidden row {i}"
            );
            assert!(error.to_string().contains("nan_mode=Forbidden"));
        }
    }
    // In a larger batch, the row number is the batch's.
    let mut batch = matrix(&case.data["inputs"], "inputs");
    batch[(37, 2)] = f64::NAN;
    let error = model.predict(batch.view(), Output::Predict).unwrap_err();
    assert!(
        matches!(error, PredictError::ForbiddenMissing { row: 37, .. }),
        "{error}"
    );
}

#[test]
fn categorical_features_score_as_in_catboost() {
    // One-hot features, CTRs of every kind CPU CatBoost trains (with combinations of
    // categories and of a category with float splits), regression and multiclass CTRs, and
    // integer categories; the inputs hold categories never seen in training and "".
    for name in [
        "cat_one_hot",
        "cat_ctr_binary",
        "cat_ctr_regression",
        "cat_ctr_multiclass",
        "cat_int",
        "cat_depthwise",
        "cat_lossguide",
    ] {
        let case = check(name);
        let signature = case.model.model.signature();
        let expected: Vec<String> =
            serde_json::from_value(case.data["cat_features"].clone()).unwrap();
        let hashed: Vec<&str> = signature
            .features
            .iter()
            .filter(|f| f.kind == FeatureKind::HashedCategory)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(hashed, expected, "{name}: the categorical features");
    }
}

#[test]
fn categorical_features_in_non_symmetric_trees_feed_the_general_engine() {
    for name in ["cat_depthwise", "cat_lossguide"] {
        let case = load(name, "model.cbm");
        let Family::Pipeline(pipeline) = case.model.model.family() else {
            panic!("{name}: not a pipeline");
        };
        assert!(
            matches!(pipeline.model.as_ref(), Family::Trees(_)),
            "{name}: the trees after the step"
        );
    }
}

#[test]
fn a_missing_category_is_refused_with_its_row_and_feature() {
    // CatBoost itself refuses a missing category (data.json keeps its message): there is no
    // hash to give it.
    let case = load("cat_ctr_binary", "model.cbm");
    let model = &case.model.model;
    let mut rows = inputs(&case.data["inputs"], model.signature());
    let shop = model.signature().feature_index("shop").unwrap();
    rows[(5, shop)] = f64::NAN;
    let error = model.predict(rows.view(), Output::Raw).unwrap_err();
    assert_eq!(
        error,
        PredictError::MissingCategory {
            row: 5,
            feature: "shop".into()
        }
    );
    assert!(
        case.data["cat_missing_error"].as_str().is_some(),
        "the fixture records CatBoost's own refusal"
    );
}

#[test]
fn the_engine_refuses_a_row_with_missing_categories_as_the_reference_does() {
    // With two categories missing, the error names the one the reference reads first.
    for name in [
        "cat_one_hot",
        "cat_ctr_binary",
        "cat_ctr_multiclass",
        "cat_int",
        "cat_depthwise",
        "cat_lossguide",
    ] {
        let case = load(name, "model.cbm");
        let model = &case.model.model;
        let reference = model.reference();
        let clean = inputs(&case.data["inputs"], model.signature());
        let categorical: Vec<usize> = model
            .signature()
            .features
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind == FeatureKind::HashedCategory)
            .map(|(i, _)| i)
            .collect();
        for &a in &categorical {
            for &b in &categorical {
                let mut rows = clean.clone();
                rows[(7, a)] = f64::NAN;
                rows[(7, b)] = f64::NAN;
                rows[(9, a)] = f64::NAN;
                let engine = model.predict(rows.view(), Output::Raw).unwrap_err();
                let slow = reference.predict(rows.view(), Output::Raw).unwrap_err();
                assert_eq!(engine, slow, "{name}: features {a} and {b} missing");
            }
        }
    }
}

#[test]
fn text_features_are_refused_by_name() {
    // CatBoost writes a model with text features only as .cbm.
    let case = fixtures().join("text_refused");
    let data: Value =
        serde_json::from_slice(&std::fs::read(case.join("data.json")).unwrap()).unwrap();
    let bytes = std::fs::read(case.join("model.cbm")).unwrap();
    let error = import::from_bytes(&bytes, "reviews", None)
        .unwrap_err()
        .to_string();
    for word in data["refused"].as_array().unwrap() {
        let word = word.as_str().unwrap();
        assert!(error.contains(word), "`{error}` lacks `{word}`");
    }
}
