//! Scores a file of raw little-endian `f64` rows with any model Verdict reads, timing only
//! prediction: the Rust side of `benches/compare/compare_catboost.py`, which needs nothing but
//! `verdict-model` built in release (no polars, no web framework).
//!
//! ```sh
//! cargo run --release -p verdict-model --example score_f64 -- MODEL ROWS.f64 COLUMNS THREADS REPEAT OUT.f64
//! ```
//!
//! Prints `{"seconds": best, "rows": n}` and writes `predict` (rows x width, `f64`) to `OUT.f64`.

use std::error::Error;
use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use verdict_model::parallel::predict_into_parallel;
use verdict_model::{Model, Output, OutputSlot};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, rows, columns, threads, repeat, out] = args.as_slice() else {
        return Err("usage: score_f64 MODEL ROWS.f64 COLUMNS THREADS REPEAT OUT.f64".into());
    };
    let model = verdict_model::load(model, None)?.model;
    let bytes = std::fs::read(rows)?;
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let columns: usize = columns.parse()?;
    let features = ArrayView2::from_shape((values.len() / columns, columns), &values)?;
    let width = model
        .signature()
        .require_output(Output::Predict)
        .map_err(|e| e.to_string())?;
    let mut predictions = Array2::zeros((features.nrows(), width));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.parse()?)
        .build()?;
    let mut best = f64::INFINITY;
    for _ in 0..repeat.parse::<usize>()? {
        let start = Instant::now();
        let mut slots = [OutputSlot {
            output: Output::Predict,
            out: predictions.view_mut(),
        }];
        pool.install(|| predict_into_parallel(&model, features, &mut slots))?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    let mut written = Vec::with_capacity(predictions.len() * 8);
    for v in predictions.iter() {
        written.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(out, written)?;
    println!("{{\"seconds\": {best}, \"rows\": {}}}", features.nrows());
    Ok(())
}
