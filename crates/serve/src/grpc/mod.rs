//! The Open Inference Protocol over gRPC: `inference.GRPCInferenceService`, generated from
//! Triton's published `.proto` files (vendored in `proto/`), so `tritonclient.grpc` and stubs
//! generated from the same files work unchanged.
//!
//! Every RPC goes through the same core as the HTTP routes: the same
//! [`Repository`](crate::Repository), the same decoding of tensors and assembly of features
//! as the v2 REST routes, the same prediction path (batching and offloading included), the
//! same limits (message size, rows, the in-flight budget, the timeout), the bearer token (as
//! `authorization` metadata), the metrics, and the same [`Error`]s, whose HTTP status maps to
//! the matching gRPC code ([`status`]).
//!
//! Served: server live/ready/metadata, model ready/metadata, `ModelInfer` (inputs in
//! `raw_input_contents` or typed `contents`, outputs in `raw_output_contents`), and the
//! repository extension (index, load, unload). Triton's shared-memory, trace and log RPCs,
//! streaming inference and the model configuration and statistics RPCs answer
//! `UNIMPLEMENTED`.
//!
//! The standalone [`Server`](crate::Server) runs it on a port of its own with
//! [`ServerConfig::grpc_port`](crate::ServerConfig::grpc_port); [`GrpcServer`] runs it
//! beside an HTTP service of your own, and [`inference_service`] gives the tonic service to
//! mount in a tonic server you build yourself.

mod status;
mod tensor;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::web::Data;
use tonic::{Request, Response};
use verdict_model::Output;

use crate::error::Error;
use crate::metrics::RequestRecord;
use crate::protocol::{Decoder, v2};
use crate::request_log::{self, Line};
use crate::service::Service;
use crate::state::{Access, Shared, bearer_matches};
use crate::{Protocol, inference};

pub use status::status;

/// The code generated from the vendored `.proto` files: messages, the server trait and a
/// client (`proto::grpc_inference_service_client::GrpcInferenceServiceClient`).
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    rustdoc::all
)]
pub mod proto {
    tonic::include_proto!("inference");
}

use proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};

/// The tonic service over a [`Service`]'s repository, options and metrics.
pub fn inference_service(service: &Service) -> GrpcInferenceServiceServer<Inference> {
    GrpcInferenceServiceServer::new(Inference {
        shared: service.shared().clone(),
    })
    // The body limit of the HTTP routes; a larger message is answered RESOURCE_EXHAUSTED.
    .max_decoding_message_size(service.options().max_body)
}

/// The implementation of `GRPCInferenceService` (see the [module](self) documentation).
#[derive(Debug, Clone)]
pub struct Inference {
    shared: Data<Shared>,
}

/// What a handler answers, with the model it resolved for the metrics' `model` label (none
/// when it failed before: a label is never taken from what the client sent).
type Outcome<T> = (Option<String>, Result<T, Error>);

