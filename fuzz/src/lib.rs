//! What the fuzz targets share: the checks every loaded model goes through, and the models
//! the HTTP decoders are fuzzed against.

use ndarray::Array2;
use verdict_model::{ClassLabel, Codec, Feature, FeatureKind, Model, ModelFile, Signature, Task};

/// Beyond this many features or output columns a loaded model is not scored: the rows the
/// harness would allocate are its own doing, not the loader's.
const MAX_SCORED_WIDTH: usize = 4096;

/// What every model a loader accepts must survive: scoring a few awkward rows for every
/// output it has, and a round trip through the `.vdm` format that reproduces its bytes.
pub fn exercise(file: &ModelFile) {
    let model = &file.model;
    let signature = model.signature();
    let outputs = signature.outputs();
    let widest = outputs
        .iter()
        .filter_map(|&o| signature.output_width(o))
        .max()
        .unwrap_or(0);
    if signature.num_features() <= MAX_SCORED_WIDTH && widest <= MAX_SCORED_WIDTH {
        let rows = awkward_rows(signature);
        // An error is a fine answer (an output the model lacks); a panic is not.
        let _ = model.predict_outputs(rows.view(), &outputs);
    }
    let bytes = file
        .to_bytes(Codec::Bincode)
        .expect("a loaded model encodes as .vdm");
    let again = ModelFile::from_bytes(&bytes).expect("a model's own .vdm bytes load");
    let bytes_again = again
        .to_bytes(Codec::Bincode)
        .expect("a reloaded model encodes");
    assert!(
        bytes == bytes_again,
        "the .vdm round trip changed the model"
    );
}

/// Rows at the edges: zeros, missing, huge, negative, and for categorical features the first
/// code, an unknown one and one past the end.
fn awkward_rows(signature: &Signature) -> Array2<f64> {
    let values = [0.0, f64::NAN, 1e300, -1.5, f64::INFINITY];
    let n = signature.num_features();
    Array2::from_shape_fn((values.len() + 2, n), |(row, column)| {
        match (&signature.features[column].kind, row) {
            (FeatureKind::Categorical { categories }, r) if r >= values.len() => {
                if r == values.len() {
                    -1.0
                } else {
                    categories.len() as f64
                }
            }
            (_, r) => values[r % values.len()],
        }
    })
}

/// The models the HTTP decoders are fuzzed against: named features (with a categorical one,
/// an unused one and a classifier with text labels), and positional ones.
pub fn signatures() -> [Signature; 2] {
    let named = Signature::new(
        vec![
            Feature::numeric("a"),
            Feature::categorical("color", vec!["red".into(), "green".into(), "blue".into()]),
            Feature::numeric("b"),
            Feature::unused("dropped"),
        ],
        Task::Classification {
            classes: vec![
                ClassLabel::Text("no".into()),
                ClassLabel::Text("yes".into()),
            ],
        },
    );
    let mut positional = Signature::new(Signature::positional_features(3), Task::Regression);
    positional.positional = true;
    [named, positional]
}

/// The row limit the decoders are fuzzed with: small, so the fuzzer reaches it.
pub const MAX_ROWS: usize = 64;

/// What every decoded request must be: rows of exactly the model's features, and no more
/// rows than the limit. (A number is accepted as a category code as it is, so codes are not
/// checked.)
pub fn check_features(signature: &Signature, features: &Array2<f64>) {
    assert_eq!(
        features.ncols(),
        signature.num_features(),
        "feature columns"
    );
    assert!(
        features.nrows() <= MAX_ROWS,
        "{} rows passed the limit of {MAX_ROWS}",
        features.nrows()
    );
}
