//! Mounting Verdict's inference routes in an actix-web application of your own, next to your
//! own routes and under a path prefix of your choice.
//!
//! Run: `cargo run --example embed_in_actix`
//! then: `curl -s localhost:8080/ml/predict -d '{"input": {"rooms": 3, "area": 70}}'`
//! and:  `curl -s localhost:8080/hello`

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use verdict::model::family::Family;
use verdict::model::family::linear::{LinearMissing, LinearModel};
use verdict::model::family::link::{Link, Precision};
use verdict::model::{Feature, ModelInfo, NativeModel, Signature, Task};
use verdict::serve::{Options, Repository, Service};

/// A stand-in for a trained model: price = 20 + 15 * rooms + 2.5 * area.
fn price_model() -> NativeModel {
    let family = Family::Linear(LinearModel {
        num_features: 2,
        coefficients: vec![15.0, 2.5],
        intercepts: vec![20.0],
        precision: Precision::Double,
        missing: LinearMissing::Propagate,
        link: Link::Identity,
    });
    let signature = Signature::new(
        vec![Feature::numeric("rooms"), Feature::numeric("area")],
        Task::Regression,
    );
    NativeModel::new(signature, family).expect("the example model is consistent")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // Models can come from files (`Repository::open`) or, as here, from memory.
    let repository = Arc::new(Repository::new());
    repository.insert(
        "price",
        Arc::new(price_model()),
        ModelInfo::new("price", "example", "1"),
    );

    // One `Service` is shared by every worker: it holds the repository and the metrics.
    let service = Service::new(repository, Options::default());
    println!("try: curl -s localhost:8080/ml/predict -d '{{\"input\": [3, 70]}}'");
    HttpServer::new(move || {
        let service = service.clone();
        App::new()
            .route(
                "/hello",
                web::get().to(|| async { "hello from the application\n" }),
            )
            // Every Verdict route (/predict, /v2/..., /invocations, /metrics, ...) now lives
            // under /ml; the application's other paths are untouched by its middleware.
            .service(web::scope("/ml").configure(|cfg| service.configure(cfg)))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await
}
