//! Golden parity with scikit-learn: every case in `tests/fixtures/sklearn/` is imported from
//! its `model.json` (written by the Python package's `verdict.sklearn_export`) and its
//! predictions are compared with the outputs scikit-learn itself computed (stored in
//! `data.json` by `tools/fixtures/gen_sklearn.py`).
//!
//! - Labels must be equal.
//! - `predict_proba` and `raw` (`decision_function`) must be within `1e-9` absolute, and
//!   regression predictions within `1e-9` relative: linear models go through BLAS, with its
//!   own summation order, and probabilities through `exp`, which may differ in the last bit.
//! - Where Verdict follows scikit-learn's operation order exactly (tree routing, forest and
//!   boosting sums, tree probabilities, encoders and scalers feeding trees) the outputs must
//!   be bit-identical: those are the cases `exact_outputs` lists.
//!
//! Inputs hold strings for categorical columns, encoded with `Signature::encode_category`,
//! and `null` for missing values.
//!
//! A category string the model never saw is encoded as `-1`, an invalid code, which the
//! encoders tell apart from a missing value (`NaN`), as scikit-learn does.
//!
//! Run: `cargo test -p verdict-model --test sklearn_parity -- --nocapture` (the table of
//! which outputs were exact is printed).

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;
use verdict_model::{ClassLabel, Model, ModelFile, Output, Signature, SourceFormat, import};

/// Absolute tolerance of probabilities and decision values.
const TOLERANCE: f64 = 1e-9;

/// Relative tolerance of regression predictions.
const RELATIVE: f64 = 1e-9;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sklearn")
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(fixtures())
        .expect("the sklearn fixtures directory exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("model.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// The input rows: numbers as they are, `null` as NaN, strings as category codes.
fn inputs(signature: &Signature, rows: &Value) -> Array2<f64> {
    let rows = rows.as_array().unwrap();
    let mut out = Array2::from_elem((rows.len(), signature.num_features()), f64::NAN);
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), signature.num_features(), "row {i} width");
        for (j, cell) in row.iter().enumerate() {
            out[[i, j]] = match cell {
                Value::Null => f64::NAN,
                Value::Number(n) => n.as_f64().unwrap(),
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::String(s) => signature.encode_category(j, s),
                other => panic!("row {i} column {j}: unexpected cell {other}"),
            };
        }
    }
    out
}

/// The type of the estimator that predicts: the last step of nested pipelines.
fn final_estimator(doc: &Value) -> &Value {
    let mut estimator = &doc["estimator"];
    while estimator["type"] == "Pipeline" {
        estimator = estimator["steps"].as_array().unwrap().last().unwrap();
        estimator = &estimator["estimator"];
    }
    estimator
}

/// The outputs Verdict must reproduce bit for bit, as the Python reference evaluator does
/// (`exact_keys` in `crates/python/tests/test_sklearn_export.py`).
fn exact_outputs(doc: &Value) -> &'static [&'static str] {
    let estimator = final_estimator(doc);
    let kind = estimator["type"].as_str().unwrap();
    if kind.starts_with("DecisionTree")
        || kind.starts_with("RandomForest")
        || kind.starts_with("ExtraTrees")
    {
        &["predict", "predict_proba"]
    } else if kind.starts_with("GradientBoosting") {
        &["predict", "raw"]
    } else if kind.starts_with("HistGradientBoosting") {
        if estimator["link"] == "log" {
            &["raw"]
        } else {
            &["predict", "raw"]
        }
    } else {
        &[]
    }
}

/// The label scikit-learn returned, as the signature names it.
fn expected_label(value: &Value) -> ClassLabel {
    match value {
        Value::String(s) => ClassLabel::Text(s.clone()),
        Value::Bool(b) => ClassLabel::Text(if *b { "True" } else { "False" }.to_owned()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => ClassLabel::Int(i),
            None => ClassLabel::Text(format!("{:?}", n.as_f64().unwrap())),
        },
        other => panic!("unexpected label {other}"),
    }
}

fn matrix(value: &Value) -> Array2<f64> {
    let rows = value.as_array().unwrap();
    let cols = rows.first().map_or(0, |r| r.as_array().unwrap().len());
    let mut out = Array2::zeros((rows.len(), cols));
    for (i, row) in rows.iter().enumerate() {
        for (j, v) in row.as_array().unwrap().iter().enumerate() {
            out[[i, j]] = v.as_f64().unwrap_or(f64::NAN);
        }
    }
    out
}

