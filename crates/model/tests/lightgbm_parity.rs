//! LightGBM parity: every model under `tests/fixtures/lightgbm/` imported and scored on the
//! fixture's inputs must give LightGBM's own outputs, stored beside it by
//! `tools/fixtures/gen_lightgbm.py` (LightGBM 4.7.0, and 3.3.5 for the `v3_*` cases).
//!
//! - `raw` is compared with `Booster.predict(raw_score=True)`;
//! - `predict` (regression, ranking) or `predict_proba` (classifiers) with
//!   `Booster.predict()`, which gives class probabilities;
//! - the class label of classifiers with the arg-max of those probabilities.
//!
//! The tolerance is 1e-9 relative, but LightGBM works in `f64` exactly as Verdict does, so every
//! case is expected to match to the bit; [`bit_exact_everywhere`] holds us to that.
//!
//! Categorical cases are scored twice: from the category codes LightGBM saw, and from the
//! category strings through [`Signature::encode_category`].
//!
//! Run: `cargo test -p verdict-model --test lightgbm_parity`.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;
use verdict_model::family::Family;
use verdict_model::family::link::Link;
use verdict_model::family::tree::{Aggregation, SplitRule};
use verdict_model::{
    ClassLabel, Codec, FeatureKind, Model, ModelFile, Output, Signature, SourceFormat, Task, import,
};

/// The relative tolerance of every comparison.
const TOLERANCE: f64 = 1e-9;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/lightgbm")
}

/// A fixture case: the imported model and its `data.json`.
struct Case {
    name: String,
    model: ModelFile,
    data: Value,
}

