//! Golden parity with XGBoost: every case in `tests/fixtures/xgboost/` is imported from its
//! `model.json` and, when present, its `model.ubj`, and its predictions are compared with the
//! outputs XGBoost itself computed (stored in `data.json` by `tools/fixtures/gen_xgboost.py`).
//!
//! - Margins (`raw`) must be identical as `f32`: XGBoost computes them in `f32`, and so does
//!   Verdict, so any difference is a bug (a misrouted row, a wrong base margin, a different
//!   summation order).
//! - Transformed predictions (probabilities, `exp` of the margin) must be within `1e-6`, relative
//!   to the value's magnitude when it exceeds 1, and class labels must be equal.
//!
//! Run: `cargo test -p verdict-model --test xgboost_parity`.

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;
use verdict_model::import::xgboost::{self, Iterations, Options};
use verdict_model::{FeatureKind, Model, ModelFile, Output, SourceFormat, import};

const TOLERANCE: f64 = 1e-6;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/xgboost")
}

/// How XGBoost's `predict` output maps onto Verdict's outputs, by objective.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The probability of class 1 (`predict_proba` column 1); labels follow `p > 0.5`.
    BinaryProbability,
    /// The margin itself (`binary:logitraw`).
    Margin,
    /// A 0/1 label (`binary:hinge`).
    BinaryLabel,
    /// One probability per class.
    Probabilities,
    /// The class index (`multi:softmax`).
    ClassIndex,
    /// Values: regression, ranking, survival, quantiles, multi-target.
    Values,
}

fn expect_for(objective: &str) -> Expect {
    match objective {
        "binary:logistic" => Expect::BinaryProbability,
        "binary:logitraw" => Expect::Margin,
        "binary:hinge" => Expect::BinaryLabel,
        "multi:softprob" => Expect::Probabilities,
        "multi:softmax" => Expect::ClassIndex,
        _ => Expect::Values,
    }
}

fn matrix(value: &Value) -> Array2<f64> {
    let rows = value.as_array().expect("a matrix is a list of rows");
    let cols = rows.first().map_or(0, |r| r.as_array().unwrap().len());
    let mut out = Array2::zeros((rows.len(), cols));
    for (i, row) in rows.iter().enumerate() {
        for (j, v) in row.as_array().unwrap().iter().enumerate() {
            // `null` is a missing value.
            out[[i, j]] = v.as_f64().unwrap_or(f64::NAN);
        }
    }
    out
}

/// Checks one model against one pair of XGBoost outputs; returns the problems found.
fn check_outputs(
    model: &ModelFile,
    inputs: &Array2<f64>,
    expect: Expect,
    raw: &Array2<f64>,
    predict: &Array2<f64>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let model = &model.model;
    let ours_raw = model.predict(inputs.view(), Output::Raw).unwrap();
    if ours_raw.dim() != raw.dim() {
        return vec![format!(
            "raw shape {:?}, XGBoost {:?}",
            ours_raw.dim(),
            raw.dim()
        )];
    }
    for ((i, j), &theirs) in raw.indexed_iter() {
        let ours = ours_raw[[i, j]];
        if ours as f32 != theirs as f32 {
            problems.push(format!("raw[{i}][{j}]: ours {ours} XGBoost {theirs}"));
        }
    }
    let close = |ours: f64, theirs: f64| (ours - theirs).abs() <= TOLERANCE * theirs.abs().max(1.0);
    let labels = model.predict(inputs.view(), Output::Predict).unwrap();
    match expect {
        Expect::BinaryProbability => {
            let proba = model.predict(inputs.view(), Output::PredictProba).unwrap();
            for (i, &p) in predict.column(0).indexed_iter() {
                if !close(proba[[i, 1]], p) || !close(proba[[i, 0]], 1.0 - p) {
                    problems.push(format!("proba[{i}]: ours {} XGBoost {p}", proba[[i, 1]]));
                }
                if labels[[i, 0]] != f64::from(u8::from(p > 0.5)) {
                    problems.push(format!("label[{i}]: ours {} for p={p}", labels[[i, 0]]));
                }
            }
        }
        Expect::Margin => {
            for (i, &m) in predict.column(0).indexed_iter() {
                if ours_raw[[i, 0]] as f32 != m as f32 {
                    problems.push(format!(
                        "margin[{i}]: ours {} XGBoost {m}",
                        ours_raw[[i, 0]]
                    ));
                }
                if labels[[i, 0]] != f64::from(u8::from(m > 0.0)) {
                    problems.push(format!(
                        "label[{i}]: ours {} for margin {m}",
                        labels[[i, 0]]
                    ));
                }
            }
        }
        Expect::BinaryLabel => {
            let proba = model.predict(inputs.view(), Output::PredictProba).unwrap();
            for (i, &l) in predict.column(0).indexed_iter() {
                if labels[[i, 0]] != l || proba[[i, 1]] != l {
                    problems.push(format!("label[{i}]: ours {} XGBoost {l}", labels[[i, 0]]));
                }
            }
        }
        Expect::Probabilities => {
            let proba = model.predict(inputs.view(), Output::PredictProba).unwrap();
            if proba.dim() != predict.dim() {
                return vec![format!(
                    "proba shape {:?}, XGBoost {:?}",
                    proba.dim(),
                    predict.dim()
                )];
            }
            for ((i, j), &p) in predict.indexed_iter() {
                if !close(proba[[i, j]], p) {
                    problems.push(format!(
                        "proba[{i}][{j}]: ours {} XGBoost {p}",
                        proba[[i, j]]
                    ));
                }
            }
        }
        Expect::ClassIndex => {
            for (i, &c) in predict.column(0).indexed_iter() {
                if labels[[i, 0]] != c {
                    problems.push(format!("class[{i}]: ours {} XGBoost {c}", labels[[i, 0]]));
                }
            }
        }
        Expect::Values => {
            if labels.dim() != predict.dim() {
                return vec![format!(
                    "predict shape {:?}, XGBoost {:?}",
                    labels.dim(),
                    predict.dim()
                )];
            }
            for ((i, j), &v) in predict.indexed_iter() {
                if !close(labels[[i, j]], v) {
                    problems.push(format!(
                        "predict[{i}][{j}]: ours {} XGBoost {v}",
                        labels[[i, j]]
                    ));
                }
            }
        }
    }
    problems
}

