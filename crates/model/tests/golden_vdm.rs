//! Golden `.vdm` files: the encoding every saved model depends on, frozen.
//!
//! `tests/fixtures/vdm/v<N>/` holds, for every format version `N` so far, one Verdict model
//! file per family (XGBoost trees, categorical splits and gblinear; LightGBM categorical and
//! linear-leaf trees; a scikit-learn tree and two pipelines; CatBoost oblivious trees, their
//! categorical pipeline, and non-symmetric trees with categories and with
//! `RMSEWithUncertainty`'s link), converted once from parity
//! fixtures by `tools/fixtures/gen_golden_vdm.sh` while `N` was the newest version. Each must
//! still
//!
//! - load, and predict what the source library predicted for the fixture's inputs (so a field
//!   read in the wrong place cannot pass), and
//! - for the newest version, be exactly what today's importer and encoder write for the same
//!   source model (so a reordered or retyped field fails here, not on a user's disk).
//!
//! When this test fails because the encoding changed on purpose, the format version must change:
//! see "When the version changes" in `docs/format.md`.
//!
//! Run: `cargo test -p verdict-model --test golden_vdm`.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::Value;
use verdict_model::Family;
use verdict_model::format::FORMAT_VERSION;
use verdict_model::{
    Codec, FeatureKind, Model, ModelFile, Output, PredictError, Signature, import, matching,
};

/// The relative tolerance for libraries that compute in `f64` (LightGBM, scikit-learn).
const TOLERANCE: f64 = 1e-9;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// One golden file and the parity fixture it was converted from.
struct Golden {
    /// The format version it was written in.
    version: u32,
    name: String,
    case: String,
    model_file: String,
}

/// The golden files of every format version.
fn all_goldens() -> Vec<Golden> {
    (1..=FORMAT_VERSION).flat_map(goldens).collect()
}

/// The golden files of format `version`.
fn goldens(version: u32) -> Vec<Golden> {
    let manifest = std::fs::read_to_string(fixtures().join("vdm/cases.txt"))
        .expect("tests/fixtures/vdm/cases.txt exists");
    let goldens: Vec<Golden> = manifest
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (name, case, model_file, since) = match fields[..] {
                [name, case, model_file] => (name, case, model_file, 1),
                [name, case, model_file, since] => {
                    let since = since
                        .strip_prefix("since=")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| panic!("cases.txt: `{since}` is not `since=N`"));
                    (name, case, model_file, since)
                }
                _ => panic!("cases.txt: `{line}` is not `<name> <case> <model file> [since=N]`"),
            };
            // A family added in a later format has no golden file in the earlier ones.
            (since <= version).then(|| Golden {
                version,
                name: name.to_owned(),
                case: case.to_owned(),
                model_file: model_file.to_owned(),
            })
        })
        .collect();
    assert!(goldens.len() >= 8, "every family has a golden file");
    goldens
}

fn golden_bytes(golden: &Golden) -> Vec<u8> {
    std::fs::read(fixtures().join(format!("vdm/v{}/{}.vdm", golden.version, golden.name)))
        .unwrap_or_else(|e| panic!("v{} {}: {e}", golden.version, golden.name))
}

fn fixture_data(golden: &Golden) -> Value {
    let path = fixtures().join(&golden.case).join("data.json");
    serde_json::from_slice(&std::fs::read(path).expect("the fixture data exists"))
        .expect("data.json is JSON")
}

/// The fixture's inputs, category strings encoded through the signature.
fn inputs(signature: &Signature, data: &Value) -> Array2<f64> {
    let rows = data["inputs"].as_array().expect("inputs is a list");
    Array2::from_shape_fn((rows.len(), signature.num_features()), |(i, j)| {
        let hashed = signature.features[j].kind == FeatureKind::HashedCategory;
        match &rows[i][j] {
            Value::Null => f64::NAN,
            Value::String(category) if hashed => matching::hashed_text(category),
            Value::String(category) => signature.encode_category(j, category),
            v if hashed => matching::hashed_number(v.as_f64().expect("a number")),
            v => v.as_f64().expect("inputs are numbers, strings or null"),
        }
    })
}