impl Inference {
    /// Runs one RPC: the token check, the request timeout, the metrics and the access log
    /// around `handler`.
    async fn call<T, R, F, Fut>(
        &self,
        method: &'static str,
        access: Access,
        request: Request<T>,
        handler: F,
    ) -> Result<Response<R>, tonic::Status>
    where
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Outcome<R>>,
    {
        let start = Instant::now();
        let peer = request
            .remote_addr()
            .map_or_else(String::new, |addr| addr.to_string());
        let options = &self.shared.options;
        // Only inference goes to the request log, as on HTTP.
        let logged = self.shared.request_log.is_some() && method == "ModelInfer";
        let call = async {
            match &options.token {
                Some(token)
                    if access == Access::Protected
                        && !bearer_matches(
                            request
                                .metadata()
                                .get("authorization")
                                .and_then(|value| value.to_str().ok()),
                            token,
                        ) =>
                {
                    (None, Err(Error::Unauthorized))
                }
                _ => {
                    let work = handler(request.into_inner());
                    match options.timeout {
                        Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or((
                            None,
                            Err(Error::Timeout {
                                ms: limit.as_millis() as u64,
                            }),
                        )),
                        None => work.await,
                    }
                }
            }
        };
        let ((model, result), record) = if logged {
            request_log::scope(call).await
        } else {
            (call.await, None)
        };
        let duration = start.elapsed();
        // The `status` label holds the HTTP status the same answer has on the HTTP routes,
        // so one query counts failures across both transports.
        let http_status = match &result {
            Ok(_) => 200,
            Err(error) => actix_web::ResponseError::status_code(error).as_u16(),
        };
        let model = model.unwrap_or_default();
        self.shared.metrics.record_request(RequestRecord {
            model: &model,
            protocol: Protocol::Grpc.name(),
            status: http_status,
            duration,
        });
        let error = result.as_ref().err().map(ToString::to_string);
        if let (true, Some(log)) = (logged, &self.shared.request_log) {
            log.write(
                Line {
                    route: method,
                    protocol: Protocol::Grpc.name(),
                    status: http_status,
                    latency: duration,
                    model: &model,
                    error: error.as_deref(),
                },
                record,
            );
        }
        tracing::info!(
            target: "verdict_serve::access",
            method = "gRPC",
            path = method,
            status = http_status,
            micros = duration.as_micros() as u64,
            protocol = Protocol::Grpc.name(),
            model = %model,
            peer = %peer,
            error = error.as_deref().unwrap_or(""),
        );
        result.map(Response::new).map_err(|e| status(&e))
    }

    /// The model a request names; empty name and version mean the default model and its
    /// newest version, as on the HTTP routes.
    fn resolve(
        &self,
        name: &str,
        version: &str,
    ) -> Result<std::sync::Arc<crate::ServedModel>, Error> {
        let name =
            Some(name)
                .filter(|n| !n.is_empty())
                .or(self.shared.options.default_model.as_deref());
        let version = Some(version).filter(|v| !v.is_empty());
        self.shared.repository.resolve(name, version)
    }

    async fn infer(&self, request: proto::ModelInferRequest) -> Outcome<proto::ModelInferResponse> {
        let model = match self.resolve(&request.model_name, &request.model_version) {
            Ok(model) => model,
            Err(error) => return (None, Err(error)),
        };
        let label = Some(model.name.clone());
        let answer = async {
            // The in-flight budget of the HTTP bodies, for the message tonic has read: the
            // decoded rows live until the answer is sent.
            let _permit = self
                .shared
                .admission
                .admit(prost::Message::encoded_len(&request))?;
            let signature = model.model.signature();
            let decoder = Decoder {
                signature,
                max_rows: self.shared.options.max_rows,
            };
            let features =
                tensor::features(&decoder, &request.inputs, &request.raw_input_contents)?;
            let outputs: Vec<Output> = if request.outputs.is_empty() {
                signature.outputs()
            } else {
                request
                    .outputs
                    .iter()
                    .enumerate()
                    .map(|(i, output)| {
                        output
                            .name
                            .parse()
                            .map_err(|e: verdict_model::UnknownOutput| {
                                Error::bad(format!("outputs[{i}]"), e.to_string())
                            })
                    })
                    .collect::<Result<_, _>>()?
            };
            let predictions = inference::predict(&self.shared, &model, features, &outputs).await?;
            let mut response = proto::ModelInferResponse {
                model_name: model.name.clone(),
                model_version: model.version.to_string(),
                id: request.id.clone(),
                ..proto::ModelInferResponse::default()
            };
            for (&output, values) in outputs.iter().zip(&predictions) {
                let (tensor, raw) = tensor::output(signature, output, values)?;
                response.outputs.push(tensor);
                response.raw_output_contents.push(raw);
            }
            Ok(response)
        };
        (label, answer.await)
    }

