//! The route table and what wraps every route: authentication, the request timeout, error
//! rendering per protocol, metrics and the access log.
//!
//! Routes are registered one resource at a time, each with its own middleware and body limit,
//! so an application that mounts them next to its own routes keeps its own behaviour: nothing
//! here applies to a path the [`Service`] did not register.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, Method, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{FromRequest, Handler, HttpMessage, HttpRequest, HttpResponse, Responder};

use crate::admission::Admission;
use crate::batcher::{BatchConfig, Batcher};
use crate::error::Error;
use crate::metrics::{Metrics, RequestRecord};
use crate::protocol::{mlflow, simple, v2};
use crate::repository::Repository;
use crate::{Protocol, origin, page};

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

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) repository: Arc<Repository>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) options: Options,
    pub(crate) batcher: Batcher,
    pub(crate) admission: Arc<Admission>,
    /// Set when a graceful stop begins: answers close their connections, and readiness ends.
    pub(crate) draining: AtomicBool,
}

/// The name of the model a request was served by, for the access log and the metrics.
#[derive(Debug, Clone)]
pub(crate) struct ModelLabel(pub(crate) String);

/// Whether a route needs the bearer token, and who else may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Health checks: load balancers and orchestrators call them without credentials.
    Public,
    /// Inference and metadata: the token when one is set, and CORS when configured.
    Protected,
    /// The repository routes: the token, and never a web page of another origin
    /// (see [`origin`](crate::origin)).
    Repository,
}

/// The inference service: the routes of all three protocols over one [`Repository`], ready to
/// mount in any actix-web [`App`](actix_web::App).
///
/// ```no_run
/// use std::sync::Arc;
/// use actix_web::{App, HttpServer};
/// use verdict_serve::{Options, Repository, Service, Source};
///
/// # async fn run() -> std::io::Result<()> {
/// let repository = Arc::new(Repository::open(vec![Source::File("iris.vdm".into())])?);
/// let service = Service::new(repository, Options::default());
/// HttpServer::new(move || App::new().configure(|cfg| service.configure(cfg)))
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Service {
    shared: Data<Shared>,
}

impl Service {
    /// A service over `repository`.
    pub fn new(repository: Arc<Repository>, options: Options) -> Service {
        Service {
            shared: Data::new(Shared {
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
            }),
        }
    }

    /// The models served.
    pub fn repository(&self) -> &Arc<Repository> {
        &self.shared.repository
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// Starts a graceful stop: from now on every answer closes its connection, and
    /// `/v2/health/ready` says not ready.
    pub fn start_draining(&self) {
        self.shared.draining.store(true, Ordering::SeqCst);
    }

    /// The Prometheus exposition text, as `GET /metrics` serves it.
    pub fn metrics_text(&self) -> String {
        self.shared
            .metrics
            .render(&self.shared.repository, self.shared.batcher.queued_rows())
    }

    /// Registers every route: `/predict` and `/models/{model}/predict`, the Open Inference
    /// Protocol under `/v2`, MLflow's `/invocations` (and `/models/{model}/invocations`),
    /// `/ping`, `/health` and `/version`, and `/`, `/openapi.json` and `/metrics`.
    pub fn configure(&self, cfg: &mut ServiceConfig) {
        use Access::{Protected, Public, Repository};
        use Protocol::{Admin, Mlflow, Simple, V2};
        let get = Method::GET;
        let post = Method::POST;

        self.route(cfg, "/predict", &post, Simple, Protected, simple::predict);
        self.route(
            cfg,
            "/models/{model}/predict",
            &post,
            Simple,
            Protected,
            simple::predict,
        );
        self.route(
            cfg,
            "/models/{model}/versions/{version}/predict",
            &post,
            Simple,
            Protected,
            simple::predict,
        );

        self.route(cfg, "/v2", &get, V2, Protected, v2::server_metadata);
        self.route(cfg, "/v2/health/live", &get, V2, Public, v2::live);
        self.route(cfg, "/v2/health/ready", &get, V2, Public, v2::ready);
        for prefix in [
            "/v2/models/{model}",
            "/v2/models/{model}/versions/{version}",
        ] {
            self.route(cfg, prefix, &get, V2, Protected, v2::model_metadata);
            self.route(
                cfg,
                &format!("{prefix}/ready"),
                &get,
                V2,
                Public,
                v2::model_ready,
            );
            self.route(
                cfg,
                &format!("{prefix}/infer"),
                &post,
                V2,
                Protected,
                v2::infer,
            );
        }
        self.route(
            cfg,
            "/v2/repository/index",
            &post,
            V2,
            Repository,
            v2::repository_index,
        );
        self.route(
            cfg,
            "/v2/repository/models/{model}/load",
            &post,
            V2,
            Repository,
            v2::repository_load,
        );
        self.route(
            cfg,
            "/v2/repository/models/{model}/unload",
            &post,
            V2,
            Repository,
            v2::repository_unload,
        );

        for path in ["/invocations", "/models/{model}/invocations"] {
            self.route(cfg, path, &post, Mlflow, Protected, mlflow::invocations);
        }
        self.route(cfg, "/ping", &get, Mlflow, Public, mlflow::ping);
        self.route(cfg, "/health", &get, Mlflow, Public, mlflow::ping);
        self.route(cfg, "/version", &get, Mlflow, Protected, mlflow::version);

        self.route(cfg, "/", &get, Admin, Protected, page::index);
        self.route(cfg, "/openapi.json", &get, Admin, Protected, page::openapi);
        self.route(cfg, "/metrics", &get, Admin, Protected, metrics);
    }

    /// Registers one resource with its middleware and body limit.
    #[allow(clippy::too_many_arguments)]
    fn route<F, Args>(
        &self,
        cfg: &mut ServiceConfig,
        path: &str,
        method: &Method,
        protocol: Protocol,
        access: Access,
        handler: F,
    ) where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let mut resource = web::resource(path)
            .app_data(self.shared.clone())
            .app_data(web::PayloadConfig::new(self.shared.options.max_body))
            .wrap(from_fn(move |req, next| guard(protocol, access, req, next)))
            .route(web::method(method.clone()).to(handler));
        if takes_cors(protocol, access) && !self.shared.options.cors_origins.is_empty() {
            // The guard answers preflights; the route only makes the method known.
            resource = resource.route(web::method(Method::OPTIONS).to(HttpResponse::NoContent));
        }
        cfg.service(resource);
    }
}

