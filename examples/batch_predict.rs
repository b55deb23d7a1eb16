//! Batch prediction: load a trained model, score every row of a CSV file, and save the
//! predictions to a Parquet file and to a SQLite table, as a scheduled job would.
//!
//! Run it with `cargo run --release --example batch_predict [OUTPUT_DIR]`.
//!
//! The model is XGBoost's own JSON file for a breast-cancer classifier; the data has an `id`,
//! the 30 features (`mean radius`, ...) in any order, and a `target` the model ignores.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use verdict::batch::{Event, IfExists, Matching, Options, Passthrough, Scorer, Sink, Source};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model_path = root.join("examples/models/breast_cancer_xgb.json");
    let data = root.join("examples/data/breast_cancer.csv");
    let out_dir = std::env::args()
        .nth(1)
        .map_or_else(|| root.join("target/batch_predict"), PathBuf::from);
    std::fs::create_dir_all(&out_dir)?;

    // Any supported model file: the format is detected from its content.
    let model = verdict::model::load(&model_path, None)?.model;

    // Keep the `id` beside the predictions: `label` (the class label) and one
    // `proba_<class>` column per class.
    let options = Options {
        passthrough: Passthrough::Columns(vec!["id".into()]),
        ..Options::default()
    };
    let scorer = Scorer::new(Arc::new(model), options)?;

    let sinks = [
        Sink::path(out_dir.join("breast_cancer_scored.parquet"), None)?,
        Sink::sqlite(out_dir.join("breast_cancer.sqlite"), "predictions"),
    ];
    for sink in sinks {
        // A scheduled job replaces yesterday's output; the new one appears only if the whole
        // run succeeds.
        let sink = sink.with_if_exists(IfExists::Replace);
        let mut on_event = |event: Event| {
            if let Event::Matched(Matching::ByPosition { columns }) = event {
                eprintln!(
                    "warning: features matched by position to {}",
                    columns.join(", ")
                );
            }
        };
        let summary = scorer.run(Source::path(&data, None)?, &sink, &mut on_event)?;
        println!(
            "scored {} rows in {:.3} s ({:.0} rows/s) into {}",
            summary.rows,
            summary.elapsed.as_secs_f64(),
            summary.rows_per_second(),
            summary.output
        );
    }
    Ok(())
}
