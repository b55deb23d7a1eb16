//! `verdict serve`: the HTTP (and gRPC) inference server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use verdict_serve::{
    BatchConfig, Options, Repository, RequestLogConfig, Server, ServerConfig, Source,
};

/// Serve models over HTTP: POST /predict, the Open Inference Protocol v2 (/v2, as KServe and
/// Triton speak it) and MLflow's /invocations; and over gRPC with --grpc-port.
///
/// Model files are watched: a changed file is loaded and swapped in without dropping a
/// request, and a file that fails to load leaves the previous model serving. SIGHUP reloads
/// every file; SIGTERM and SIGINT finish running requests, then stop. Logs go to stderr;
/// set RUST_LOG (for example RUST_LOG=warn) to change how much.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  verdict serve --model iris.vdm\n  verdict serve --model-dir models/ --port 9000 --token \"$SECRET\"\n  verdict serve --config verdict.toml --port 9000\n  curl -s localhost:8080/predict -d '{\"input\": [5.1, 3.5, 1.4, 0.2]}'"
)]
pub(crate) struct Args {
    /// A TOML file of these flags, keyed by their names without the dashes (`grpc-port =
    /// 8081`, `model-dir = ["models"]`); relative paths in it are from its directory. Flags on
    /// the command line and their environment variables replace the file's values.
    #[arg(long, value_name = "FILE", env = "VERDICT_CONFIG")]
    config: Option<PathBuf>,
    /// Print the settings in effect (command line, environment, config file and defaults) in
    /// the config file's format, and stop without serving.
    #[arg(long)]
    print_config: bool,
    /// A model file to serve (any supported format); its file stem names it. Repeatable.
    /// --model or --model-dir is required.
    #[arg(long = "model", value_name = "FILE")]
    models: Vec<PathBuf>,
    /// A directory of models: `NAME.ext` files, and `NAME/<version>/` directories.
    #[arg(long, value_name = "DIR")]
    model_dir: Vec<PathBuf>,
    /// Write one NDJSON line per prediction request (time, route, model, version, rows,
    /// latency, status) to this file, appended to, or to stdout with `-`. Written off the
    /// request path; lines that cannot keep up are dropped and counted in the metrics.
    #[arg(long, value_name = "PATH|-")]
    log_requests: Option<PathBuf>,
    /// The fraction of request-log lines, from 0 to 1, that also carry the request's inputs
    /// and outputs.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.0,
        requires = "log_requests"
    )]
    log_sample: f64,
    /// How the server's own log lines on stderr are written: `text` for a person, `json` for a
    /// log collector (one JSON object per line: timestamp, level, target and the event's
    /// fields at the top level).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Also serve the Open Inference Protocol over gRPC (as tritonclient.grpc and KServe
    /// speak it) on this port, on the same host (0 picks a free one). Off by default.
    #[arg(long, value_name = "PORT")]
    grpc_port: Option<u16>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// A bearer token every route but the health checks requires. It shows in `ps`: prefer
    /// --token-file or VERDICT_TOKEN.
    #[arg(long, env = "VERDICT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the bearer token (its surrounding whitespace is ignored).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// A web page origin (`https://app.example`, or `*` for any) whose pages may call the
    /// inference routes through CORS. Repeatable. Default: none.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// A web page origin besides the server's own whose pages may call the repository
    /// routes (load, unload, index). Repeatable. Default: none.
    #[arg(long = "admin-origin", value_name = "ORIGIN")]
    admin_origins: Vec<String>,
    /// The largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    max_body: usize,
    /// The most rows in one request.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_rows: usize,
    /// The most bytes of request bodies held at once; requests past it get 503 with
    /// Retry-After.
    #[arg(long, value_name = "BYTES", default_value_t = Options::default().max_inflight_bytes)]
    max_inflight_bytes: usize,
    /// The most requests of 1 MiB or more read and decoded at once (default: one per core);
    /// more get 503 with Retry-After.
    #[arg(long, value_name = "N")]
    max_large_requests: Option<usize>,
    /// The longest a request may take, in milliseconds (0: no limit).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    timeout_ms: u64,
    /// On SIGTERM or SIGINT, how long to keep accepting while every answer closes its
    /// connection and readiness is off, before stopping, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    drain_ms: u64,
    /// How often to check model files for changes, in milliseconds (0: only on SIGHUP).
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    poll_ms: u64,
    /// Requests with at least this many rows predict on a blocking thread pool instead of the
    /// event loop.
    #[arg(long, value_name = "N", default_value_t = 64)]
    offload_rows: usize,
    /// The model that routes without a model name use, when several are served.
    #[arg(long, value_name = "NAME")]
    default_model: Option<String>,
    /// Coalesce concurrent small requests for the same model into one prediction (dynamic
    /// batching). Off by default: it adds a thread hop and up to --batch-delay-us of waiting
    /// to every request, which only pays when the model's per-call cost dominates.
    #[arg(long)]
    batch: bool,
    /// The most rows in one batch; larger requests predict alone.
    #[arg(long, value_name = "N", default_value_t = BatchConfig::default().max_batch_rows)]
    batch_max_rows: usize,
    /// How long a batch waits for more requests after its first, in microseconds.
    #[arg(long, value_name = "US", default_value_t = BatchConfig::default().max_delay_us)]
    batch_delay_us: u64,
    /// The most rows waiting for a batch; requests over it are answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = BatchConfig::default().max_queue_rows)]
    queue_max_rows: usize,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    // Checked here rather than by clap: the models may come from the config file.
    anyhow::ensure!(
        !args.models.is_empty() || !args.model_dir.is_empty(),
        "no models: pass --model FILE or --model-dir DIR (or set `model` or `model-dir` in the --config file)"
    );
    if !(0.0..=1.0).contains(&args.log_sample) {
        anyhow::bail!(
            "--log-sample is a fraction from 0 to 1, got {}",
            args.log_sample
        );
    }
    init_logging(args.log_format);
    let token = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?;
            let token = text.trim();
            anyhow::ensure!(
                !token.is_empty(),
                "the token file {} is empty",
                path.display()
            );
            Some(token.to_owned())
        }
        None => args.token.filter(|t| !t.is_empty()),
    };
    if let Some(warning) = exposure_warning(&args.host, token.is_some()) {
        eprintln!("verdict: warning: {warning}");
    }
    let sources: Vec<Source> = args
        .models
        .into_iter()
        .map(Source::File)
        .chain(args.model_dir.into_iter().map(Source::Dir))
        .collect();
    let repository = Arc::new(Repository::open(sources).context("cannot open the models")?);
    let defaults = Options::default();
    let config = ServerConfig {
        host: args.host,
        port: args.port,
        grpc_port: args.grpc_port,
        workers: args.workers,
        options: Options {
            max_body: args.max_body,
            max_rows: args.max_rows,
            max_inflight_bytes: args.max_inflight_bytes,
            max_large_requests: args
                .max_large_requests
                .unwrap_or(defaults.max_large_requests),
            large_request_bytes: defaults.large_request_bytes,
            timeout: (args.timeout_ms > 0).then(|| Duration::from_millis(args.timeout_ms)),
            token,
            default_model: args.default_model,
            offload_rows: args.offload_rows.max(1),
            batch: BatchConfig {
                enabled: args.batch,
                max_batch_rows: args.batch_max_rows.max(1),
                max_delay_us: args.batch_delay_us,
                max_queue_rows: args.queue_max_rows,
            },
            admin_origins: args.admin_origins,
            cors_origins: args.cors_origins,
        },
        request_log: args.log_requests.map(|path| RequestLogConfig {
            path: (path.as_os_str() != "-").then_some(path),
            sample: args.log_sample,
        }),
        poll_interval: (args.poll_ms > 0).then(|| Duration::from_millis(args.poll_ms)),
        drain: Duration::from_millis(args.drain_ms),
        ..ServerConfig::default()
    };
    let protected = config.options.token.is_some();
    actix_web::rt::System::new().block_on(async move {
        let server = Server::bind(Arc::clone(&repository), config).context("cannot listen")?;
        for addr in server.addrs() {
            println!("verdict serving on http://{addr}/");
        }
        if let Some(addr) = server.grpc_addr() {
            println!("verdict serving gRPC (inference.GRPCInferenceService) on {addr}");
        }
        if protected {
            println!("every route but the health checks needs `Authorization: Bearer <token>`");
        }
        print_models(&repository);
        server.run().await.context("the server failed")
    })
}

