//! `verdict predict`: score a file, a directory of files (local or in object storage), or a
//! SQLite or PostgreSQL table into a file, an object, or a SQLite or PostgreSQL table.

use std::fmt::Write;
use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use verdict_batch::postgres::{self, Database, PostgresInput};
use verdict_batch::{
    Cancel, CsvOptions, Event, Format, IfExists, Matching, Options, Passthrough, Scorer, Shard,
    Sink, Source, SqliteInput,
};
use verdict_model::{Output, SourceFormat};

/// Score every row of a dataset with a model and save the predictions.
///
/// The input is a CSV, Parquet, Arrow IPC or NDJSON file, a directory or glob of such files,
/// local or in object storage (s3://BUCKET/PREFIX/*.parquet, gs://, az://, https://), or a
/// table (--input-table) or query (--query) of a SQLite database or of PostgreSQL
/// (postgresql://USER@HOST:PORT/DB). The output is a CSV, Parquet, Arrow IPC or NDJSON file
/// or object (s3://BUCKET/KEY, gs://, az://), or a table of a SQLite database or of
/// PostgreSQL (--table, default `predictions`). Formats come from the extensions unless
/// --input-format / --output-format say them. Object storage credentials come from the
/// usual environment (AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL, ~/.aws/credentials,
/// GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_NAME, ...).
///
/// Features are matched by name, in any column order. Predictions are named `prediction`
/// (regression), `label` and `proba_<class>` (classification), `raw`/`raw_<k>` (margins).
/// The output appears only when the whole run succeeds.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  verdict predict --model model.json --input rows.csv --output scored.parquet --passthrough id
  verdict predict --model model.vdm --input 'data/*.parquet' --output out.sqlite --table scores --if-exists replace
  verdict predict --model model.vdm --input app.db --query 'SELECT * FROM users ORDER BY id' --output users.csv
  verdict predict --model model.vdm --input data/ --output part-3.parquet --shard 3/8
  verdict predict --model model.vdm --input 's3://lake/events/*.parquet' --output s3://lake/scores/today.parquet
  verdict predict --model model.vdm --input postgresql://scorer@db/warehouse --input-table users \\
      --passthrough id --output postgresql://scorer@db/warehouse --table user_scores --if-exists replace")]
