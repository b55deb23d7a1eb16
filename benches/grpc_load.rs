//! gRPC load on `verdict serve --grpc-port`: single-row Open Inference Protocol `ModelInfer`
//! calls (one FP64 `[1, F]` tensor as `raw_input_contents`, as `tritonclient.grpc` sends numpy
//! arrays; `outputs: [predict]`) from N concurrent streams over one HTTP/2 connection, for a
//! fixed time per point. Prints requests per second, p50 and p99 per point as a Markdown table.
//!
//! ```sh
//! cargo build --profile dist -p verdict-cli
//! VERDICT_BIN=target/dist/verdict MODEL=examples/models/breast_cancer_xgb.json \
//!   cargo bench --no-default-features --features serve --bench grpc_load
//! ```
//!
//! Settings (environment): `VERDICT_BIN` (the server binary, required), `MODEL` (required),
//! `STREAMS` (default `1 8 64`), `DURATION` (seconds per point, default 10), `CONNECTIONS`
//! (HTTP/2 connections the streams share, default 1, as `ghz` does), `SERVE_ARGS` (more
//! `verdict serve` flags). The server runs with `RUST_LOG=warn` (no access log); the client
//! runs on one thread, so that the server keeps the other cores. Not a criterion bench: a
//! load run of fixed duration, like `benches/http_load.sh`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use verdict_serve::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use verdict_serve::grpc::proto::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use verdict_serve::grpc::proto::{ModelInferRequest, ModelMetadataRequest};

/// The server process, stopped (SIGTERM, then waited for) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Starts the server; it and its gRPC address.
fn start(bin: &str, model: &str) -> (Server, String) {
    let extra = env("SERVE_ARGS").unwrap_or_default();
    let mut child = Command::new(bin)
        .args(["serve", "--model", model, "--port", "0", "--grpc-port", "0"])
        .args(extra.split_whitespace())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let prefix = "verdict serving gRPC (inference.GRPCInferenceService) on ";
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server stopped before its gRPC address")
            .unwrap();
        if let Some(addr) = line.strip_prefix(prefix) {
            break addr.trim().to_owned();
        }
    };
    // The rest of stdout is read (and dropped) so that the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (server, addr)
}

/// One single-row request of `features` values, the same row each time.
fn request(model: &str, features: usize) -> ModelInferRequest {
    let raw: Vec<u8> = (0..features)
        .flat_map(|i| (0.37 * (i % 7) as f64 + 0.5).to_le_bytes())
        .collect();
    ModelInferRequest {
        model_name: model.to_owned(),
        inputs: vec![InferInputTensor {
            name: "input".to_owned(),
            datatype: "FP64".to_owned(),
            shape: vec![1, features as i64],
            ..InferInputTensor::default()
        }],
        outputs: vec![InferRequestedOutputTensor {
            name: "predict".to_owned(),
            ..InferRequestedOutputTensor::default()
        }],
        raw_input_contents: vec![raw.into()],
        ..ModelInferRequest::default()
    }
}

/// What one point measured.
struct Point {
    calls: usize,
    errors: usize,
    elapsed: Duration,
    /// Latencies of the successful calls, in nanoseconds, sorted.
    latencies: Vec<u64>,
}

impl Point {
    fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        Duration::from_nanos(self.latencies[at])
    }
}

/// `streams` tasks, each calling in a loop until `duration` has passed, over `clients`.
async fn run(
    clients: &[GrpcInferenceServiceClient<Channel>],
    request: &ModelInferRequest,
    streams: usize,
    duration: Duration,
) -> Point {
    let start = Instant::now();
    let end = start + duration;
    let tasks: Vec<_> = (0..streams)
        .map(|i| {
            let mut client = clients[i % clients.len()].clone();
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                while Instant::now() < end {
                    let sent = Instant::now();
                    match client.model_infer(request.clone()).await {
                        Ok(_) => latencies.push(sent.elapsed().as_nanos() as u64),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut point = Point {
        calls: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (latencies, errors) = task.await.expect("a load task panicked");
        point.calls += latencies.len() + errors;
        point.errors += errors;
        point.latencies.extend(latencies);
    }
    point.elapsed = start.elapsed();
    point.latencies.sort_unstable();
    point
}

fn micros(duration: Duration) -> String {
    let us = duration.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn main() {
    let (Some(bin), Some(model)) = (env("VERDICT_BIN"), env("MODEL")) else {
        eprintln!("grpc_load: set VERDICT_BIN (a verdict binary) and MODEL (a model file)");
        std::process::exit(2);
    };
    let streams: Vec<usize> = env("STREAMS")
        .unwrap_or_else(|| "1 8 64".to_owned())
        .split_whitespace()
        .map(|n| n.parse().expect("STREAMS: numbers"))
        .collect();
    let duration = Duration::from_secs_f64(
        env("DURATION").map_or(10.0, |d| d.parse().expect("DURATION: seconds")),
    );
    let connections: usize = env("CONNECTIONS").map_or(1, |n| n.parse().expect("CONNECTIONS"));

    let (_server, addr) = start(&bin, &model);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..connections.max(1) {
            // One Channel is one HTTP/2 connection; its clones share it.
            let channel = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .expect("cannot connect");
            clients.push(GrpcInferenceServiceClient::new(channel));
        }
        // The model's name and width, from the server itself.
        let name = std::path::Path::new(&model)
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.split('.').next())
            .unwrap()
            .to_owned();
        let metadata = clients[0]
            .clone()
            .model_metadata(ModelMetadataRequest {
                name: name.clone(),
                version: String::new(),
            })
            .await
            .expect("model metadata")
            .into_inner();
        assert!(
            metadata.inputs.len() == 1 && metadata.inputs[0].name == "input",
            "this client sends one all-numeric `input` tensor; {name} takes {:?}",
            metadata.inputs
        );
        let features = metadata.inputs[0]
            .shape
            .last()
            .copied()
            .expect("the input has a shape") as usize;
        let request = request(&name, features);
        // Every call must succeed before anything is timed.
        clients[0]
            .clone()
            .model_infer(request.clone())
            .await
            .expect("a first ModelInfer");
        run(&clients, &request, 8, Duration::from_secs(1)).await; // warm-up

        println!(
            "model {name}, {features} features, {} s per point, {} connection(s)\n",
            duration.as_secs_f64(),
            clients.len()
        );
        println!("| RPC | streams | req/s | p50 | p99 | errors |");
        println!("|---|---:|---:|---:|---:|---:|");
        for &n in &streams {
            let point = run(&clients, &request, n, duration).await;
            println!(
                "| ModelInfer | {n} | {:.0} | {} | {} | {} |",
                (point.calls - point.errors) as f64 / point.elapsed.as_secs_f64(),
                micros(point.quantile(0.50)),
                micros(point.quantile(0.99)),
                point.errors
            );
        }
    });
}
