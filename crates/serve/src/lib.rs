//! Real-time inference for Verdict models over HTTP, on actix-web.
//!
//! A [`Repository`] holds the models served, loaded from files and swapped atomically when a
//! file changes; a [`Service`] registers the routes of three protocols over it, which all run
//! through one core (decode, check against the model's signature, predict, encode):
//!
//! - the simple JSON protocol: `POST /predict` with `{"input": [...]}`;
//! - the Open Inference Protocol v2 (KServe, Triton, MLServer) under `/v2`, with Triton's
//!   binary tensor extension, so `tritonclient.http` works unchanged;
//! - MLflow's scoring protocol: `POST /invocations`, `/ping`, `/version`.
//!
//! Mount the service in an application of your own with
//! `App::new().configure(|cfg| service.configure(cfg))`, or run the standalone [`Server`],
//! which adds signal handling and the file watcher. `docs/http.md` documents every route.
//!
//! Small requests predict inline on the event loop, large ones on the blocking pool. With
//! [`BatchConfig::enabled`] (in [`Options::batch`]), concurrent small requests for one model are
//! coalesced into one prediction on a worker thread instead, bounded by a queue that answers
//! 503 with `Retry-After` when full; it is off by default, because for fast models the hand-off
//! costs more than the batch saves.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use verdict_serve::{Repository, Server, ServerConfig, Source};
//!
//! # fn main() -> std::io::Result<()> {
//! let repository = Arc::new(Repository::open(vec![Source::File("iris.vdm".into())])?);
//! actix_web::rt::System::new().block_on(async {
//!     Server::bind(repository, ServerConfig::default())?.run().await
//! })
//! # }
//! ```

#![deny(missing_docs)]

mod admission;
mod batcher;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
mod inference;
mod metrics;
mod origin;
mod page;
mod protocol;
pub mod repository;
mod request_log;
mod server;
mod service;
mod state;

pub use batcher::BatchConfig;
pub use error::Error;
pub use metrics::Metrics;
pub use repository::{ModelStatus, Repository, ServedModel, Source, VersionStatus, Watcher};
pub use request_log::RequestLogConfig;
pub use server::{Server, ServerConfig, StopHandle};
pub use service::{Service, not_found};
pub use state::Options;

/// The protocol of a route, which decides the shape of its errors and labels its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `/predict` and `/models/{name}/predict`.
    Simple,
    /// KServe's v1 protocol, under `/v1`.
    V1,
    /// The Open Inference Protocol v2, under `/v2`.
    V2,
    /// MLflow's `/invocations`, `/ping`, `/health` and `/version`.
    Mlflow,
    /// `/`, `/openapi.json` and `/metrics`.
    Admin,
    /// The Open Inference Protocol over gRPC, on its own port.
    Grpc,
}

impl Protocol {
    /// The label in metrics and logs: `simple`, `v1`, `v2`, `mlflow`, `admin` or `grpc`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Simple => "simple",
            Protocol::V1 => "v1",
            Protocol::V2 => "v2",
            Protocol::Mlflow => "mlflow",
            Protocol::Admin => "admin",
            Protocol::Grpc => "grpc",
        }
    }
}