/// How one output of one case compared.
#[derive(Debug, Default)]
struct Outcome {
    /// Values compared.
    values: usize,
    /// Values not bit-identical.
    inexact: usize,
    /// The largest difference (relative for regression predictions).
    max_error: f64,
    problems: Vec<String>,
}

fn compare(
    model: &ModelFile,
    key: &str,
    expected: &Value,
    inputs: &Array2<f64>,
    exact: bool,
) -> Outcome {
    let signature = model.model.signature();
    let mut outcome = Outcome::default();
    let output = match key {
        "predict" => Output::Predict,
        "predict_proba" => Output::PredictProba,
        "raw" => Output::Raw,
        other => {
            outcome
                .problems
                .push(format!("unknown output `{other}` in data.json"));
            return outcome;
        }
    };
    let ours = match model.model.predict(inputs.view(), output) {
        Ok(ours) => ours,
        Err(e) => {
            outcome.problems.push(format!("{key}: {e}"));
            return outcome;
        }
    };
    if output == Output::Predict && signature.classes().is_some() {
        for (i, row) in expected.as_array().unwrap().iter().enumerate() {
            let theirs = expected_label(&row[0]);
            outcome.values += 1;
            if signature.class_label(ours[[i, 0]]) != Some(&theirs) {
                outcome.inexact += 1;
                outcome.problems.push(format!(
                    "label[{i}]: ours {:?}, scikit-learn {theirs}",
                    signature.class_label(ours[[i, 0]])
                ));
            }
        }
        return outcome;
    }
    let theirs = matrix(expected);
    if ours.dim() != theirs.dim() {
        outcome.problems.push(format!(
            "{key}: shape {:?}, scikit-learn {:?}",
            ours.dim(),
            theirs.dim()
        ));
        return outcome;
    }
    let relative = output == Output::Predict;
    for ((i, j), &t) in theirs.indexed_iter() {
        let o = ours[[i, j]];
        outcome.values += 1;
        if o.to_bits() == t.to_bits() || o == t {
            continue;
        }
        outcome.inexact += 1;
        let error = if relative {
            (o - t).abs() / t.abs()
        } else {
            (o - t).abs()
        };
        outcome.max_error =
            outcome
                .max_error
                .max(if error.is_nan() { f64::INFINITY } else { error });
        let allowed = if relative { RELATIVE } else { TOLERANCE };
        // False for a NaN error: a NaN where scikit-learn has a number is a problem.
        let within = error <= allowed;
        if exact || !within {
            outcome.problems.push(format!(
                "{key}[{i}][{j}]: ours {o:e}, scikit-learn {t:e} ({}error {error:e}{})",
                if relative { "relative " } else { "" },
                if exact {
                    ", bit-identical expected"
                } else {
                    ""
                }
            ));
        }
    }
    outcome
}

/// Loads one case, checks it, and returns its problems and a line for the summary table.
fn check_case(dir: &Path) -> (Vec<String>, String) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let bytes = fs::read(dir.join("model.json")).unwrap();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let data = read_json(&dir.join("data.json"));
    // Detected from the content, as every command does.
    let model = match import::from_bytes(&bytes, &name, None) {
        Ok(model) => model,
        Err(e) => {
            return (
                vec![format!("{name}: import failed: {e}")],
                format!("{name}: FAILED"),
            );
        }
    };
    let signature = model.model.signature();
    let mut problems = Vec::new();
    assert_eq!(model.info.source.library, "scikit-learn");
    if model.info.source.library_version != data["library_version"].as_str().unwrap_or("") {
        problems.push(format!(
            "library version {}, fixture {}",
            model.info.source.library_version, data["library_version"]
        ));
    }
    if !signature.positional {
        let names: Vec<&str> = signature.features.iter().map(|f| f.name.as_str()).collect();
        let expected: Vec<&str> = data["feature_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        if names != expected {
            problems.push(format!("feature names {names:?}, fixture {expected:?}"));
        }
    }
    let inputs = inputs(signature, &data["inputs"]);
    let exact = exact_outputs(&doc);
    let mut summary = format!("{name:<55} {:>4} rows", inputs.nrows());
    let outputs = data["outputs"].as_object().unwrap();
    for (key, expected) in outputs {
        let outcome = compare(
            &model,
            key,
            expected,
            &inputs,
            exact.contains(&key.as_str()),
        );
        problems.extend(outcome.problems.iter().map(|p| format!("{name}: {p}")));
        summary += &if outcome.inexact == 0 {
            format!("  {key}: exact")
        } else {
            format!(
                "  {key}: {}/{} inexact, max {:.1e}",
                outcome.inexact, outcome.values, outcome.max_error
            )
        };
    }
    // The fast tree engine must give what the reference evaluator gives, bit for bit.
    let reference = model.model.reference();
    for output in signature.outputs() {
        let fast = model.model.predict(inputs.view(), output);
        let slow = reference.predict(inputs.view(), output);
        match (fast, slow) {
            (Ok(fast), Ok(slow)) => {
                let same = fast
                    .iter()
                    .zip(slow.iter())
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                if !same {
                    problems.push(format!(
                        "{name}: {output}: the compiled engine differs from the reference"
                    ));
                }
            }
            (fast, slow) => {
                if fast.is_ok() != slow.is_ok() {
                    problems.push(format!("{name}: {output}: engines disagree on failing"));
                }
            }
        }
    }
    (problems, summary)
}