pub(crate) struct Args {
    /// The model: a Verdict model, an XGBoost JSON/UBJSON model, a LightGBM text model or a
    /// scikit-learn export.
    #[arg(long, short)]
    model: PathBuf,
    /// The model's format, when detection is not wanted.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_source_format)]
    from: Option<SourceFormat>,
    /// The rows to score: a file, a directory, a glob (quoted), an object storage URL
    /// (s3://, gs://, az://, https://; a key, a prefix or a glob), a SQLite database or a
    /// PostgreSQL URL (the password from the URL, PGPASSWORD or ~/.pgpass; TLS per sslmode).
    #[arg(long, short)]
    input: PathBuf,
    /// Where the predictions go: a file, an object (s3://BUCKET/KEY, gs://, az://), a SQLite
    /// database or a PostgreSQL URL (with --table).
    #[arg(long, short)]
    output: PathBuf,
    /// Input columns to copy into the output, before the predictions (repeat, or separate
    /// with commas); `*` copies every column.
    #[arg(long, short, value_name = "COLUMN", value_delimiter = ',')]
    passthrough: Vec<String>,
    /// The outputs to write: predict, predict_proba, raw (default: predict, plus
    /// predict_proba for classifiers).
    #[arg(long, value_name = "OUTPUTS", value_delimiter = ',')]
    outputs: Vec<Output>,
    /// A prefix for the prediction columns, to keep them apart from input columns.
    #[arg(long)]
    prefix: Option<String>,
    /// Threads that read and score (default: every core).
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,
    /// Rows read, scored and written at a time; memory grows with it.
    #[arg(long, value_name = "N", default_value_t = NonZeroUsize::new(verdict_batch::score::DEFAULT_CHUNK_ROWS).unwrap_or(NonZeroUsize::MIN))]
    chunk_rows: NonZeroUsize,
    /// Score only part I of N of the input (I counts from 0): whole files (Parquet: row
    /// groups) of many-file input, ranges of pages of a PostgreSQL table, row ranges
    /// otherwise.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Choose a PostgreSQL input's shard by the hash of this column instead (a query needs
    /// one).
    #[arg(long, value_name = "COLUMN", requires = "shard")]
    shard_key: Option<String>,
    /// Fail on a missing feature value or an unknown category instead of scoring it (as
    /// missing, or as the model's unknown category).
    #[arg(long)]
    strict: bool,
    /// The input's format: csv, parquet, ipc, ndjson or sqlite.
    #[arg(long, value_name = "FORMAT")]
    input_format: Option<Format>,
    /// The output's format: csv, parquet, ipc, ndjson or sqlite.
    #[arg(long, value_name = "FORMAT")]
    output_format: Option<Format>,
    /// The table to read, when the input is a SQLite database or PostgreSQL (`schema.table`).
    #[arg(long, value_name = "TABLE", conflicts_with = "query")]
    input_table: Option<String>,
    /// The SQL query to read, when the input is a SQLite database or PostgreSQL.
    #[arg(long, value_name = "SQL")]
    query: Option<String>,
    /// The table to write, when the output is a SQLite database or PostgreSQL.
    #[arg(long, value_name = "TABLE")]
    table: Option<String>,
    /// What to do when the output file or table exists.
    #[arg(long, value_name = "MODE", default_value = "fail", value_parser = ["fail", "append", "replace"])]
    if_exists: String,
    /// The CSV input's field separator (default `,`, or a tab for .tsv).
    #[arg(long, value_name = "CHAR")]
    delimiter: Option<char>,
    /// The CSV input has no header line; columns are then named column_1, column_2, ...
    #[arg(long)]
    no_header: bool,
    /// A CSV field value that means "missing" (repeatable); the empty field always does.
    #[arg(long, value_name = "TEXT")]
    null_value: Vec<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        // Polars sizes its thread pool from this variable the first time it is used, which
        // is below; scoring then runs on that same pool.
        // SAFETY: the process is still single-threaded: nothing has started a thread yet.
        unsafe { std::env::set_var("POLARS_MAX_THREADS", threads.to_string()) };
    }
    let model = verdict_model::load(&args.model, args.from)
        .with_context(|| format!("cannot load {}", args.model.display()))?
        .model;

    let source = source(&args)?;
    let sink = sink(&args)?;
    let passthrough = match args.passthrough.as_slice() {
        [] => Passthrough::None,
        columns if columns.iter().any(|c| c == "*") => Passthrough::All,
        columns => Passthrough::Columns(columns.to_vec()),
    };
    let interactive = std::io::stderr().is_terminal();
    let options = Options {
        outputs: args.outputs.clone(),
        passthrough,
        prefix: args.prefix.clone().unwrap_or_default(),
        strict: args.strict,
        chunk_rows: args.chunk_rows,
        threads: args.threads,
        count_rows: interactive,
        cancel: Cancel::default(),
    };
    let signal = stop_on_signals(&options.cancel)?;
    let scorer = Scorer::new(Arc::new(model), options)?;

    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    if interactive {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    let mut events = |event: Event| match event {
        Event::Matched(Matching::ByPosition { columns }) => bar.suspend(|| {
            eprintln!(
                "verdict: warning: the model has no feature names, so its features are matched \
                 by position to the input columns {}",
                columns.join(", ")
            );
        }),
        Event::Started { total_rows } => {
            let template = match total_rows {
                Some(total) => {
                    bar.set_length(total);
                    "{bar:30} {human_pos}/{human_len} rows  {rate}  ETA {eta}"
                }
                None => "{spinner} {human_pos} rows  {rate}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn Write| {
                        let _ = write!(w, "{:.0} rows/s", state.per_sec());
                    },
                ));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Event::Progress { rows } => bar.set_position(rows),
        _ => {}
    };
    let result = scorer.run(source, &sink, &mut events);
    bar.finish_and_clear();
    let summary = match result {
        Err(verdict_batch::Error::Cancelled { rows }) => {
            return Err(Interrupted {
                signal: signal.load(Ordering::SeqCst) as i32,
                rows,
            }
            .into());
        }
        other => other?,
    };
    println!(
        "scored {} rows in {:.2} s ({:.0} rows/s) into {}",
        summary.rows,
        summary.elapsed.as_secs_f64(),
        summary.rows_per_second(),
        summary.output
    );
    Ok(())
}

/// The run was stopped by a signal; `main` exits with 128 + its number, as a shell does.
#[derive(Debug, thiserror::Error)]
#[error("stopped by signal {signal} after {rows} rows; no output was written")]
pub(crate) struct Interrupted {
    /// The signal's number.
    pub(crate) signal: i32,
    rows: u64,
}