fn matrix(value: &Value) -> Array2<f64> {
    let rows = value.as_array().expect("outputs are lists of rows");
    let width = rows.first().map_or(0, |r| r.as_array().map_or(0, Vec::len));
    Array2::from_shape_fn((rows.len(), width), |(i, j)| {
        rows[i][j].as_f64().unwrap_or(f64::NAN)
    })
}

#[test]
fn golden_files_predict_what_the_source_library_predicted() {
    for golden in all_goldens() {
        let file = ModelFile::from_bytes(&golden_bytes(&golden))
            .unwrap_or_else(|e| panic!("{}: the golden file no longer loads: {e}", golden.name));
        let data = fixture_data(&golden);
        let x = inputs(file.model.signature(), &data);
        // The margin where the library gives one, else the class probabilities.
        let (output, expected) = match data["outputs"].get("raw") {
            Some(raw) => (Output::Raw, matrix(raw)),
            None => (
                Output::PredictProba,
                matrix(&data["outputs"]["predict_proba"]),
            ),
        };
        let ours = file.model.predict(x.view(), output).unwrap();
        assert_eq!(
            ours.dim(),
            expected.dim(),
            "{}: {output} shape",
            golden.name
        );
        let xgboost = golden.case.starts_with("xgboost/");
        for ((i, j), &theirs) in expected.indexed_iter() {
            let mine = ours[[i, j]];
            let same = if xgboost {
                // XGBoost computes its margins in f32, and Verdict matches them there.
                mine as f32 == theirs as f32
            } else {
                (mine - theirs).abs() <= TOLERANCE * theirs.abs().max(1.0)
            };
            assert!(
                same,
                "{}: {output}[{i}][{j}] is {mine}, the library gave {theirs}",
                golden.name
            );
        }
    }
}

#[test]
fn golden_files_are_what_todays_code_writes() {
    for golden in goldens(FORMAT_VERSION) {
        let committed = golden_bytes(&golden);
        let loaded = ModelFile::from_bytes(&committed).unwrap();
        let source = fixtures().join(&golden.case).join(&golden.model_file);
        let mut fresh = import::from_bytes(&std::fs::read(&source).unwrap(), &golden.name, None)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        // The metadata records when a file was made; everything else must be the same bytes.
        fresh.info = loaded.info.clone();
        assert_eq!(
            loaded.to_bytes(Codec::Bincode).unwrap(),
            committed,
            "{}: reading and writing the golden file changes it",
            golden.name
        );
        assert!(
            fresh.to_bytes(Codec::Bincode).unwrap() == committed,
            "{}: today's import and encoding of {} differ from the committed golden file; if \
             the encoding changed, bump FORMAT_VERSION and follow docs/format.md (\"When the \
             version changes\"); if the importer now builds another model from the same \
             export, rewrite this one file (docs/format.md says how)",
            golden.name,
            source.display()
        );
    }
}

#[test]
fn version_1_trees_predict_but_cannot_explain() {
    for golden in goldens(1) {
        let file = ModelFile::from_bytes(&golden_bytes(&golden)).unwrap();
        // Linear models need no covers; pipelines are never explained.
        if !matches!(file.model.family(), Family::Trees(_)) {
            continue;
        }
        let signature = file.model.signature();
        let x = inputs(signature, &fixture_data(&golden));
        assert!(
            !signature.outputs().contains(&Output::Contribs),
            "{}",
            golden.name
        );
        match file.model.predict(x.view(), Output::Contribs) {
            Err(PredictError::UnsupportedOutput { output, .. }) => {
                assert_eq!(output, Output::Contribs, "{}", golden.name)
            }
            other => panic!(
                "{}: contribs of a version-1 file gave {other:?}",
                golden.name
            ),
        }
    }
}
