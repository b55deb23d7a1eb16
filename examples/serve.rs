//! The standalone inference server: serve every model in a directory (or the files given),
//! with hot reload, graceful shutdown and all three protocols.
//!
//! Run: `cargo run --release --example serve -- examples/models`
//! then: `curl -s localhost:8080/` (the model list) or `curl -s localhost:8080/v2/models/NAME`.

use std::path::PathBuf;
use std::sync::Arc;

use verdict::serve::{Repository, Server, ServerConfig, Source};

fn main() -> std::io::Result<()> {
    // Access logs and reloads are reported through `tracing`; RUST_LOG=warn quiets them.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    // A directory is a model repository (NAME.ext files and NAME/<version>/ directories);
    // anything else is one model file, named after its stem.
    let mut paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        paths.push("examples/models".into());
    }
    let sources = paths
        .into_iter()
        .map(|p| {
            if p.is_dir() {
                Source::Dir(p)
            } else {
                Source::File(p)
            }
        })
        .collect();
    let repository = Arc::new(Repository::open(sources)?);

    actix_web::rt::System::new().block_on(async move {
        // Port 8080 on 127.0.0.1, files polled every second, 64 MiB bodies, 30 s timeout.
        let server = Server::bind(Arc::clone(&repository), ServerConfig::default())?;
        println!("serving on http://{}/", server.addrs()[0]);
        for model in repository.models() {
            let state = if model.is_ready() {
                "ready"
            } else {
                "not serving"
            };
            println!("  {} ({state})", model.name);
        }
        // Runs until SIGTERM or SIGINT, then lets running requests finish.
        server.run().await
    })
}
