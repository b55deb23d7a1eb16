//! Single-row latency through Verdict's HTTP handler stack, without the network: routing,
//! body limits, JSON decoding, the model, JSON encoding and the metrics, for `POST /predict`,
//! Open Inference Protocol v2 `POST /v2/models/NAME/infer` and MLflow `POST /invocations`.
//! The requests go through actix-web's in-process test service; `benches/http_load.sh`
//! measures the same routes over loopback sockets.
//!
//! The model is the shipped `examples/models/breast_cancer_xgb.json` (100 trees of depth 4,
//! 30 features) and the row is the first of `examples/data/breast_cancer.csv`.
//!
//! Run with: `cargo bench --bench http_handler`

use std::sync::Arc;

use actix_web::{App, test};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use verdict::serve::{Options, Repository, Service};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/models/breast_cancer_xgb.json"
);
const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/breast_cancer.csv"
);

/// The 30 features of the data's first row (the file's first column is an id).
fn first_row() -> Vec<f64> {
    let text = std::fs::read_to_string(DATA).expect("the shipped data is readable");
    let line = text.lines().nth(1).expect("the shipped data has rows");
    line.split(',')
        .skip(1)
        .take(30)
        .map(|v| v.parse().expect("the shipped data is numeric"))
        .collect()
}

fn handler(c: &mut Criterion) {
    let file = verdict::model::import::load(MODEL, None).expect("the shipped model loads");
    let repository = Arc::new(Repository::new());
    repository.insert("breast_cancer", Arc::new(file.model), file.info);
    let service = Service::new(repository, Options::default());
    let system = actix_web::rt::System::new();
    let app = system.block_on(test::init_service(
        App::new().configure(|cfg| service.configure(cfg)),
    ));

    let row = first_row();
    let routes = [
        ("predict", "/predict", json!({ "input": row })),
        (
            "v2_infer",
            "/v2/models/breast_cancer/infer",
            json!({
                "inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64", "data": row}],
                "outputs": [{"name": "predict"}],
            }),
        ),
        (
            "mlflow_invocations",
            "/invocations",
            json!({ "inputs": [row] }),
        ),
    ];
    let mut group = c.benchmark_group("http_handler");
    for (name, path, body) in routes {
        let body = serde_json::to_vec(&body).expect("the body serializes");
        let call = || {
            let request = test::TestRequest::post()
                .uri(path)
                .insert_header(("content-type", "application/json"))
                .set_payload(body.clone())
                .to_request();
            system.block_on(async {
                let response = test::call_service(&app, request).await;
                let status = response.status();
                let answer = test::read_body(response).await;
                assert!(status.is_success(), "{path}: {status} {answer:?}");
                answer
            })
        };
        // Every route must answer 200 before it is timed.
        call();
        group.bench_function(name, |b| b.iter(call));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = handler
}
criterion_main!(benches);
