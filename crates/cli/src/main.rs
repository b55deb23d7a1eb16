//! `verdict`: convert, inspect, predict with and serve trained models.
//!
//! The binary is thin glue over the library crates: it parses arguments, calls one library
//! function per command, and owns the exit codes. Only `main` turns an error into an exit code.

mod cmd;
mod config;
mod npy;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Run trained scikit-learn, XGBoost and LightGBM models: batch scoring and HTTP serving from
/// one safe model format.
#[derive(Debug, Parser)]
#[command(name = "verdict", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per run; without `predict` (feature `batch`) `serve` is the large one"
)]
enum Command {
    Inspect(cmd::inspect::Args),
    Convert(cmd::convert::Args),
    Serve(cmd::serve::Args),
    #[cfg(feature = "batch")]
    Predict(cmd::predict::Args),
    Bench(cmd::bench::Args),
}

fn main() -> ExitCode {
    let cli = match arguments(std::env::args_os().collect()) {
        Ok(Arguments::Run(cli)) => *cli,
        Ok(Arguments::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(ArgumentsError::Flags(error)) => error.exit(),
        // A bad config file is the same mistake as a bad flag, and exits as clap does.
        Err(ArgumentsError::Config(error)) => {
            eprintln!("verdict: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        #[cfg(feature = "batch")]
        Command::Predict(args) => cmd::predict::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("verdict: {}", message(&error));
            #[cfg(feature = "batch")]
            if let Some(interrupted) = error.downcast_ref::<cmd::predict::Interrupted>() {
                return ExitCode::from((128 + interrupted.signal).clamp(0, 255) as u8);
            }
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
enum Arguments {
    /// Run a command (boxed: the arguments of every command are large beside a string).
    Run(Box<Cli>),
    /// Print this text and stop (`verdict serve --print-config`).
    Print(String),
}

/// Why the command line cannot be used.
enum ArgumentsError {
    /// A flag clap refuses, or `--help` or `--version` (which clap prints and exits on).
    Flags(clap::Error),
    /// A config file that cannot be used.
    Config(config::ConfigError),
}

impl From<clap::Error> for ArgumentsError {
    fn from(error: clap::Error) -> Self {
        Self::Flags(error)
    }
}

/// Parses the command line; with `verdict serve --config FILE`, the file's flags go before
/// the command line's (which replace them) and the whole is parsed again.
fn arguments(argv: Vec<OsString>) -> Result<Arguments, ArgumentsError> {
    let command = Cli::command();
    // A first look, only for `--config` and which flags the command line sets: its checks
    // (`--log-sample` needs `--log-requests`) wait until the file's flags have joined.
    let first = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&argv)?;
    let config = match first.subcommand() {
        Some(("serve", serve)) => serve
            .get_one::<PathBuf>(config::CONFIG_FLAG)
            .map(|path| (path.clone(), serve)),
        _ => None,
    };
    let serve_command = command
        .find_subcommand("serve")
        .expect("`serve` is a subcommand");
    let matches = match config {
        None => command.clone().try_get_matches_from(&argv)?,
        Some((path, given)) => {
            let file = config::file_arguments(&path, serve_command, given)
                .map_err(ArgumentsError::Config)?;
            // `verdict` takes no options before its subcommand but --help and --version,
            // which stop at the first look: `serve` is the first argument.
            let merged: Vec<OsString> = argv[..2]
                .iter()
                .cloned()
                .chain(file)
                .chain(argv[2..].iter().cloned())
                .collect();
            command
                .clone()
                .try_get_matches_from(merged)
                .map_err(|error| match error.kind() {
                    // The file and the command line each pass alone but not together.
                    ErrorKind::MissingRequiredArgument | ErrorKind::ArgumentConflict => {
                        ArgumentsError::Config(config::ConfigError::Together {
                            path: path.clone(),
                            message: config::clap_message(&error),
                        })
                    }
                    _ => ArgumentsError::Flags(error),
                })?
        }
    };
    if let Some(("serve", serve)) = matches.subcommand()
        && serve.get_flag("print_config")
    {
        return Ok(Arguments::Print(config::render(serve_command, serve)));
    }
    Ok(Arguments::Run(Box::new(Cli::from_arg_matches(&matches)?)))
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