/// The warning for a server reachable from other machines without a token, where anyone
/// who can connect may predict and load or unload models.
fn exposure_warning(host: &str, protected: bool) -> Option<String> {
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback && !protected).then(|| {
        format!(
            "--host {host} accepts connections from other machines, and no token is set: anyone who can reach this port can predict and load or unload models; pass --token-file"
        )
    })
}

/// One line per model version: what it is, or why it is not serving.
fn print_models(repository: &Repository) {
    let models = repository.models();
    if models.is_empty() {
        println!("no models found yet; files added to the model directories will be loaded");
    }
    for model in models {
        for version in &model.versions {
            match (&version.model, &version.error) {
                (Some(served), _) => {
                    let signature = served.model.signature();
                    println!(
                        "  {} v{}: {} {}, {} features ({})",
                        model.name,
                        version.version,
                        signature.task.name(),
                        served.family,
                        signature.num_features(),
                        served
                            .path
                            .as_ref()
                            .map_or_else(String::new, |p| p.display().to_string())
                    );
                }
                (None, error) => println!(
                    "  {} v{}: NOT SERVING: {}",
                    model.name,
                    version.version,
                    error.as_deref().unwrap_or("not loaded")
                ),
            }
        }
    }
}

/// The shape of the server's log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, as log collectors (Fluent Bit, Vector, Loki, Cloud Logging)
    /// parse without a custom pattern.
    Json,
}

/// Logs to stderr, `info` and up unless RUST_LOG says otherwise.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // Colour codes only for a person at a terminal: a log file or a collector gets plain
        // text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // The event's fields at the top level (`"status":200`, not `"fields":{"status":200}`),
        // so a collector indexes them without a remapping rule; the server logs no spans.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exposed_servers_without_a_token_are_warned_about() {
        let warning = exposure_warning("0.0.0.0", false).unwrap();
        assert!(warning.contains("--host 0.0.0.0"), "{warning}");
        assert!(exposure_warning("::", false).is_some());
        assert!(exposure_warning("10.1.2.3", false).is_some());
        assert!(exposure_warning("0.0.0.0", true).is_none());
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            assert!(exposure_warning(host, false).is_none(), "{host}");
        }
    }
}
