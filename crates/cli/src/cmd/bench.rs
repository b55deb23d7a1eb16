//! `verdict bench`: how fast a model predicts on this machine.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use ndarray::{Array2, s};
use verdict_model::{Model, Output, OutputSlot, SourceFormat};

use crate::npy;

/// Measure a model's prediction speed: rows per second on a batch, and single-row latency.
///
/// The input is a NumPy .npy matrix (rows x features, in the model's feature order) or, without
/// --npy, random values. Only prediction is timed: loading and parsing are not.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  verdict bench --model model.json --npy X.npy --threads 1 --repeat 5"
)]
pub(crate) struct Args {
    /// The model.
    #[arg(long)]
    model: PathBuf,
    /// The model's format, when detection is not wanted.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_source_format)]
    from: Option<SourceFormat>,
    /// The rows to score, as a .npy float matrix.
    #[arg(long)]
    npy: Option<PathBuf>,
    /// Random rows to score when --npy is not given.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Timed repetitions; the fastest is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// The output to compute.
    #[arg(long, default_value = "predict_proba")]
    output: String,
    /// Write the predictions of the last repetition here (.npy), to check agreement.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let file = verdict_model::load(&args.model, args.from)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let model = &file.model;
    let signature = model.signature();
    let mut output: Output = args.output.parse()?;
    if signature.output_width(output).is_none() {
        output = Output::Predict;
    }
    let x = match &args.npy {
        Some(path) => npy::read(path)?,
        None => random_rows(args.rows, signature.num_features()),
    };
    if x.ncols() != signature.num_features() {
        bail!(
            "the input has {} columns but the model takes {} features",
            x.ncols(),
            signature.num_features()
        );
    }
    let threads = args.threads.unwrap_or_else(num_cpus);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let width = signature.require_output(output)?;
    let mut out = Array2::zeros((x.nrows(), width));
    let mut best = f64::INFINITY;
    for _ in 0..args.repeat.max(1) {
        let start = Instant::now();
        pool.install(|| {
            verdict_model::parallel::predict_into_parallel(
                model,
                x.view(),
                &mut [OutputSlot::new(output, out.view_mut())],
            )
        })?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    // Single-row latency on the calling thread: the median of many calls.
    let mut single = Array2::zeros((1, width));
    let mut latencies: Vec<f64> = (0..x.nrows().min(2000))
        .map(|i| {
            let start = Instant::now();
            let _ = model.predict_into(
                x.slice(s![i..i + 1, ..]),
                &mut [OutputSlot::new(output, single.view_mut())],
            );
            start.elapsed().as_secs_f64()
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let median_us = latencies
        .get(latencies.len() / 2)
        .map_or(f64::NAN, |s| s * 1e6);
    if let Some(path) = &args.save {
        npy::write(path, &out)?;
    }
    let rows_per_second = x.nrows() as f64 / best;
    if args.json {
        let report = serde_json::json!({
            "model": file.info.name, "rows": x.nrows(), "threads": threads,
            "output": output.name(), "seconds": best, "rows_per_second": rows_per_second,
            "single_row_median_us": median_us,
        });
        println!("{report}");
    } else {
        println!(
            "{}: {} rows in {:.4} s on {threads} thread(s): {:.0} rows/s; one row: {:.2} us (median)",
            file.info.name,
            x.nrows(),
            best,
            rows_per_second,
            median_us
        );
    }
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Uniform values in [-2, 2) from a fixed seed (SplitMix64), so runs are comparable.
fn random_rows(rows: usize, features: usize) -> Array2<f64> {
    let mut state = 0x5EED_u64;
    Array2::from_shape_simple_fn((rows, features), || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
    })
}
