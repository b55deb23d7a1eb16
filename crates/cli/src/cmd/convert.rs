//! `verdict convert`: any supported model file to a Verdict model file.

use std::path::PathBuf;

use anyhow::Context;
use verdict_model::{Codec, SourceFormat};

/// Convert a model to a Verdict model file (.vdm), or between the binary and JSON codecs.
///
/// The input may be a Verdict model, an XGBoost JSON/UBJSON model, a LightGBM text model or a
/// scikit-learn export from `verdict-export`; its format is detected unless --from says it.
/// The output is JSON when its name ends in .json (for reading and diffs), and bincode
/// otherwise (compact and fast to load).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  verdict convert model.json model.vdm\n  verdict convert model.vdm model.vdm.json"
)]
pub(crate) struct Args {
    /// The model to read.
    input: PathBuf,
    /// The Verdict model file to write.
    output: PathBuf,
    /// The input's format, when detection is not wanted.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_source_format)]
    from: Option<SourceFormat>,
    /// The model's name in the file (default: the input's file stem).
    #[arg(long)]
    name: Option<String>,
    /// A description to store in the file.
    #[arg(long)]
    description: Option<String>,
    /// The payload codec (default: json for .json outputs, bincode otherwise).
    #[arg(long, value_parser = ["bincode", "json"])]
    codec: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let mut file = verdict_model::load(&args.input, args.from)
        .with_context(|| format!("cannot load {}", args.input.display()))?;
    if let Some(name) = args.name {
        file.info.name = name;
    }
    if let Some(description) = args.description {
        file.info.description = description;
    }
    let codec = match args.codec.as_deref() {
        Some(name) => Codec::from_name(name).context("unknown codec")?,
        None => Codec::for_path(&args.output),
    };
    file.save(&args.output, codec)
        .with_context(|| format!("cannot save {}", args.output.display()))?;
    println!(
        "wrote {} ({} codec, model `{}`)",
        args.output.display(),
        codec.name(),
        file.info.name
    );
    Ok(())
}
