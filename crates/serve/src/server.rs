//! The standalone server: the [`Service`] in an actix-web `HttpServer`, the gRPC service on a
//! second port when asked for, signal handling and the file watcher.
//!
//! SIGTERM and SIGINT first drain: for [`ServerConfig::drain`], every answer closes its
//! connection and `/v2/health/ready` says not ready, while the server still accepts. Then it
//! stops accepting and lets running requests finish (up to the shutdown timeout). Without the
//! drain, actix closes idle kept-alive connections at once, and a request a client has just
//! sent on one is lost. SIGHUP reloads every model file. Signals are handled here rather than
//! by actix, whose default treats SIGINT as an immediate stop.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

use crate::grpc::GrpcServer;
use crate::repository::{Repository, Watcher};
use crate::service::{Service, not_found};
use crate::state::Options;

/// How the standalone server listens and behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to bind. Default: `127.0.0.1`, so nothing is exposed by accident.
    pub host: String,
    /// The port; 0 picks a free one (see [`Server::addrs`]). Default: 8080.
    pub port: u16,
    /// The port of the Open Inference Protocol over gRPC, on the same host; 0 picks a free
    /// one (see [`Server::grpc_addr`]). Default: `None`, no gRPC.
    pub grpc_port: Option<u16>,
    /// Worker threads, each with its own event loop. Default: one per core.
    pub workers: Option<usize>,
    /// Limits and policies of the routes.
    pub options: Options,
    /// How long an idle keep-alive connection stays open. Default: 60 s.
    pub keep_alive: Duration,
    /// How long a client has to send a request's headers. Default: 5 s.
    pub client_request_timeout: Duration,
    /// How long a graceful stop waits for running requests. Default: 30 s.
    pub shutdown_timeout: Duration,
    /// The NDJSON log of prediction requests. Default: none.
    pub request_log: Option<crate::RequestLogConfig>,
    /// How long a graceful stop keeps accepting, closing every connection after its answer,
    /// before it stops accepting: clients learn to open new connections (elsewhere, once a
    /// load balancer sees the server not ready) instead of sending on kept-alive ones the stop
    /// would close. Default: 1 s.
    pub drain: Duration,
    /// How often model files are checked for changes; `None` turns hot reload off (SIGHUP
    /// still reloads). Default: 1 s.
    pub poll_interval: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            grpc_port: None,
            workers: None,
            options: Options::default(),
            keep_alive: Duration::from_secs(60),
            client_request_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(1),
            poll_interval: Some(Duration::from_secs(1)),
            request_log: None,
        }
    }
}

/// A bound server, ready to [`run`](Server::run).
///
/// ```no_run
/// use std::sync::Arc;
/// use verdict_serve::{Repository, Server, ServerConfig, Source};
///
/// # fn main() -> std::io::Result<()> {
/// let repository = Arc::new(Repository::open(vec![Source::Dir("models".into())])?);
/// actix_web::rt::System::new().block_on(async {
///     let server = Server::bind(repository, ServerConfig::default())?;
///     println!("listening on http://{}", server.addrs()[0]);
///     server.run().await
/// })
/// # }
/// ```
pub struct Server {
    http: actix_web::dev::Server,
    addrs: Vec<SocketAddr>,
    service: Service,
    grpc: Option<GrpcServer>,
    shutdown_timeout: Duration,
    watcher: Option<Watcher>,
    drain: Duration,
}

/// Stops a running [`Server`]; see [`Server::handle`].
#[derive(Debug, Clone)]
pub struct StopHandle {
    http: ServerHandle,
    service: Service,
    drain: Duration,
}

impl StopHandle {
    /// Stops the server. A graceful stop drains for [`ServerConfig::drain`], then stops
    /// accepting and lets running requests finish; otherwise every connection closes at once.
    pub async fn stop(&self, graceful: bool) {
        if graceful {
            self.service.start_draining();
            tokio::time::sleep(self.drain).await;
        }
        self.http.stop(graceful).await;
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .field("grpc_addr", &self.grpc_addr())
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listening socket and starts the workers and the file watcher. Call it inside
    /// an actix runtime (`actix_web::rt::System` or `#[actix_web::main]`).
    pub fn bind(repository: Arc<Repository>, config: ServerConfig) -> io::Result<Server> {
        let mut service = Service::new(Arc::clone(&repository), config.options);
        if let Some(log) = &config.request_log {
            service = service.with_request_log(log)?;
        }
        let app_service = service.clone();
        let mut http = HttpServer::new(move || {
            let service = app_service.clone();
            App::new()
                .configure(|cfg| service.configure(cfg))
                .default_service(web::to(not_found))
        })
        .keep_alive(config.keep_alive)
        .client_request_timeout(config.client_request_timeout)
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        .disable_signals();
        if let Some(workers) = config.workers {
            http = http.workers(workers.max(1));
        }
        let http = http.bind((config.host.as_str(), config.port))?;
        let addrs = http.addrs();
        let grpc = config
            .grpc_port
            .map(|port| GrpcServer::start(&service, &config.host, port, config.workers))
            .transpose()?;
        let watcher = config
            .poll_interval
            .map(|interval| repository.watch(interval))
            .transpose()?;
        Ok(Server {
            http: http.run(),
            addrs,
            service,
            grpc,
            shutdown_timeout: config.shutdown_timeout,
            watcher,
            drain: config.drain,
        })
    }

    /// The addresses the server listens on.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The address of the gRPC service, when [`ServerConfig::grpc_port`] is set.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(GrpcServer::addr)
    }

    /// A handle to stop the server (`stop(true)` drains first); the gRPC service stops with it.
    pub fn handle(&self) -> StopHandle {
        StopHandle {
            http: self.http.handle(),
            service: self.service.clone(),
            drain: self.drain,
        }
    }

    /// The routes' service: its repository, options and metrics.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Serves until stopped by a signal or through a [`handle`](Server::handle).
    pub async fn run(self) -> io::Result<()> {
        let signals = actix_web::rt::spawn(handle_signals(
            self.handle(),
            Arc::clone(self.service.repository()),
        ));
        let result = self.http.await;
        signals.abort();
        if let Some(grpc) = self.grpc {
            let grace = self.shutdown_timeout;
            // Joining blocks; keep it off the event loop.
            let _ = web::block(move || grpc.stop(grace)).await;
        }
        drop(self.watcher);
        tracing::info!("stopped");
        result
    }
}

/// SIGTERM and SIGINT drain and stop; SIGHUP reloads every model file.
///
/// The handlers are installed before this returns, so a signal sent once the server answers
/// is never missed (an unhandled SIGHUP would end the process).
#[cfg(unix)]
fn handle_signals(
    handle: StopHandle,
    repository: Arc<Repository>,
) -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    );
    async move {
        let (Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) = signals else {
            tracing::warn!("cannot install signal handlers; stop the server with SIGKILL");
            return;
        };
        loop {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading every model");
                    let repository = Arc::clone(&repository);
                    if let Err(error) = web::block(move || repository.refresh(true)).await {
                        tracing::error!("reload failed: {error}");
                    }
                    continue;
                }
            };
            tracing::info!("{name}: draining, finishing running requests, then stopping");
            handle.stop(true).await;
            return;
        }
    }
}

/// Ctrl-C drains and stops.
#[cfg(not(unix))]
async fn handle_signals(handle: StopHandle, _repository: Arc<Repository>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        tracing::info!("Ctrl-C: finishing running requests, then stopping");
        handle.stop(true).await;
    }
}
