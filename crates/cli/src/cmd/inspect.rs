//! `verdict inspect`: a model card.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use verdict_model::{FeatureKind, Model, ModelFile, SourceFormat};

/// Show a model card: family, task, features, outputs, sizes, the engine that scores it and
/// provenance.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The model: a Verdict model, an XGBoost JSON/UBJSON model, a LightGBM text model or a
    /// scikit-learn export.
    model: PathBuf,
    /// The model's format, when detection is not wanted.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_source_format)]
    from: Option<SourceFormat>,
    /// Print the metadata and signature as JSON instead.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let file = verdict_model::load(&args.model, args.from)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    if args.json {
        let card = serde_json::json!({
            "info": file.info,
            "family": file.model.family().name(),
            "engine": file.model.engine().to_string(),
            "signature": file.model.signature(),
        });
        println!("{}", serde_json::to_string_pretty(&card)?);
    } else {
        print!("{}", card(&file));
    }
    Ok(())
}

/// The model card as text.
fn card(file: &ModelFile) -> String {
    let signature = file.model.signature();
    let summary = file.model.family().summary();
    let info = &file.info;
    let mut out = String::new();
    let _ = writeln!(out, "name         {}", info.name);
    if !info.description.is_empty() {
        let _ = writeln!(out, "description  {}", info.description);
    }
    let _ = writeln!(out, "version      {}", info.version);
    let _ = writeln!(
        out,
        "source       {} {}",
        info.source.library, info.source.library_version
    );
    if !info.created.is_empty() {
        let _ = writeln!(out, "created      {}", info.created);
    }
    let _ = writeln!(out, "family       {}", file.model.family().name());
    let _ = write!(out, "task         {}", signature.task.name());
    if let Some(classes) = signature.classes() {
        let names: Vec<String> = classes.iter().map(ToString::to_string).collect();
        let _ = write!(out, " (classes: {})", names.join(", "));
    }
    out.push('\n');
    let mut sizes = Vec::new();
    for (count, what) in [
        (summary.steps, "preprocessing steps"),
        (summary.trees, "trees"),
        (summary.nodes, "nodes"),
        (summary.leaves, "leaves"),
        (summary.coefficients, "coefficients"),
    ] {
        if count > 0 {
            sizes.push(format!("{count} {what}"));
        }
    }
    if summary.trees > 0 {
        sizes.push(format!("max depth {}", summary.max_depth));
    }
    let _ = writeln!(out, "size         {}", sizes.join(", "));
    let _ = writeln!(out, "engine       {}", file.model.engine());
    let _ = writeln!(out, "outputs");
    for output in signature.outputs() {
        let _ = writeln!(
            out,
            "  {:<14} {}",
            output.name(),
            signature.output_columns(output).join(", ")
        );
    }
    let matched = if signature.positional {
        "matched by position: the source model has no feature names"
    } else {
        "matched by name"
    };
    let _ = writeln!(out, "features     {} ({matched})", signature.num_features());
    for (i, feature) in signature.features.iter().enumerate() {
        let kind = match &feature.kind {
            FeatureKind::Numeric => "numeric".to_owned(),
            FeatureKind::Unused => "unused: any value, never read".to_owned(),
            FeatureKind::HashedCategory => {
                "categorical (CatBoost: any text, or integers)".to_owned()
            }
            FeatureKind::Categorical { categories } if categories.is_empty() => {
                "categorical (codes)".to_owned()
            }
            FeatureKind::Categorical { categories } => {
                let shown: Vec<&str> = categories.iter().take(8).map(String::as_str).collect();
                let more = categories.len().saturating_sub(shown.len());
                let tail = if more > 0 {
                    format!(", ... {more} more")
                } else {
                    String::new()
                };
                format!("categorical: {}{tail}", shown.join(", "))
            }
        };
        let _ = writeln!(out, "  {i:>4}  {:<28} {kind}", feature.name);
    }
    out
}