/// Checks the signature against the fixture's feature names and categories.
fn check_signature(model: &ModelFile, data: &Value, version: &[u64]) -> Vec<String> {
    let mut problems = Vec::new();
    let signature = model.model.signature();
    let names: Vec<&str> = data["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let ours: Vec<&str> = signature.features.iter().map(|f| f.name.as_str()).collect();
    if ours != names {
        problems.push(format!("feature names {ours:?}, fixture {names:?}"));
    }
    // Models from 3.1 on carry their training categories; older ones only know the codes.
    let has_cats = version >= [3, 1].as_slice();
    if let Some(categories) = data.get("categories").and_then(Value::as_object) {
        for (name, list) in categories {
            let expected: Vec<&str> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let Some(feature) = signature.features.iter().find(|f| &f.name == name) else {
                problems.push(format!("no feature `{name}`"));
                continue;
            };
            match &feature.kind {
                FeatureKind::Categorical { categories } => {
                    let ours: Vec<&str> = categories.iter().map(String::as_str).collect();
                    let want = if has_cats { expected } else { Vec::new() };
                    if ours != want {
                        problems.push(format!("`{name}` categories {ours:?}, expected {want:?}"));
                    }
                }
                FeatureKind::Numeric | FeatureKind::Unused | FeatureKind::HashedCategory => {
                    problems.push(format!("`{name}` is not categorical"))
                }
            }
        }
    }
    problems
}

#[test]
fn every_fixture_matches_xgboost() {
    let mut cases: Vec<PathBuf> = fs::read_dir(fixtures())
        .expect("the XGBoost fixtures are in tests/fixtures/xgboost")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("data.json").exists())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 30,
        "only {} fixture cases found",
        cases.len()
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in &cases {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let data: Value =
            serde_json::from_slice(&fs::read(dir.join("data.json")).unwrap()).unwrap();
        // XGBoost 2.x writes bare `NaN` thresholds, which are not JSON; they do not matter here.
        let text = fs::read_to_string(dir.join("model.json")).unwrap();
        let json: Value = serde_json::from_str(&text.replace("NaN", "null")).unwrap();
        let objective = json["learner"]["objective"]["name"].as_str().unwrap();
        let version: Vec<u64> = json["version"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let expect = expect_for(objective);
        let inputs = matrix(&data["inputs"]);
        let outputs = &data["outputs"];

        for file in ["model.json", "model.ubj"] {
            let path = dir.join(file);
            if !path.exists() {
                continue;
            }
            let label = format!("{case}/{file}");
            let bytes = fs::read(&path).unwrap();
            // The format is detected from the content.
            let model = match import::from_bytes(&bytes, &case, None) {
                Ok(model) => model,
                Err(e) => {
                    failures.push(format!("{label}: import failed: {e}"));
                    continue;
                }
            };
            assert_eq!(
                import::detect(&bytes).unwrap(),
                SourceFormat::Xgboost,
                "{label}"
            );
            let mut problems = check_signature(&model, &data, &version);
            problems.extend(check_outputs(
                &model,
                &inputs,
                expect,
                &matrix(&outputs["raw"]),
                &matrix(&outputs["predict"]),
            ));
            if let (Some(raw), Some(predict)) = (
                outputs.get("raw_best_iteration"),
                outputs.get("predict_best_iteration"),
            ) {
                let options = Options {
                    iterations: Iterations::Best,
                };
                let best = xgboost::from_bytes(&bytes, &case, &options).unwrap();
                problems.extend(
                    check_outputs(&best, &inputs, expect, &matrix(raw), &matrix(predict))
                        .into_iter()
                        .map(|p| format!("best_iteration: {p}")),
                );
            }
            if model.info.source.library != "xgboost"
                || model.info.source.library_version
                    != version
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(".")
            {
                problems.push(format!("provenance {:?}", model.info.source));
            }
            checked += 1;
            if !problems.is_empty() {
                let shown = problems.len().min(5);
                failures.push(format!(
                    "{label}: {} problems, first {shown}:\n    {}",
                    problems.len(),
                    problems[..shown].join("\n    ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} models differ from XGBoost:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
