//! `verdict`: convert, inspect, predict with and serve trained models.
//!
//! The binary is thin glue over the library crates: it parses arguments, calls one library
//! function per command, and owns the exit codes. Only `main` turns an error into an exit code.

mod cmd;
mod npy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run trained scikit-learn, XGBoost and LightGBM models: batch scoring and HTTP serving from
/// one safe model format.
#[derive(Debug, Parser)]
#[command(name = "verdict", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Inspect(cmd::inspect::Args),
    Convert(cmd::convert::Args),
    Serve(cmd::serve::Args),
    Predict(cmd::predict::Args),
    Bench(cmd::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Predict(args) => cmd::predict::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("verdict: {}", message(&error));
            match error.downcast_ref::<cmd::predict::Interrupted>() {
                Some(interrupted) => ExitCode::from((128 + interrupted.signal).clamp(0, 255) as u8),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// The error and its causes, `: `-separated, leaving out a cause whose text the message
/// already holds: the library errors name their cause in their own text (`cannot read F:
/// No such file or directory`) and also return it as their `source`.
fn message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}
