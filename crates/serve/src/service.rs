//! The route table and what wraps every route: authentication, the request timeout, error
//! rendering per protocol, metrics and the access log.
//!
//! Routes are registered one resource at a time, each with its own middleware and body limit,
//! so an application that mounts them next to its own routes keeps its own behaviour: nothing
//! here applies to a path the [`Service`] did not register.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, Method, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{FromRequest, Handler, HttpMessage, HttpRequest, HttpResponse, Responder};

use crate::error::Error;
use crate::metrics::RequestRecord;
use crate::protocol::{mlflow, simple, v1, v2};
use crate::repository::Repository;
use crate::request_log::{self, Line, RequestLog, RequestLogConfig};
use crate::state::{Access, ModelLabel, Options, Shared, bearer_matches};
use crate::{Protocol, origin, page};

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
            shared: Data::new(Shared::new(repository, options)),
        }
    }

    /// This service, writing one NDJSON line per prediction request as `config` says (see
    /// `docs/http.md`). Call it before the service is cloned into an application.
    pub fn with_request_log(self, config: &RequestLogConfig) -> std::io::Result<Service> {
        let log = RequestLog::start(config)?;
        let mut shared = self.shared.into_inner();
        let Some(state) = Arc::get_mut(&mut shared) else {
            return Err(std::io::Error::other(
                "Service::with_request_log must be called before the service is cloned",
            ));
        };
        state.request_log = Some(log);
        Ok(Service {
            shared: Data::from(shared),
        })
    }

    /// The models served.
    pub fn repository(&self) -> &Arc<Repository> {
        &self.shared.repository
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// The state the handlers share, for the gRPC service over the same core.
    pub(crate) fn shared(&self) -> &Data<Shared> {
        &self.shared
    }

    /// Starts a graceful stop: from now on every answer closes its connection, and
    /// `/v2/health/ready` says not ready.
    pub fn start_draining(&self) {
        self.shared.draining.store(true, Ordering::SeqCst);
    }

    /// The Prometheus exposition text, as `GET /metrics` serves it.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics_text()
    }

    /// Registers every route: `/predict` and `/models/{model}/predict`, the Open Inference
    /// Protocol under `/v2`, MLflow's `/invocations` (and `/models/{model}/invocations`),
    /// `/ping`, `/health` and `/version`, and `/`, `/openapi.json` and `/metrics`.
    pub fn configure(&self, cfg: &mut ServiceConfig) {
        use Access::{Protected, Public, Repository};
        use Protocol::{Admin, Mlflow, Simple, V1, V2};
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

        self.route(cfg, "/v1/models", &get, V1, Protected, v1::models);
        // `{model}` stops at a colon, so `NAME:predict` is not read as a model name.
        self.route(
            cfg,
            "/v1/models/{model:[^/:]+}",
            &get,
            V1,
            Protected,
            v1::model,
        );
        self.route(
            cfg,
            "/v1/models/{model:[^/:]+}:predict",
            &post,
            V1,
            Protected,
            v1::predict,
        );

        self.route(cfg, "/v2", &get, V2, Protected, v2::server_metadata);
        self.route(cfg, "/v2/health/live", &get, V2, Public, v2::live);
        self.route(cfg, "/v2/health/ready", &get, V2, Public, v2::ready);
        // Before `/v2/models/{model}`, which would take `stats` for a model's name.
        self.route(cfg, "/v2/models/stats", &get, V2, Protected, v2::statistics);
        for prefix in [
            "/v2/models/{model}",
            "/v2/models/{model}/versions/{version}",
        ] {
            self.route(
                cfg,
                &format!("{prefix}/config"),
                &get,
                V2,
                Protected,
                v2::model_config,
            );
            self.route(
                cfg,
                &format!("{prefix}/stats"),
                &get,
                V2,
                Protected,
                v2::statistics,
            );
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

        self.route(cfg, "/", &get, Admin, Public, page::index);
        self.route(cfg, "/openapi.json", &get, Admin, Protected, page::openapi);
        self.route(cfg, "/docs", &get, Admin, Public, page::docs);
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
        .body(shared.metrics_text())
}

/// True for the routes whose requests the request log records: the prediction routes.
fn predicts(method: &Method, protocol: Protocol, access: Access) -> bool {
    method == Method::POST && protocol != Protocol::Admin && access == Access::Protected
}

fn authorized(req: &ServiceRequest, token: &str) -> bool {
    bearer_matches(
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok()),
        token,
    )
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
    let logged = shared.request_log.is_some() && predicts(req.method(), protocol, access);
    let work = async {
        match (refusal, shared.options.timeout) {
            (Some(refusal), _) => Ok(Err(refusal)),
            (None, Some(limit)) => match tokio::time::timeout(limit, next.call(req)).await {
                Ok(response) => response.map(Ok),
                Err(_) => Ok(Err(Error::Timeout {
                    ms: limit.as_millis() as u64,
                })),
            },
            (None, None) => next.call(req).await.map(Ok),
        }
    };
    let (result, record) = if logged {
        request_log::scope(work).await
    } else {
        (work.await, None)
    };
    let result = result?;
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
    if let (true, Some(log)) = (logged, &shared.request_log) {
        log.write(
            Line {
                route: response.request().path(),
                protocol: protocol.name(),
                status,
                latency: duration,
                model: &model,
                error: error.as_deref(),
            },
            record,
        );
    }
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
