//! The `contribs` output against the libraries' own contributions (XGBoost `pred_contribs`,
//! LightGBM `pred_contrib`, and for scikit-learn, which has none, `shap.TreeExplainer`), from
//! `tools/fixtures/gen_contribs.py`: binary, multiclass and regression models with missing
//! values, and categorical splits.
//!
//! LightGBM and `shap` compute TreeSHAP in `f64`, like Verdict: they must match to 1e-6.
//! XGBoost computes the same formulas in `f32` (path weights, node means and the sums), so its
//! figures carry `f32` rounding: it must match to 1e-5 (see docs/batch.md, "Contributions").

use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};
use serde_json::Value;
use verdict_model::{Model, Output, import};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/contribs")
        .join(case)
}

fn matrix(value: &Value) -> Array2<f64> {
    let rows = value.as_array().expect("a list of rows");
    let width = rows[0].as_array().expect("rows are lists").len();
    Array2::from_shape_fn((rows.len(), width), |(i, j)| {
        rows[i][j].as_f64().unwrap_or(f64::NAN)
    })
}

fn check(case: &str, model_file: &str, tolerance: f64) {
    check_scaled(case, model_file, tolerance, 1.0);
}

/// Like [`check`], for a reference that explains `1 / divisor` of the raw margin: `shap`
/// explains a random forest's average, Verdict its raw margin, the sum of the trees.
fn check_scaled(case: &str, model_file: &str, tolerance: f64, divisor: f64) {
    let dir = fixture(case);
    let bytes = std::fs::read(dir.join(model_file)).unwrap();
    let file = import::from_bytes(&bytes, case, None).unwrap_or_else(|e| panic!("{case}: {e}"));
    let model = &file.model;
    let data: Value = serde_json::from_slice(&std::fs::read(dir.join("data.json")).unwrap())
        .expect("data.json is JSON");
    let x = matrix(&data["inputs"]);
    let expected = matrix(&data["contribs"]);
    let signature = model.signature();
    assert!(
        signature.outputs().contains(&Output::Contribs),
        "{case} has contribs"
    );
    assert_eq!(
        signature.output_columns(Output::Contribs).len(),
        expected.ncols()
    );
    let ours = model.predict(x.view(), Output::Contribs).unwrap();
    assert_eq!(ours.dim(), expected.dim(), "{case}: shape");
    for ((i, j), &theirs) in expected.indexed_iter() {
        let mine = ours[[i, j]] / divisor;
        assert!(
            (mine - theirs).abs() <= tolerance * theirs.abs().max(1.0),
            "{case}: contribs[{i}][{j}] is {mine}, the library gave {theirs}"
        );
    }
    // Each output's contributions add up to Verdict's own raw margin, which XGBoost models sum
    // in f32: there they agree to f32 precision.
    let sum_tolerance = if case.starts_with("xgboost") {
        1e-6
    } else {
        1e-9
    };
    let raw = model.predict(x.view(), Output::Raw).unwrap();
    let stride = signature.num_features() + 1;
    for (i, row) in ours.axis_iter(Axis(0)).enumerate() {
        for k in 0..signature.raw_width {
            let sum: f64 = row.slice(ndarray::s![k * stride..(k + 1) * stride]).sum();
            let margin = raw[[i, k]];
            assert!(
                (sum - margin).abs() <= sum_tolerance * margin.abs().max(1.0),
                "{case}: row {i}, output {k}: contributions add up to {sum}, the margin is {margin}"
            );
        }
    }
}

#[test]
fn xgboost_contributions_match_pred_contribs() {
    for case in ["binary", "multiclass", "regression", "categorical"] {
        check(&format!("xgboost_{case}"), "model.json", 1e-5);
    }
}

#[test]
fn lightgbm_contributions_match_pred_contrib() {
    for case in ["binary", "multiclass", "regression", "categorical"] {
        check(&format!("lightgbm_{case}"), "model.txt", 1e-6);
    }
}

#[test]
fn sklearn_contributions_match_shap_tree_explainer() {
    let cases = [
        "decision_tree_regressor_nan",
        "decision_tree_classifier_binary_nan",
        "decision_tree_classifier_multiclass",
        "random_forest_regressor_nan",
        "random_forest_classifier_multiclass_nan",
        "gradient_boosting_regressor",
        "gradient_boosting_classifier_binary",
        "hist_gradient_boosting_regressor_nan",
        "hist_gradient_boosting_classifier_binary_nan",
        "hist_gradient_boosting_classifier_multiclass",
    ];
    for case in cases {
        let case = format!("sklearn_{case}");
        let data: Value =
            serde_json::from_slice(&std::fs::read(fixture(&case).join("data.json")).unwrap())
                .unwrap();
        // The number of trees shap averages over: only forests have more than one.
        let divisor = data["trees_averaged"]
            .as_f64()
            .expect("data.json says how many trees shap averages");
        assert_eq!(
            divisor > 1.0,
            case.contains("forest"),
            "{case}: only forests are averaged"
        );
        check_scaled(&case, "model.json", 1e-6, divisor);
    }
}

#[test]
fn contributions_split_over_threads_equal_one_call() {
    // Contributions cost so much per row that a few dozen rows already go to several tasks.
    let dir = fixture("xgboost_multiclass");
    let file =
        import::from_bytes(&std::fs::read(dir.join("model.json")).unwrap(), "m", None).unwrap();
    let data: Value =
        serde_json::from_slice(&std::fs::read(dir.join("data.json")).unwrap()).unwrap();
    let x = matrix(&data["inputs"]);
    let whole = file.model.predict(x.view(), Output::Contribs).unwrap();
    let mut split = Array2::zeros(whole.dim());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        verdict_model::parallel::predict_into_parallel(
            &file.model,
            x.view(),
            &mut [verdict_model::OutputSlot::new(
                Output::Contribs,
                split.view_mut(),
            )],
        )
    })
    .unwrap();
    assert_eq!(split, whole);
}

#[test]
fn one_call_gives_contributions_and_margins_together() {
    let dir = fixture("lightgbm_multiclass");
    let file =
        import::from_bytes(&std::fs::read(dir.join("model.txt")).unwrap(), "m", None).unwrap();
    let data: Value =
        serde_json::from_slice(&std::fs::read(dir.join("data.json")).unwrap()).unwrap();
    let x = matrix(&data["inputs"]);
    let both = file
        .model
        .predict_outputs(x.view(), &[Output::Raw, Output::Contribs])
        .unwrap();
    assert_eq!(both[0], file.model.predict(x.view(), Output::Raw).unwrap());
    assert_eq!(
        both[1],
        file.model.predict(x.view(), Output::Contribs).unwrap()
    );
    let columns = file.model.signature().output_columns(Output::Contribs);
    assert_eq!(
        columns.first().map(String::as_str),
        Some("contrib_0_Column_0")
    );
    assert_eq!(columns.last().map(String::as_str), Some("contrib_2_bias"));
}
