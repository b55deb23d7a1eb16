//! Linear models and pipelines: rows per second for a 50-feature linear regression, a
//! 3-class logistic regression, and a scikit-learn-style pipeline (impute, scale, one-hot,
//! logistic), in batches of 1, 64 and 10,000 rows on one thread.
//!
//! Run with: `cargo bench --bench predict_linear`

mod support;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use verdict::model::family::linear::{LinearMissing, LinearModel};
use verdict::model::family::link::{Link, Precision};
use verdict::model::family::preprocess::{Branch, OneHotColumn, Step, UnknownCategory};
use verdict::model::family::{Family, Pipeline};
use verdict::model::{
    ClassLabel, Feature, Model, NativeModel, Output, OutputSlot, Signature, Task,
};

const FEATURES: usize = 50;

fn linear(outputs: usize, link: Link) -> Family {
    let mut rng = support::SplitMix::new(3);
    Family::Linear(LinearModel {
        num_features: FEATURES,
        coefficients: (0..FEATURES * outputs).map(|_| rng.unit() - 0.5).collect(),
        intercepts: (0..outputs).map(|_| rng.unit()).collect(),
        precision: Precision::Double,
        missing: LinearMissing::Propagate,
        link,
    })
}

fn classes(n: i64) -> Task {
    Task::Classification {
        classes: (0..n).map(ClassLabel::Int).collect(),
    }
}

/// 40 numeric features imputed and standardised, 10 categorical ones (5 categories each)
/// one-hot encoded, then a binary logistic regression.
fn pipeline() -> NativeModel {
    let numeric: Vec<u32> = (0..40).collect();
    let categorical: Vec<u32> = (40..50).collect();
    let steps = vec![Step::Columns {
        branches: vec![
            Branch {
                columns: numeric,
                steps: vec![
                    Step::Impute {
                        fill: vec![0.0; 40],
                    },
                    Step::Standardize {
                        mean: vec![0.1; 40],
                        scale: vec![1.3; 40],
                    },
                ],
            },
            Branch {
                columns: categorical,
                steps: vec![Step::OneHot {
                    columns: vec![
                        OneHotColumn {
                            categories: 5,
                            drop: None,
                            unknown: UnknownCategory::Ignore,
                        };
                        10
                    ],
                }],
            },
        ],
        remainder: vec![],
    }];
    let mut rng = support::SplitMix::new(5);
    let model = Family::Linear(LinearModel {
        num_features: 90,
        coefficients: (0..90).map(|_| rng.unit() - 0.5).collect(),
        intercepts: vec![0.1],
        precision: Precision::Double,
        missing: LinearMissing::Propagate,
        link: Link::Sigmoid { scale: 1.0 },
    });
    let mut features = Signature::positional_features(40);
    features.extend(
        (40..50).map(|i| {
            Feature::categorical(format!("c{i}"), (0..5).map(|c| format!("v{c}")).collect())
        }),
    );
    NativeModel::new(
        Signature::new(features, classes(2)),
        Family::Pipeline(Pipeline {
            num_features: FEATURES,
            steps,
            model: Box::new(model),
        }),
    )
    .expect("the benchmark pipeline is valid")
}

fn rows(n: usize) -> Array2<f64> {
    let mut x = support::rows(n, FEATURES);
    // Category codes in the last ten columns.
    for (i, mut row) in x.rows_mut().into_iter().enumerate() {
        for j in 40..FEATURES {
            row[j] = ((i + j) % 5) as f64;
        }
    }
    x
}

fn models(c: &mut Criterion) {
    let cases = [
        (
            "linear_regression",
            NativeModel::new(
                Signature::new(Signature::positional_features(FEATURES), Task::Regression),
                linear(1, Link::Identity),
            )
            .expect("valid"),
            Output::Predict,
        ),
        (
            "logistic_3_classes",
            NativeModel::new(
                Signature::new(Signature::positional_features(FEATURES), classes(3)),
                linear(3, Link::Softmax),
            )
            .expect("valid"),
            Output::PredictProba,
        ),
        ("pipeline_onehot_logistic", pipeline(), Output::PredictProba),
    ];
    let mut group = c.benchmark_group("predict_linear");
    for (name, model, output) in &cases {
        let width = model.signature().output_width(*output).expect("output");
        for batch in [1, 64, 10_000] {
            let x = rows(batch);
            let mut out = Array2::zeros((batch, width));
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new(*name, batch), &batch, |b, _| {
                b.iter(|| {
                    model
                        .predict_into(x.view(), &mut [OutputSlot::new(*output, out.view_mut())])
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = models
}
criterion_main!(benches);