#[test]
fn every_fixture_case_matches_scikit_learn() {
    let dirs = case_dirs();
    assert!(
        dirs.len() >= 39,
        "expected every fixture case, found {}",
        dirs.len()
    );
    let mut problems = Vec::new();
    for dir in &dirs {
        let (mut found, summary) = check_case(dir);
        eprintln!("{summary}");
        problems.append(&mut found);
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn sklearn_exports_load_with_from_too() {
    let dir = fixtures().join("logistic_binary_breast_cancer");
    let bytes = fs::read(dir.join("model.json")).unwrap();
    let model = import::from_bytes(&bytes, "m", Some(SourceFormat::Sklearn)).unwrap();
    assert_eq!(model.info.name, "m");
    let loaded = import::load(dir.join("model.json"), None).unwrap();
    assert_eq!(loaded.info.name, "model");
    assert_eq!(loaded.model, model.model);
}

/// scikit-learn's linear models raise on `NaN` input (`ValueError: Input X contains NaN`);
/// the imported ones reject it too, naming the row and input, instead of predicting `NaN`.
/// Pipelines whose imputers fill the gaps first (the `pipeline_*` cases above) still predict.
#[test]
fn imported_linear_models_reject_missing_values_as_scikit_learn_does() {
    for (case, output) in [
        ("logistic_binary_breast_cancer", Output::PredictProba),
        ("linear_regression_diabetes", Output::Predict),
        ("linear_svc_multiclass_wine", Output::Raw),
    ] {
        let dir = fixtures().join(case);
        let model = import::from_bytes(&fs::read(dir.join("model.json")).unwrap(), case, None)
            .unwrap()
            .model;
        let data = read_json(&dir.join("data.json"));
        let mut rows = inputs(model.signature(), &data["inputs"]);
        assert!(model.predict(rows.view(), output).is_ok(), "{case}");
        rows[[2, 3]] = f64::NAN;
        match model.predict(rows.view(), output) {
            Err(verdict_model::PredictError::MissingValue { row: 2, input: 3 }) => {}
            other => panic!("{case}: expected MissingValue at row 2, input 3; got {other:?}"),
        }
    }
}

/// scikit-learn's `LinearSVC` has no `predict_proba`, alone or as one-vs-rest members
/// without one; the imported models have none either, rather than invented probabilities.
#[test]
fn linear_svc_models_have_no_probabilities() {
    for case in [
        "linear_svc_binary_breast_cancer",
        "linear_svc_multiclass_wine",
    ] {
        let dir = fixtures().join(case);
        let model = import::from_bytes(&fs::read(dir.join("model.json")).unwrap(), case, None)
            .unwrap()
            .model;
        let signature = model.signature();
        assert_eq!(
            signature.outputs(),
            [Output::Predict, Output::Raw],
            "{case}"
        );
        let data = read_json(&dir.join("data.json"));
        let rows = inputs(signature, &data["inputs"]);
        assert!(
            matches!(
                model.predict(rows.view(), Output::PredictProba),
                Err(verdict_model::PredictError::UnsupportedOutput { .. })
            ),
            "{case}"
        );
    }
    let logistic = fixtures().join("logistic_binary_breast_cancer/model.json");
    let model = import::from_bytes(&fs::read(logistic).unwrap(), "logistic", None).unwrap();
    assert!(
        model
            .model
            .signature()
            .outputs()
            .contains(&Output::PredictProba)
    );
}
