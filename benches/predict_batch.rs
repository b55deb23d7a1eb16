//! Tree-ensemble throughput: rows per second for depths 6, 8 and 12, 100, 300 and 1000 trees,
//! and batches of 1, 64 and 10,000 rows, on one thread; batches of 1,000,000 rows for the
//! 300-tree depth-8 case (one thread, and every core through `predict_into_parallel`); a
//! classifier's default outputs in one call against one call per output; the reference
//! evaluator alongside for the 300-tree depth-8 case.
//!
//! Run with: `cargo bench --bench predict_batch`

mod support;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use support::Flavor;
use verdict::model::parallel::predict_into_parallel;
use verdict::model::{Model, Output, OutputSlot};

const FEATURES: usize = 50;

fn trees(c: &mut Criterion) {
    for flavor in [Flavor::Xgboost, Flavor::Lightgbm] {
        let mut group = c.benchmark_group(format!("predict_batch/{flavor:?}"));
        for depth in [6, 8, 12] {
            for trees in [100, 300, 1000] {
                let model = support::ensemble(flavor, trees, depth, FEATURES);
                for batch in [1, 64, 10_000] {
                    let x = support::rows(batch, FEATURES);
                    let mut out = Array2::zeros((batch, 2));
                    group.throughput(Throughput::Elements(batch as u64));
                    group.bench_with_input(
                        BenchmarkId::new(format!("d{depth}_t{trees}"), batch),
                        &batch,
                        |b, _| {
                            b.iter(|| {
                                model
                                    .predict_into(
                                        x.view(),
                                        &mut [OutputSlot::new(
                                            Output::PredictProba,
                                            out.view_mut(),
                                        )],
                                    )
                                    .unwrap()
                            })
                        },
                    );
                }
            }
        }
        group.finish();
    }
}

fn million_rows(c: &mut Criterion) {
    const ROWS: usize = 1_000_000;
    let mut group = c.benchmark_group("predict_batch/1M");
    group.throughput(Throughput::Elements(ROWS as u64));
    let x = support::rows(ROWS, FEATURES);
    let mut out = Array2::zeros((ROWS, 2));
    for flavor in [Flavor::Xgboost, Flavor::Lightgbm] {
        let model = support::ensemble(flavor, 300, 8, FEATURES);
        group.bench_function(format!("{flavor:?}_d8_t300/1_thread"), |b| {
            b.iter(|| {
                model
                    .predict_into(
                        x.view(),
                        &mut [OutputSlot::new(Output::PredictProba, out.view_mut())],
                    )
                    .unwrap()
            })
        });
        group.bench_function(format!("{flavor:?}_d8_t300/all_cores"), |b| {
            b.iter(|| {
                predict_into_parallel(
                    &model,
                    x.view(),
                    &mut [OutputSlot::new(Output::PredictProba, out.view_mut())],
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

/// A classifier's default outputs (`label` and `proba_*`): one call with both slots walks the
/// trees once; the two calls it replaced walked them twice.
fn default_outputs(c: &mut Criterion) {
    const ROWS: usize = 10_000;
    let mut group = c.benchmark_group("predict_batch/default_outputs");
    group.throughput(Throughput::Elements(ROWS as u64));
    let x = support::rows(ROWS, FEATURES);
    let mut label = Array2::zeros((ROWS, 1));
    let mut proba = Array2::zeros((ROWS, 2));
    for flavor in [Flavor::Xgboost, Flavor::Lightgbm] {
        let model = support::ensemble(flavor, 300, 8, FEATURES);
        group.bench_function(format!("{flavor:?}_d8_t300/one_call"), |b| {
            b.iter(|| {
                model
                    .predict_into(
                        x.view(),
                        &mut [
                            OutputSlot::new(Output::Predict, label.view_mut()),
                            OutputSlot::new(Output::PredictProba, proba.view_mut()),
                        ],
                    )
                    .unwrap()
            })
        });
        group.bench_function(format!("{flavor:?}_d8_t300/call_per_output"), |b| {
            b.iter(|| {
                for (output, out) in [
                    (Output::Predict, label.view_mut()),
                    (Output::PredictProba, proba.view_mut()),
                ] {
                    model
                        .predict_into(x.view(), &mut [OutputSlot::new(output, out)])
                        .unwrap()
                }
            })
        });
    }
    group.finish();
}

fn reference(c: &mut Criterion) {
    let mut group = c.benchmark_group("predict_batch/reference");
    for flavor in [Flavor::Xgboost, Flavor::Lightgbm] {
        let model = support::ensemble(flavor, 300, 8, FEATURES).reference();
        let x = support::rows(10_000, FEATURES);
        let mut out = Array2::zeros((10_000, 2));
        group.throughput(Throughput::Elements(10_000));
        group.bench_function(format!("{flavor:?}_d8_t300"), |b| {
            b.iter(|| {
                model
                    .predict_into(
                        x.view(),
                        &mut [OutputSlot::new(Output::PredictProba, out.view_mut())],
                    )
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = trees, million_rows, default_outputs, reference
}
criterion_main!(benches);