    fn model_metadata(
        &self,
        request: &proto::ModelMetadataRequest,
    ) -> Outcome<proto::ModelMetadataResponse> {
        let model = match self.resolve(&request.name, &request.version) {
            Ok(model) => model,
            Err(error) => return (None, Err(error)),
        };
        let label = Some(model.name.clone());
        let answer = self.shared.repository.model(&model.name).map(|status| {
            let signature = model.model.signature();
            let specs = |specs: Vec<v2::metadata::TensorSpec>| {
                specs
                    .into_iter()
                    .map(|spec| proto::model_metadata_response::TensorMetadata {
                        name: spec.name,
                        datatype: spec.datatype.to_owned(),
                        shape: spec.shape,
                    })
                    .collect()
            };
            proto::ModelMetadataResponse {
                name: model.name.clone(),
                versions: status
                    .versions
                    .iter()
                    .map(|v| v.version.to_string())
                    .collect(),
                platform: "verdict".to_owned(),
                inputs: specs(v2::metadata::input_specs(signature)),
                outputs: specs(v2::metadata::output_specs(signature)),
            }
        });
        (label, answer)
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for Inference {
    async fn server_live(
        &self,
        request: Request<proto::ServerLiveRequest>,
    ) -> Result<Response<proto::ServerLiveResponse>, tonic::Status> {
        self.call("ServerLive", Access::Public, request, |_| async {
            (None, Ok(proto::ServerLiveResponse { live: true }))
        })
        .await
    }

    async fn server_ready(
        &self,
        request: Request<proto::ServerReadyRequest>,
    ) -> Result<Response<proto::ServerReadyResponse>, tonic::Status> {
        self.call("ServerReady", Access::Public, request, |_| async {
            // As on HTTP, a graceful stop ends readiness.
            let stopping = self
                .shared
                .draining
                .load(std::sync::atomic::Ordering::SeqCst);
            let ready = self.shared.repository.is_ready() && !stopping;
            (None, Ok(proto::ServerReadyResponse { ready }))
        })
        .await
    }

    async fn model_ready(
        &self,
        request: Request<proto::ModelReadyRequest>,
    ) -> Result<Response<proto::ModelReadyResponse>, tonic::Status> {
        self.call(
            "ModelReady",
            Access::Public,
            request,
            |request| async move {
                // As on HTTP: an unknown model is NOT_FOUND, a known one that is not serving
                // is simply not ready.
                match self.resolve(&request.name, &request.version) {
                    Ok(model) => (
                        Some(model.name.clone()),
                        Ok(proto::ModelReadyResponse { ready: true }),
                    ),
                    Err(Error::Unavailable { name, .. }) => {
                        (Some(name), Ok(proto::ModelReadyResponse { ready: false }))
                    }
                    Err(error) => (None, Err(error)),
                }
            },
        )
        .await
    }

    async fn server_metadata(
        &self,
        request: Request<proto::ServerMetadataRequest>,
    ) -> Result<Response<proto::ServerMetadataResponse>, tonic::Status> {
        self.call("ServerMetadata", Access::Protected, request, |_| async {
            let metadata = proto::ServerMetadataResponse {
                name: "verdict".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                extensions: v2::metadata::EXTENSIONS
                    .iter()
                    .map(|&e| e.to_owned())
                    .collect(),
            };
            (None, Ok(metadata))
        })
        .await
    }

    async fn model_metadata(
        &self,
        request: Request<proto::ModelMetadataRequest>,
    ) -> Result<Response<proto::ModelMetadataResponse>, tonic::Status> {
        self.call(
            "ModelMetadata",
            Access::Protected,
            request,
            |request| async move { self.model_metadata(&request) },
        )
        .await
    }

    async fn model_infer(
        &self,
        request: Request<proto::ModelInferRequest>,
    ) -> Result<Response<proto::ModelInferResponse>, tonic::Status> {
        self.call("ModelInfer", Access::Protected, request, |request| {
            self.infer(request)
        })
        .await
    }

    async fn repository_index(
        &self,
        request: Request<proto::RepositoryIndexRequest>,
    ) -> Result<Response<proto::RepositoryIndexResponse>, tonic::Status> {
        self.call(
            "RepositoryIndex",
            Access::Protected,
            request,
            |request| async move {
                let models = v2::repository::index(&self.shared.repository, request.ready)
                    .into_iter()
                    .map(|entry| proto::repository_index_response::ModelIndex {
                        name: entry.name,
                        version: entry.version,
                        state: entry.state.to_owned(),
                        reason: entry.reason,
                    })
                    .collect();
                (None, Ok(proto::RepositoryIndexResponse { models }))
            },
        )
        .await
    }

    async fn repository_model_load(
        &self,
        request: Request<proto::RepositoryModelLoadRequest>,
    ) -> Result<Response<proto::RepositoryModelLoadResponse>, tonic::Status> {
        self.call(
            "RepositoryModelLoad",
            Access::Protected,
            request,
            |request| async move {
                let name = request.model_name;
                let result = v2::repository::load(&self.shared.repository, name.clone()).await;
                let label = result.is_ok().then_some(name);
                (
                    label,
                    result.map(|()| proto::RepositoryModelLoadResponse {}),
                )
            },
        )
        .await
    }

    async fn repository_model_unload(
        &self,
        request: Request<proto::RepositoryModelUnloadRequest>,
    ) -> Result<Response<proto::RepositoryModelUnloadResponse>, tonic::Status> {
        self.call(
            "RepositoryModelUnload",
            Access::Protected,
            request,
            |request| async move {
                let result = self.shared.repository.unload(&request.model_name);
                let label = result.is_ok().then_some(request.model_name);
                (
                    label,
                    result.map(|()| proto::RepositoryModelUnloadResponse {}),
                )
            },
        )
        .await
    }
}

/// The gRPC service running on a port of its own, on a multi-threaded tokio runtime of its
/// own (actix's event loops are single-threaded and belong to the HTTP workers).
#[derive(Debug)]
pub struct GrpcServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl GrpcServer {
    /// Binds `host:port` (port 0 picks a free one) and serves `service`'s models on
    /// `threads` runtime threads (default: one per core).
    pub fn start(
        service: &Service,
        host: &str,
        port: u16,
        threads: Option<usize>,
    ) -> io::Result<GrpcServer> {
        // Bound here, not in the thread, so a port in use fails the start.
        let listener = TcpListener::bind((host, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        runtime.enable_all().thread_name("verdict-grpc");
        if let Some(threads) = threads {
            runtime.worker_threads(threads.max(1));
        }
        let runtime = runtime.build()?;
        let routes = inference_service(service);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("verdict-grpc".to_owned())
            .spawn(move || {
                let served = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    let incoming = tonic::transport::server::TcpIncoming::from(listener)
                        // Single-row requests are small: send them now, not after Nagle's wait.
                        .with_nodelay(Some(true));
                    tonic::transport::Server::builder()
                        .add_service(routes)
                        .serve_with_incoming_shutdown(incoming, async {
                            let _ = stop.await;
                        })
                        .await
                        .map_err(io::Error::other)
                });
                if let Err(error) = served {
                    tracing::error!("the gRPC server failed: {error}");
                }
                let _ = finished.send(());
            })?;
        Ok(GrpcServer {
            addr,
            shutdown: Some(shutdown),
            done,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting calls and waits up to `grace` for running ones to finish.
    pub fn stop(mut self, grace: Duration) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if self.done.recv_timeout(grace).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        } else {
            tracing::warn!(
                "gRPC calls still running after {} s; stopping without them",
                grace.as_secs()
            );
        }
    }
}

impl Drop for GrpcServer {
    /// A server dropped without [`stop`](GrpcServer::stop) stops accepting calls too.
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