/// `GET /metrics`.
async fn metrics(shared: Data<Shared>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(
            shared
                .metrics
                .render(&shared.repository, shared.batcher.queued_rows()),
        )
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(req: &ServiceRequest, token: &str) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

/// Whether CORS grants apply to a route: the model routes, not the pages, the metrics or the
/// repository.
fn takes_cors(protocol: Protocol, access: Access) -> bool {
    protocol != Protocol::Admin && access != Access::Repository
}

/// The middleware of every route: CORS and origin checks, token check, timeout, protocol error shape, metrics and
/// the access log.
async fn guard(
    protocol: Protocol,
    access: Access,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let start = Instant::now();
    let Some(shared) = req.app_data::<Data<Shared>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "verdict-serve route without its state",
        ));
    };
    let http = req.request().clone();
    let cors = takes_cors(protocol, access);
    if cors && req.method() == Method::OPTIONS {
        let response = origin::preflight(&req, &shared.options);
        return Ok(req.into_response(response));
    }
    let granted = cors
        .then(|| origin::cors_grant(req.headers(), &shared.options))
        .flatten()
        .map(str::to_owned);
    let refusal = match &shared.options.token {
        Some(token) if access != Access::Public && !authorized(&req, token) => {
            Some(Error::Unauthorized)
        }
        _ if access == Access::Repository => origin::check_admin(&req, &shared.options).err(),
        _ => None,
    };
    let result = match (refusal, shared.options.timeout) {
        (Some(refusal), _) => Err(refusal),
        (None, Some(limit)) => match tokio::time::timeout(limit, next.call(req)).await {
            Ok(response) => Ok(response?),
            Err(_) => Err(Error::Timeout {
                ms: limit.as_millis() as u64,
            }),
        },
        (None, None) => Ok(next.call(req).await?),
    };
    // The message is kept before MLflow's rendering replaces the error for its shape.
    let error = match &result {
        Ok(response) => response.response().error().map(ToString::to_string),
        Err(error) => Some(error.to_string()),
    };
    let response = match result {
        Ok(response) => {
            // Handlers fail with the default `{"error"}` shape; MLflow routes want theirs.
            let rendered = response
                .response()
                .error()
                .and_then(|e| e.as_error::<Error>())
                .filter(|_| protocol == Protocol::Mlflow)
                .map(|e| e.response_for(protocol));
            match rendered {
                Some(rendered) => response.into_response(rendered),
                None => response.map_into_boxed_body(),
            }
        }
        Err(error) => ServiceResponse::new(http, error.response_for(protocol)),
    };
    let mut response = response;
    if let Some(origin) = &granted {
        origin::tag(response.headers_mut(), origin);
    }
    if shared.draining.load(Ordering::SeqCst) {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    let status = response.status().as_u16();
    let model = response
        .request()
        .extensions()
        .get::<ModelLabel>()
        .map_or_else(String::new, |label| label.0.clone());
    let duration = start.elapsed();
    shared.metrics.record_request(RequestRecord {
        model: &model,
        protocol: protocol.name(),
        status,
        duration,
    });
    tracing::info!(
        target: "verdict_serve::access",
        method = %response.request().method(),
        path = %response.request().path(),
        status,
        micros = duration.as_micros() as u64,
        protocol = protocol.name(),
        model = %model,
        peer = %response
            .request()
            .peer_addr()
            .map_or_else(String::new, |addr| addr.to_string()),
        error = error.as_deref().unwrap_or(""),
    );
    Ok(response)
}

/// The answer to paths no route has, in the `{"error"}` shape; the standalone server uses it
/// as its default service.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let error = Error::NoRoute {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    };
    tracing::info!(
        target: "verdict_serve::access",
        method = %req.method(),
        path = %req.path(),
        status = 404,
        "no route"
    );
    error.response_for(Protocol::Admin)
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