fn load(case: &str) -> Case {
    let dir = fixtures().join(case);
    let bytes = std::fs::read(dir.join("model.txt")).expect("the fixture model exists");
    let data: Value = serde_json::from_slice(
        &std::fs::read(dir.join("data.json")).expect("the fixture data exists"),
    )
    .expect("data.json is JSON");
    // Detected from the content, and again when named: both must give the same model.
    let model = import::from_bytes(&bytes, case, None)
        .unwrap_or_else(|e| panic!("{case}: import failed: {e}"));
    let named = import::from_bytes(&bytes, case, Some(SourceFormat::Lightgbm)).unwrap();
    assert_eq!(model.model, named.model);
    Case {
        name: case.to_owned(),
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

/// The fixture's `inputs`, with category strings encoded through the signature.
fn encoded_inputs(signature: &Signature, inputs: &Value) -> Array2<f64> {
    let rows = inputs.as_array().unwrap();
    let width = signature.num_features();
    Array2::from_shape_fn((rows.len(), width), |(i, j)| match &rows[i][j] {
        Value::Null => f64::NAN,
        Value::String(s) => signature.encode_category(j, s),
        v => v.as_f64().unwrap(),
    })
}

/// Compares `found` with LightGBM's `expected`, and says whether every value matched to the bit.
fn compare(case: &str, what: &str, found: &Array2<f64>, expected: &Array2<f64>) -> bool {
    assert_eq!(found.dim(), expected.dim(), "{case}: {what}: shape");
    let mut exact = true;
    for ((i, j), &e) in expected.indexed_iter() {
        let f = found[(i, j)];
        let close = f == e || (f - e).abs() <= TOLERANCE * f.abs().max(e.abs());
        assert!(
            close,
            "{case}: {what}[{i}][{j}]: Verdict {f:e}, LightGBM {e:e} (rows start {:?})",
            found.row(i)
        );
        exact &= f.to_bits() == e.to_bits() || (f == 0.0 && e == 0.0);
    }
    exact
}

/// Scores `features` and compares every output with LightGBM's; true when all were bit-exact.
fn check_outputs(case: &Case, what: &str, features: &Array2<f64>) -> bool {
    let model = &case.model.model;
    let signature = model.signature();
    let outputs = &case.data["outputs"];
    let name = format!("{} ({what})", case.name);

    let raw = model.predict(features.view(), Output::Raw).unwrap();
    let mut exact = compare(&name, "raw", &raw, &matrix(&outputs["raw"], "raw"));

    let expected = matrix(&outputs["predict"], "predict");
    match signature.classes() {
        Some(classes) => {
            let proba = model
                .predict(features.view(), Output::PredictProba)
                .unwrap();
            let labels = model.predict(features.view(), Output::Predict).unwrap();
            // LightGBM's binary predict is the probability of class 1.
            let expected_proba = if classes.len() == 2 {
                Array2::from_shape_fn((expected.nrows(), 2), |(i, j)| {
                    if j == 1 {
                        expected[(i, 0)]
                    } else {
                        1.0 - expected[(i, 0)]
                    }
                })
            } else {
                expected.clone()
            };
            exact &= compare(&name, "predict_proba", &proba, &expected_proba);
            for (i, row) in expected_proba.rows().into_iter().enumerate() {
                let best = (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                assert_eq!(labels[(i, 0)], best as f64, "{name}: label of row {i}");
            }
        }
        None => {
            let predict = model.predict(features.view(), Output::Predict).unwrap();
            exact &= compare(&name, "predict", &predict, &expected);
        }
    }
    exact
}

/// Checks one case on every input path; true when every value was bit-exact.
fn check(case: &str) -> bool {
    let case = load(case);
    let signature = case.model.model.signature().clone();
    assert_eq!(case.model.info.source.library, "lightgbm");
    let version = case.data["library_version"].as_str().unwrap();
    let file_version = if version.starts_with('3') { "v3" } else { "v4" };
    assert_eq!(case.model.info.source.library_version, file_version);
    let names: Vec<&str> = case.data["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let signature_names: Vec<&str> = signature.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(signature_names, names, "{}: feature names", case.name);

    match case.data.get("category_codes_inputs") {
        Some(codes) => {
            let by_code = check_outputs(&case, "category codes", &matrix(codes, "codes"));
            let strings = encoded_inputs(&signature, &case.data["inputs"]);
            let by_name = check_outputs(&case, "category strings", &strings);
            by_code && by_name
        }
        None => check_outputs(&case, "inputs", &matrix(&case.data["inputs"], "inputs")),
    }
}

macro_rules! parity {
    ($($case:ident),* $(,)?) => {
        /// Every case with a test of its own.
        const CASES: &[&str] = &[$(stringify!($case)),*];
        $(
            #[test]
            fn $case() {
                check(stringify!($case));
            }
        )*
    };
}

parity!(
    binary_breast_cancer,
    binary_sigmoid,
    categorical_int,
    categorical_pandas_binary,
    categorical_pandas_regression,
    constant_model,
    cross_entropy,
    cross_entropy_lambda,
    early_stopping_binary,
    early_stopping_multiclass,
    gamma,
    huber,
    lambdarank,
    large_ensemble,
    linear_tree,
    linear_tree_binary,
    missing_nan,
    missing_none,
    missing_zero,
    multiclass_digits,
    multiclass_wine,
    multiclassova_iris,
    poisson,
    quantile,
    rank_xendcg,
    regression_diabetes,
    regression_l1,
    regression_sqrt,
    rf_binary,
    rf_regression,
    single_leaf_trees,
    thresholds,
    tweedie,
    v3_binary_breast_cancer,
    v3_categorical_pandas_binary,
    v3_categorical_pandas_regression,
    v3_linear_tree,
    v3_linear_tree_binary,
    v3_missing_nan,
    v3_missing_none,
    v3_missing_zero,
    v3_multiclass_wine,
    v3_rf_binary,
    v3_rf_regression,
);

#[test]
fn every_fixture_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    tested.sort();
    assert_eq!(on_disk, tested);
}

/// LightGBM computes in `f64` like Verdict, so nothing should differ even in the last bit.
#[test]
fn bit_exact_everywhere() {
    let inexact: Vec<&str> = CASES.iter().copied().filter(|case| !check(case)).collect();
    assert!(inexact.is_empty(), "not bit-exact: {inexact:?}");
}

fn ensemble(model: &ModelFile) -> &verdict_model::family::tree::TreeEnsemble {
    match model.model.family() {
        Family::Trees(ensemble) => ensemble,
        other => panic!("expected a tree ensemble, got {}", other.name()),
    }
}

#[test]
fn tasks_and_links_follow_the_objective() {
    let expect = |case: &str, task: Task, link: Link| {
        let case = load(case);
        assert_eq!(case.model.model.signature().task, task, "{}", case.name);
        let ensemble = ensemble(&case.model);
        assert_eq!(ensemble.link, link, "{}", case.name);
        assert_eq!(ensemble.split_rule, SplitRule::LightGbm);
    };
    let classes = |k: i64| Task::Classification {
        classes: (0..k).map(ClassLabel::Int).collect(),
    };
    expect("binary_sigmoid", classes(2), Link::Sigmoid { scale: 0.7 });
    expect("multiclass_wine", classes(3), Link::Softmax);
    expect(
        "multiclassova_iris",
        classes(3),
        Link::Sigmoid { scale: 1.0 },
    );
    expect(
        "cross_entropy",
        Task::Regression,
        Link::Sigmoid { scale: 1.0 },
    );
    expect("cross_entropy_lambda", Task::Regression, Link::Log1pExp);
    expect("regression_sqrt", Task::Regression, Link::SignedSquare);
    expect("huber", Task::Regression, Link::Identity);
    expect("tweedie", Task::Regression, Link::Exp);
    expect("lambdarank", Task::Ranking, Link::Identity);
    expect("rank_xendcg", Task::Ranking, Link::Identity);
}

#[test]
fn multiclass_trees_cycle_through_the_classes() {
    let case = load("multiclass_wine");
    let ensemble = ensemble(&case.model);
    assert_eq!(ensemble.trees.len(), 90);
    for (t, tree) in ensemble.trees.iter().enumerate() {
        assert_eq!(tree.output as usize, t % 3);
    }
    assert_eq!(case.model.model.signature().raw_width, 3);
}

#[test]
fn random_forests_average_only_their_predictions() {
    for case in [
        "rf_binary",
        "rf_regression",
        "v3_rf_binary",
        "v3_rf_regression",
    ] {
        let case = load(case);
        let ensemble = ensemble(&case.model);
        let iterations = ensemble.trees.len() as f64;
        assert_eq!(
            ensemble.aggregation,
            Aggregation::Average {
                divisor: iterations
            },
            "{}",
            case.name
        );
    }
}

#[test]
fn a_model_saved_at_its_best_iteration_holds_only_those_trees() {
    for (case, per_iteration) in [
        ("early_stopping_binary", 1),
        ("early_stopping_multiclass", 3),
    ] {
        let case = load(case);
        let best = case.data["best_iteration"].as_u64().unwrap() as usize;
        let trained = case.data["num_trained_iterations"].as_u64().unwrap() as usize;
        assert!(best < trained);
        assert_eq!(ensemble(&case.model).trees.len(), best * per_iteration);
    }
}

#[test]
fn default_column_names_make_a_positional_signature() {
    let numpy = load("binary_sigmoid");
    let signature = numpy.model.model.signature();
    assert!(signature.positional);
    assert_eq!(signature.features[0].name, "Column_0");
    let frame = load("binary_breast_cancer");
    let signature = frame.model.model.signature();
    assert!(!signature.positional);
    // LightGBM saved "mean radius" with an underscore.
    assert_eq!(signature.features[0].name, "mean_radius");
}

#[test]
fn pandas_categories_name_the_codes() {
    for case in [
        "categorical_pandas_regression",
        "v3_categorical_pandas_binary",
    ] {
        let case = load(case);
        let signature = case.model.model.signature();
        let kinds: Vec<&FeatureKind> = signature.features.iter().map(|f| &f.kind).collect();
        assert_eq!(kinds[0], &FeatureKind::Numeric);
        assert_eq!(
            kinds[1],
            &FeatureKind::Categorical {
                categories: vec!["blue".into(), "green".into(), "red".into()]
            }
        );
        let FeatureKind::Categorical { categories } = kinds[3] else {
            panic!("many_cat is categorical");
        };
        assert_eq!(categories.len(), 48);
        assert_eq!(
            signature.encode_category(1, "purple"),
            verdict_model::UNKNOWN_CATEGORY
        );
        assert_eq!(signature.encode_category(1, "red"), 2.0);
    }
    // Integer-coded categoricals have codes but no names.
    let case = load("categorical_int");
    let signature = case.model.model.signature();
    assert_eq!(
        signature.features[0].kind,
        FeatureKind::Categorical { categories: vec![] }
    );
    assert_eq!(signature.features[1].kind, FeatureKind::Numeric);
}

#[test]
fn the_example_model_loads() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/breast_cancer_lgbm.txt");
    let file = import::load(&path, None).unwrap();
    assert_eq!(file.info.name, "breast_cancer_lgbm");
    assert_eq!(file.model.signature().num_features(), 30);
}

#[test]
fn converted_models_predict_the_same() {
    for case in CASES {
        let case = load(case);
        for codec in [Codec::Bincode, Codec::Json] {
            let bytes = case.model.to_bytes(codec).unwrap();
            let reloaded = ModelFile::from_bytes(&bytes).unwrap();
            assert_eq!(
                reloaded.model, case.model.model,
                "{} ({codec:?})",
                case.name
            );
        }
    }
}
