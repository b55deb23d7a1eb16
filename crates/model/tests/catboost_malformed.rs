//! Malformed CatBoost files: every truncation of a real export, targeted corruptions of its
//! fields, and random oblivious ensembles on which the compiled engine must equal the
//! reference evaluator bit for bit.
//!
//! A bad file must give [`ImportError::Malformed`] naming the JSON path (tree and field) or
//! [`ImportError::Unsupported`] naming what is not read, never a panic or a model that
//! predicts something else.
//!
//! Run: `cargo test -p verdict-model --test catboost_malformed`.

use std::path::Path;

use ndarray::Array2;
use proptest::prelude::*;
use serde_json::{Value, json};
use verdict_model::family::Family;
use verdict_model::family::link::Link;
use verdict_model::family::oblivious::{
    NanTreatment, ObliviousEnsemble, ObliviousSplit, ObliviousTree,
};
use verdict_model::{
    Error, ImportError, Model, ModelFile, NativeModel, Output, Signature, SourceFormat, Task,
    import,
};

fn fixture(case: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/catboost")
        .join(case)
        .join("model.json");
    serde_json::from_slice(&std::fs::read(path).expect("the fixture exists")).unwrap()
}

fn import(bytes: &[u8]) -> Result<ModelFile, Error> {
    import::from_bytes(bytes, "model", Some(SourceFormat::Catboost))
}

/// The location and message of a malformed-model error; panics on anything else.
fn malformed(model: &Value) -> (String, String) {
    match import(model.to_string().as_bytes()) {
        Err(Error::Import(ImportError::Malformed {
            format,
            location,
            message,
        })) => {
            assert_eq!(format, "CatBoost");
            (location, message)
        }
        Err(other) => panic!("expected a malformed-model error, got: {other}"),
        Ok(_) => panic!("expected a malformed-model error, the import succeeded"),
    }
}

fn assert_malformed(model: &Value, location: &str, fragment: &str) {
    let (found, message) = malformed(model);
    assert_eq!(found, location, "{message}");
    assert!(message.contains(fragment), "`{message}` lacks `{fragment}`");
}

fn unsupported(model: &Value) -> String {
    match import(model.to_string().as_bytes()) {
        Err(Error::Import(ImportError::Unsupported { what, .. })) => what,
        Err(other) => panic!("expected an unsupported-model error, got: {other}"),
        Ok(_) => panic!("expected an unsupported-model error, the import succeeded"),
    }
}

