//! The state the HTTP handlers and the gRPC service share, and the policies they all apply:
//! the [`Options`] of a service, the [`Shared`] state behind every handler, which routes
//! need the token ([`Access`]), and how a bearer token is checked.
//!
//! It sits below the route table (`service.rs`) and the handlers (`protocol/`, `page.rs`,
//! `inference.rs`, `grpc/`), so that they all import it downward.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::admission::Admission;
use crate::batcher::{BatchConfig, Batcher};
use crate::metrics::Metrics;
use crate::repository::Repository;
use crate::request_log::RequestLog;

/// Limits and policies of the HTTP service.
#[derive(Debug, Clone)]
pub struct Options {
    /// The largest request body accepted, in bytes (after decompression). Larger bodies are
    /// answered 413. Default: 64 MiB, as Triton.
    pub max_body: usize,
    /// The most rows one request may carry; more are answered 413. A JSON body is checked
    /// before it is parsed, against the elements that many rows can need. Default: 100,000.
    pub max_rows: usize,
    /// The most bytes of request bodies held at once, across all requests; a request that
    /// would pass it is answered 503 with `Retry-After`. Default: 256 MiB.
    pub max_inflight_bytes: usize,
    /// Bodies of at least this many bytes count as large. Default: 1 MiB.
    pub large_request_bytes: usize,
    /// The most large requests read and decoded at once; more are answered 503 with
    /// `Retry-After`. Default: one per core.
    pub max_large_requests: usize,
    /// How long a request may take, from routing to response; slower ones are answered 504.
    /// Default: 30 s.
    pub timeout: Option<Duration>,
    /// A bearer token every route but the health checks requires.
    pub token: Option<String>,
    /// Requests with at least this many rows predict on the blocking thread pool rather than
    /// on the event loop. Default: 64.
    pub offload_rows: usize,
    /// The model routes without a model name use. Default: the only model served.
    pub default_model: Option<String>,
    /// Dynamic batching of concurrent small requests. Default: off.
    pub batch: BatchConfig,
    /// Web page origins (`https://ops.example`) besides the server's own that may call the
    /// repository routes (load, unload, index). Requests without an `Origin` (curl,
    /// `tritonclient`) are not affected. Default: none.
    pub admin_origins: Vec<String>,
    /// Web page origins the inference routes answer CORS requests for; `*` allows any.
    /// Default: none, so browsers keep pages of other sites out.
    pub cors_origins: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_body: 64 << 20,
            max_rows: 100_000,
            max_inflight_bytes: 256 << 20,
            large_request_bytes: 1 << 20,
            max_large_requests: std::thread::available_parallelism().map_or(2, usize::from),
            timeout: Some(Duration::from_secs(30)),
            token: None,
            offload_rows: 64,
            default_model: None,
            batch: BatchConfig::default(),
            admin_origins: Vec::new(),
            cors_origins: Vec::new(),
        }
    }
}

/// What every handler shares: one per [`Service`](crate::Service), behind actix's `Data`,
/// and the gRPC service's too.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) repository: Arc<Repository>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) options: Options,
    pub(crate) batcher: Batcher,
    pub(crate) admission: Arc<Admission>,
    /// The NDJSON log of prediction requests, when asked for.
    pub(crate) request_log: Option<RequestLog>,
    /// Set when a graceful stop begins: answers close their connections, and readiness ends.
    pub(crate) draining: AtomicBool,
}

/// The name of the model a request was served by, for the access log and the metrics.
#[derive(Debug, Clone)]
pub(crate) struct ModelLabel(pub(crate) String);

/// Whether a route needs the bearer token, and who else may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Health checks: load balancers and orchestrators call them without credentials.
    Public,
    /// Inference and metadata: the token when one is set, and CORS when configured.
    Protected,
    /// The repository routes: the token, and never a web page of another origin
    /// (see [`origin`](crate::origin)).
    Repository,
}

impl Shared {
    /// The state of a service over `repository` with `options`: empty metrics, the batcher
    /// and admission limits the options ask for, no request log.
    pub(crate) fn new(repository: Arc<Repository>, options: Options) -> Shared {
        Shared {
            repository,
            metrics: Arc::default(),
            batcher: Batcher::new(options.batch.clone()),
            draining: AtomicBool::new(false),
            admission: Arc::new(Admission::new(
                options.max_inflight_bytes,
                options.large_request_bytes,
                options.max_large_requests,
            )),
            options,
            request_log: None,
        }
    }

    /// The Prometheus exposition text, as `GET /metrics` serves it: the metrics, with the
    /// request log's dropped lines when there is a request log.
    pub(crate) fn metrics_text(&self) -> String {
        let mut text = self
            .metrics
            .render(&self.repository, self.batcher.queued_rows());
        if let Some(log) = &self.request_log {
            text.push_str("# HELP verdict_request_log_dropped_total Request log lines dropped because the writer fell behind.\n");
            text.push_str("# TYPE verdict_request_log_dropped_total counter\n");
            text.push_str(&format!(
                "verdict_request_log_dropped_total {}\n",
                log.dropped()
            ));
        }
        text
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True when an `Authorization` value (HTTP header or gRPC metadata) is `Bearer <token>`.
pub(crate) fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3creT"));
        assert!(!same_secret(b"s3cret", b"s3cre"));
    }
}