/// SIGTERM and SIGINT cancel the run, which then removes its partial output; a second one
/// ends the process at once. Returns the number of the signal that came.
fn stop_on_signals(cancel: &Cancel) -> anyhow::Result<Arc<AtomicUsize>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let received = Arc::new(AtomicUsize::new(0));
    for signal in [SIGTERM, SIGINT] {
        // Registered first, so it sees the flag still unset on the first signal.
        signal_hook::flag::register_conditional_default(signal, cancel.flag())
            .and_then(|_| signal_hook::flag::register(signal, cancel.flag()))
            .and_then(|_| {
                signal_hook::flag::register_usize(signal, Arc::clone(&received), signal as usize)
            })
            .context("cannot install the signal handlers")?;
    }
    Ok(received)
}

/// The input or output as a PostgreSQL URL, if it is one.
fn postgres_url(path: &std::path::Path) -> Option<&str> {
    path.to_str().filter(|s| postgres::is_url(s))
}

/// Whether the input or output is a URL other than PostgreSQL's: object storage (or a
/// scheme that the batch library refuses by name).
fn object_url(path: &std::path::Path) -> bool {
    path.to_str()
        .is_some_and(|s| verdict_batch::cloud::is_url(s) && !postgres::is_url(s))
}

fn source(args: &Args) -> anyhow::Result<Source> {
    let format = args.input_format.or_else(|| Format::from_path(&args.input));
    if args.shard_key.is_some() && postgres_url(&args.input).is_none() {
        anyhow::bail!("--shard-key splits PostgreSQL input; other input is split by --shard alone");
    }
    let mut source = if let Some(url) = postgres_url(&args.input) {
        let what = match (&args.input_table, &args.query) {
            (Some(table), _) => PostgresInput::Table(table.clone()),
            (None, Some(query)) => PostgresInput::Query(query.clone()),
            (None, None) => anyhow::bail!(
                "name the PostgreSQL rows to score with --input-table TABLE or --query SQL"
            ),
        };
        let source = Source::postgres(Database::parse(url)?, what);
        match &args.shard_key {
            Some(key) => source.with_shard_key(key),
            None => source,
        }
    } else if format == Some(Format::Sqlite) && !object_url(&args.input) {
        let what = match (&args.input_table, &args.query) {
            (Some(table), _) => SqliteInput::Table(table.clone()),
            (None, Some(query)) => SqliteInput::Query(query.clone()),
            (None, None) => anyhow::bail!(
                "{} is a SQLite database: name the rows to score with --input-table TABLE or --query SQL",
                args.input.display()
            ),
        };
        Source::sqlite(&args.input, what)
    } else {
        if args.input_table.is_some() || args.query.is_some() {
            anyhow::bail!(
                "--input-table and --query read SQLite databases and PostgreSQL, and {} is neither (use --input-format sqlite if it is a SQLite database)",
                args.input.display()
            );
        }
        let mut csv = CsvOptions {
            has_header: !args.no_header,
            null_values: args.null_value.clone(),
            ..CsvOptions::default()
        };
        let source = Source::path(&args.input, args.input_format)?;
        if let Some(delimiter) = args.delimiter {
            csv.delimiter = u8::try_from(delimiter)
                .ok()
                .filter(u8::is_ascii)
                .with_context(|| {
                    format!("the delimiter `{delimiter}` is not one ASCII character")
                })?;
        } else if args
            .input
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
        {
            csv.delimiter = b'\t';
        }
        source.with_csv(csv)
    };
    if let Some(shard) = &args.shard {
        source = source.with_shard(shard.parse::<Shard>()?);
    }
    Ok(source)
}

fn sink(args: &Args) -> anyhow::Result<Sink> {
    let if_exists: IfExists = args.if_exists.parse().map_err(anyhow::Error::msg)?;
    let format = args
        .output_format
        .or_else(|| Format::from_path(&args.output));
    if let Some(url) = postgres_url(&args.output) {
        let table = args
            .table
            .as_deref()
            .unwrap_or(verdict_batch::sink::DEFAULT_TABLE);
        return Ok(Sink::postgres(Database::parse(url)?, table).with_if_exists(if_exists));
    }
    if object_url(&args.output) {
        if args.table.is_some() {
            anyhow::bail!(
                "--table names the table of a SQLite or PostgreSQL output, and {} is an object",
                args.output.display()
            );
        }
        return Ok(Sink::path(&args.output, format)?.with_if_exists(if_exists));
    }
    let sink = match (format, &args.table) {
        (Some(Format::Sqlite), Some(table)) => Sink::sqlite(&args.output, table),
        (_, Some(_)) => anyhow::bail!(
            "--table names the table of a SQLite or PostgreSQL output, and {} is neither \
             (.sqlite, .sqlite3, .db, --output-format sqlite, or postgresql://...)",
            args.output.display()
        ),
        (format, None) => Sink::path(&args.output, format)?,
    };
    Ok(sink.with_if_exists(if_exists))
}