#[test]
fn every_truncation_is_an_error() {
    let text = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/catboost/logloss/model.json"),
    )
    .unwrap();
    // Every prefix up to the last byte; the whole file imports.
    assert!(import(&text).is_ok());
    let step = (text.len() / 400).max(1);
    for end in (0..text.len() - 1).step_by(step) {
        match import(&text[..end]) {
            Err(Error::Import(ImportError::Malformed { .. })) => {}
            other => panic!("prefix of {end} bytes: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn leaf_values_that_do_not_fit_the_depth_name_the_tree() {
    let mut model = fixture("rmse");
    model["oblivious_trees"][3]["leaf_values"]
        .as_array_mut()
        .unwrap()
        .pop();
    assert_malformed(
        &model,
        "oblivious_trees[3].leaf_values",
        "a tree of depth 5",
    );
}

#[test]
fn a_split_on_a_missing_feature_names_the_split() {
    let mut model = fixture("rmse");
    model["oblivious_trees"][2]["splits"][1]["float_feature_index"] = json!(99);
    assert_malformed(
        &model,
        "oblivious_trees[2].splits[1]",
        "float_feature_index 99 is out of range",
    );
    let mut model = fixture("rmse");
    model["oblivious_trees"][0]["splits"][0]
        .as_object_mut()
        .unwrap()
        .remove("border");
    assert_malformed(&model, "oblivious_trees[0].splits[0]", "without border");
}

#[test]
fn trees_deeper_than_catboost_allows_are_refused() {
    let mut model = fixture("rmse");
    let split = model["oblivious_trees"][0]["splits"][0].clone();
    model["oblivious_trees"][0]["splits"] = Value::Array(vec![split; 40]);
    assert_malformed(&model, "oblivious_trees[0].splits", "a depth of 40");
}

#[test]
fn feature_indices_must_be_unique_and_in_range() {
    let mut model = fixture("rmse");
    model["features_info"]["float_features"][1]["flat_feature_index"] = json!(0);
    assert_malformed(
        &model,
        "features_info.float_features[1]",
        "flat_feature_index 0 is used twice",
    );
    let mut model = fixture("rmse");
    model["features_info"]["float_features"][1]["flat_feature_index"] = json!(1u64 << 40);
    let (location, _) = malformed(&model);
    assert_eq!(location, "features_info.float_features");
    // Below the absolute limit, but millions of columns the file never lists: refused before
    // anything is allocated for them (found by the catboost_cbm fuzz target, out of memory).
    let mut model = fixture("rmse");
    model["features_info"]["float_features"][1]["flat_feature_index"] = json!(16_000_000);
    assert_malformed(
        &model,
        "features_info.float_features",
        "a flat_feature_index of 16000000 is too large",
    );
    let mut model = fixture("rmse");
    model["features_info"]["float_features"][2]["nan_value_treatment"] = json!("Sideways");
    assert_malformed(
        &model,
        "features_info.float_features[2].nan_value_treatment",
        "Sideways",
    );
}

#[test]
fn a_broken_non_symmetric_node_names_its_path() {
    let mut model = fixture("rmse_depthwise");
    // Depth 4: the root's left child is a split.
    model["trees"][1]["left"]
        .as_object_mut()
        .unwrap()
        .remove("split");
    assert_malformed(&model, "trees[1].left", "either `split`");
    let mut model = fixture("multiclass_lossguide");
    // The leftmost leaf of the first tree.
    let mut node = &mut model["trees"][0];
    let mut path = "trees[0]".to_owned();
    while node.get("split").is_some() {
        node = &mut node["left"];
        path.push_str(".left");
    }
    node["value"] = json!([0.5]);
    let (location, message) = malformed(&model);
    assert_eq!(location, format!("{path}.value"));
    assert!(message.contains("1 values for 3 outputs"), "{message}");
}

#[test]
fn class_names_must_match_the_outputs() {
    let mut model = fixture("multiclass");
    model["model_info"]["class_params"]["class_names"]
        .as_array_mut()
        .unwrap()
        .pop();
    assert_malformed(
        &model,
        "model_info.class_params.class_names",
        "2 class names for 3 classes",
    );
}

#[test]
fn unknown_losses_and_features_are_refused_by_name() {
    let mut model = fixture("rmse");
    model["model_info"]["params"]["loss_function"]["type"] = json!("YetiRank");
    let what = unsupported(&model);
    assert!(what.contains("`YetiRank`"), "{what}");
    let mut model = fixture("rmse");
    model["model_info"]["params"]["loss_function"]["type"] = json!("MultiRMSE");
    assert!(unsupported(&model).contains("MultiRMSE"));
    let mut model = fixture("rmse");
    model["oblivious_trees"][0]["splits"][0]["split_type"] = json!("OneHotFeature");
    let what = unsupported(&model);
    assert!(what.contains("oblivious_trees[0].splits[0]") && what.contains("OneHotFeature"));
    let mut model = fixture("rmse_depthwise");
    model["scale_and_bias"][0] = json!(0.5);
    assert!(unsupported(&model).contains("scale of 0.5"));
}

fn cbm(case: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/catboost")
        .join(case)
        .join("model.cbm");
    std::fs::read(path).expect("the fixture exists")
}

#[test]
fn every_truncation_of_a_cbm_file_is_an_error() {
    for case in ["logloss", "multiclass_lossguide"] {
        let bytes = cbm(case);
        assert!(import(&bytes).is_ok(), "{case}");
        let step = (bytes.len() / 500).max(1);
        for end in (4..bytes.len() - 1).step_by(step) {
            match import(&bytes[..end]) {
                Err(Error::Import(ImportError::Malformed { message, .. })) => {
                    assert!(
                        message.contains("byte") || message.contains("bytes"),
                        "{message}"
                    );
                }
                other => panic!("{case}: prefix of {end} bytes: {:?}", other.map(|_| ())),
            }
        }
    }
}

#[test]
fn a_corrupted_cbm_file_never_panics() {
    // Bytes across a symmetric and a non-symmetric model, flipped in turn: an import may fail
    // or (where the byte is a leaf value or a border) succeed, but never panic. The fuzz
    // target `catboost` covers every byte and more.
    for case in ["rmse", "multiclass_lossguide"] {
        let bytes = cbm(case);
        let step = (bytes.len() / 2000).max(1);
        for at in (4..bytes.len()).step_by(step) {
            let mut bad = bytes.clone();
            bad[at] ^= 0xff;
            let _ = import(&bad);
        }
    }
}

#[test]
fn a_cbm_header_that_overstates_the_core_names_both_sizes() {
    let mut bytes = cbm("rmse");
    let claimed = bytes.len() as u32;
    bytes[4..8].copy_from_slice(&claimed.to_le_bytes());
    match import(&bytes) {
        Err(Error::Import(ImportError::Malformed {
            location, message, ..
        })) => {
            assert_eq!(location, "header");
            let held = bytes.len() - 8;
            assert!(
                message.contains(&format!("{claimed} bytes"))
                    && message.contains(&format!("holds {held}")),
                "{message}"
            );
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn an_unknown_cbm_core_format_is_refused_by_name() {
    let mut bytes = cbm("rmse");
    let at = bytes
        .windows(18)
        .position(|w| w == b"FlabuffersModel_v1")
        .expect("the core names its format");
    bytes[at + 17] = b'7';
    match import(&bytes) {
        Err(Error::Import(ImportError::Unsupported { what, .. })) => {
            assert!(what.contains("FlabuffersModel_v7"), "{what}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

// --- The compiled engine equals the reference ------------------------------------------------

fn ensemble_strategy() -> impl Strategy<Value = ObliviousEnsemble> {
    let features = 4usize;
    // Few distinct borders, so that inputs hit them exactly.
    let border = prop::sample::select(vec![-1.5f32, -0.25, 0.0, 0.1, 0.7, 2.0]);
    let split = (0..features as u32, border)
        .prop_map(|(feature, border)| ObliviousSplit { feature, border });
    let width = prop::sample::select(vec![1usize, 3]);
    (
        width,
        // Depths past 8 take the engine's wide leaf indices; more than 8 trees, several
        // chunks of trees.
        prop::collection::vec(prop::collection::vec(split, 0..11), 1..12),
    )
        .prop_flat_map(move |(width, shapes)| {
            let trees = shapes
                .into_iter()
                .map(|splits| {
                    let leaves = (1usize << splits.len()) * width;
                    prop::collection::vec(-10.0f64..10.0, leaves).prop_map(move |leaf_values| {
                        ObliviousTree {
                            splits: splits.clone(),
                            leaf_values,
                        }
                    })
                })
                .collect::<Vec<_>>();
            let nan = prop::collection::vec(
                // Forbidden too: engine and reference must then refuse the same row and feature.
                prop::sample::select(vec![
                    NanTreatment::AsFalse,
                    NanTreatment::AsTrue,
                    NanTreatment::AsFalse,
                    NanTreatment::AsTrue,
                    NanTreatment::Forbidden,
                ]),
                features,
            );
            (
                trees,
                nan,
                -2.0f64..2.0,
                prop::collection::vec(-1.0f64..1.0, width),
            )
                .prop_map(move |(trees, nan_treatment, scale, bias)| {
                    ObliviousEnsemble {
                        num_features: features,
                        nan_treatment,
                        leaf_width: width,
                        trees,
                        scale,
                        bias,
                        link: if width == 1 {
                            Link::Identity
                        } else {
                            Link::Softmax
                        },
                    }
                })
        })
}

fn value_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        prop::sample::select(vec![-1.5, -0.25, 0.0, -0.0, 0.7, 2.0, f64::INFINITY]),
        // 0.1 in f64 sits below 0.1f32: equal to the border once cast.
        Just(0.1),
        Just(f64::from(0.1f32)),
        -3.0f64..3.0,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_oblivious_engine_equals_the_reference(
        ensemble in ensemble_strategy(),
        // 301 rows: two full blocks and one whose rows do not fill the last group of four.
        values in prop::collection::vec(value_strategy(), 4 * 301),
    ) {
        let width = ensemble.leaf_width;
        let task = if width == 1 {
            Task::Regression
        } else {
            Task::Classification { classes: (0..width as i64).map(verdict_model::ClassLabel::Int).collect() }
        };
        let signature = Signature::new(Signature::positional_features(4), task);
        let model = NativeModel::new(signature, Family::Oblivious(ensemble)).unwrap();
        let features = Array2::from_shape_vec((301, 4), values).unwrap();
        // Column-major input too: the engine reads columns.
        let transposed = features.t().to_owned();
        let strided = transposed.t();
        let reference = model.reference();
        let bits = |a: Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let fast = model.predict(features.view(), Output::Raw).map(bits);
        let slow = reference.predict(features.view(), Output::Raw).map(bits);
        let from_strided = model.predict(strided, Output::Raw).map(bits);
        prop_assert_eq!(&fast, &slow);
        prop_assert_eq!(&fast, &from_strided);
    }
}
