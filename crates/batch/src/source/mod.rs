//! Where rows come from: files (CSV, Parquet, Arrow IPC, NDJSON; one, a directory or a glob),
//! a SQLite or PostgreSQL table or query, or a polars frame.
//!
//! A [`Source`] says what to read. [`Source::open`] plans the read (the files, the shard, the
//! types a CSV reader must use for the model's features) and gives a [`Reader`], which hands
//! out chunks of at most `chunk_rows` rows, one at a time, each with the [`Origin`] of its
//! rows. Files and queries are read by a producer thread that stays at most one chunk ahead
//! of the consumer (a rendezvous channel of one slot), so memory depends on the chunk size,
//! not on the input's.
//!
//! Files are read one after the other, so that an error can name its file and row: CSV in
//! blocks of whole records parsed by polars (see `csv.rs` for why not polars' own scan), the
//! other formats by polars' streaming engine ([`LazyFrame::sink_batches`]).

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use polars::prelude::*;
use rusqlite::types::ValueRef;

use crate::error::{Error, Location, Result};
use crate::frame::Origin;
use crate::postgres::{Database, PostgresInput, PostgresRead};

mod csv;
mod ndjson;
mod records;

#[cfg(feature = "fuzzing")]
pub(crate) use csv::fuzzing::parse_block as fuzz_csv_block;

/// A data format Verdict reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma- (or otherwise) separated values.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// The Arrow IPC file format (Feather v2).
    Ipc,
    /// Newline-delimited JSON, one object per line.
    Ndjson,
    /// A SQLite database: a table or a query.
    Sqlite,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Csv,
        Format::Parquet,
        Format::Ipc,
        Format::Ndjson,
        Format::Sqlite,
    ];

    /// The name used on the command line: `csv`, `parquet`, `ipc`, `ndjson` or `sqlite`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Ipc => "ipc",
            Format::Ndjson => "ndjson",
            Format::Sqlite => "sqlite",
        }
    }

    /// The format a file name's extension says, if any: `.csv` `.tsv` `.txt`, `.parquet`
    /// `.pq`, `.arrow` `.ipc` `.feather`, `.ndjson` `.jsonl`, `.sqlite` `.sqlite3` `.db`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match extension.as_str() {
            "csv" | "tsv" | "txt" => Format::Csv,
            "parquet" | "pq" => Format::Parquet,
            "arrow" | "ipc" | "feather" => Format::Ipc,
            "ndjson" | "jsonl" => Format::Ndjson,
            "sqlite" | "sqlite3" | "db" => Format::Sqlite,
            _ => return None,
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csv" | "tsv" => Ok(Format::Csv),
            "parquet" | "pq" => Ok(Format::Parquet),
            "ipc" | "arrow" | "feather" => Ok(Format::Ipc),
            "ndjson" | "jsonl" | "json-lines" => Ok(Format::Ndjson),
            "sqlite" | "sqlite3" => Ok(Format::Sqlite),
            other => Err(format!(
                "unknown format `{other}` (expected csv, parquet, ipc, ndjson or sqlite)"
            )),
        }
    }
}

/// How to parse CSV input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// The field separator (default `,`; a `.tsv` file defaults to a tab).
    pub delimiter: u8,
    /// Whether the first line names the columns (default true). Without a header the
    /// columns are `column_1`, `column_2`, ..., which suits models matched by position.
    pub has_header: bool,
    /// Field values that mean "missing" (besides the empty field).
    pub null_values: Vec<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            has_header: true,
            null_values: Vec::new(),
        }
    }
}

/// Which part of a SQLite database to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteInput {
    /// Every row of a table, in storage (rowid) order.
    Table(String),
    /// The rows of a `SELECT`. Add an `ORDER BY` when the row order, or a shard's share of
    /// the rows, must be the same from run to run.
    Query(String),
}

/// One of `count` disjoint parts of an input, chosen by `index` (counting from 0, like a
/// Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
///
/// The parts are deterministic and together hold every row once: for input of many files
/// the units shared out are whole files (Parquet: row groups), otherwise ranges of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, `0 .. count`.
    pub index: u64,
    /// How many parts.
    pub count: u64,
}

impl Shard {
    /// The shard `index` of `count`; `index` must be below `count`.
    pub fn new(index: u64, count: u64) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::InvalidOption(format!(
                "shard {index}/{count}: the index counts from 0 and must be below the number of shards"
            )));
        }
        Ok(Shard { index, count })
    }

    /// The range `start..end` of `units` that is this shard's: contiguous, and as even as
    /// integer division allows.
    pub fn range(&self, units: u64) -> (u64, u64) {
        let at = |i: u64| (u128::from(units) * u128::from(i) / u128::from(self.count)) as u64;
        (at(self.index), at(self.index + 1))
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// Parses `I/N`.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || Error::InvalidOption(format!("shard `{s}`: expected I/N, such as 0/4"));
        let (index, count) = s.split_once('/').ok_or_else(invalid)?;
        let index = index.trim().parse().map_err(|_| invalid())?;
        let count = count.trim().parse().map_err(|_| invalid())?;
        Shard::new(index, count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What to read.
#[derive(Clone)]
pub struct Source {
    input: Input,
    shard: Option<Shard>,
}

#[derive(Clone)]
enum Input {
    Files {
        format: Format,
        paths: Vec<PathBuf>,
        csv: CsvOptions,
    },
    Sqlite {
        path: PathBuf,
        what: SqliteInput,
    },
    Postgres(Box<PostgresRead>),
    Frame(DataFrame),
    Lazy(Box<LazyFrame>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())?;
        if let Some(shard) = self.shard {
            write!(f, " (shard {shard})")?;
        }
        Ok(())
    }
}

impl Source {
    /// A file, a directory of files or a glob (`data/*.parquet`), in `format` or the format
    /// the extensions say. A directory's files are the ones with a known extension; all must
    /// have the same format. Many files are read in the order of their sorted paths.
    ///
    /// A SQLite database needs [`Source::sqlite`], which says what to read from it.
    pub fn path(path: impl AsRef<Path>, format: Option<Format>) -> Result<Self> {
        let path = path.as_ref();
        let pattern = path.display().to_string();
        let mut paths = if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(Error::io("cannot list", path))?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(Error::io("cannot list", path))?;
                let file = entry.path();
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                let known = format.map_or_else(
                    || Format::from_path(&file).is_some(),
                    |f| Format::from_path(&file).is_none_or(|g| g == f),
                );
                if file.is_file() && !hidden && known {
                    files.push(file);
                }
            }
            files
        } else if pattern.contains(['*', '?', '[']) {
            let matches = glob::glob(&pattern)
                .map_err(|e| Error::InvalidOption(format!("bad glob `{pattern}`: {e}")))?;
            let mut files = Vec::new();
            for entry in matches {
                let file = entry.map_err(|e| Error::Io {
                    action: "cannot read",
                    path: e.path().to_owned(),
                    source: e.into(),
                })?;
                if file.is_file() {
                    files.push(file);
                }
            }
            files
        } else if path.is_file() {
            vec![path.to_owned()]
        } else {
            Vec::new()
        };
        paths.sort();
        let Some(first) = paths.first() else {
            return Err(Error::NoInput { pattern });
        };
        let format = match format {
            Some(format) => format,
            None => {
                let format = Format::from_path(first).ok_or_else(|| Error::UnknownFormat {
                    path: first.clone(),
                })?;
                if let Some(other) = paths
                    .iter()
                    .filter_map(|p| Format::from_path(p))
                    .find(|&f| f != format)
                {
                    return Err(Error::MixedFormats {
                        pattern,
                        first: format.name(),
                        second: other.name(),
                    });
                }
                format
            }
        };
        if format == Format::Sqlite {
            return Err(Error::InvalidOption(format!(
                "`{pattern}` is a SQLite database: name a table (--input-table) or a query (--query)"
            )));
        }
        let csv = CsvOptions {
            delimiter: if first
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
            {
                b'\t'
            } else {
                b','
            },
            ..CsvOptions::default()
        };
        Ok(Source {
            input: Input::Files { format, paths, csv },
            shard: None,
        })
    }

    /// A table or query of the SQLite database at `path`, which is opened read-only.
    pub fn sqlite(path: impl Into<PathBuf>, what: SqliteInput) -> Self {
        Source {
            input: Input::Sqlite {
                path: path.into(),
                what,
            },
            shard: None,
        }
    }

    /// A table or query of a PostgreSQL database, read with binary `COPY`.
    ///
    /// A shard ([`Source::with_shard`]) of a table is a range of its pages, or with
    /// [`Source::with_shard_key`] the rows whose key hashes to it; a query needs the key.
    pub fn postgres(database: Database, what: PostgresInput) -> Self {
        Source {
            input: Input::Postgres(Box::new(PostgresRead {
                database,
                what,
                shard_key: None,
                shard: None,
            })),
            shard: None,
        }
    }

    /// Chooses the shard of a PostgreSQL input by the hash of this column (other inputs
    /// ignore it).
    pub fn with_shard_key(mut self, column: impl Into<String>) -> Self {
        if let Input::Postgres(read) = &mut self.input {
            read.shard_key = Some(column.into());
        }
        self
    }

    /// A frame in memory.
    pub fn frame(frame: DataFrame) -> Self {
        Source {
            input: Input::Frame(frame),
            shard: None,
        }
    }

    /// A lazy query, run by polars' streaming engine.
    pub fn lazy(frame: LazyFrame) -> Self {
        Source {
            input: Input::Lazy(Box::new(frame)),
            shard: None,
        }
    }

    /// Sets how CSV files are parsed (other inputs ignore it).
    pub fn with_csv(mut self, options: CsvOptions) -> Self {
        if let Input::Files { csv, .. } = &mut self.input {
            *csv = options;
        }
        self
    }

    /// Reads only one shard of the input.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// The files read, for file input.
    pub fn files(&self) -> &[PathBuf] {
        match &self.input {
            Input::Files { paths, .. } => paths,
            _ => &[],
        }
    }

    /// The SQLite database read, for SQLite input.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.input {
            Input::Sqlite { path, .. } => Some(path),
            _ => None,
        }
    }

    /// A short description for messages: the path or pattern, or the kind of frame.
    pub fn describe(&self) -> String {
        match &self.input {
            Input::Files { paths, format, .. } if paths.len() == 1 => {
                format!("{} ({format})", paths[0].display())
            }
            Input::Files { paths, format, .. } => format!("{} {format} files", paths.len()),
            Input::Sqlite { path, what } => match what {
                SqliteInput::Table(table) => format!("table `{table}` of {}", path.display()),
                SqliteInput::Query(_) => format!("a query on {}", path.display()),
            },
            Input::Postgres(read) => read.describe(),
            Input::Frame(df) => format!("a frame of {} rows", df.height()),
            Input::Lazy(_) => "a lazy frame".to_owned(),
        }
    }

    /// The columns and types of the input as it stands (for many files, of the first).
    pub fn schema(&self) -> Result<Schema> {
        match &self.input {
            Input::Files { format, paths, csv } => {
                let path = paths.first().ok_or_else(|| Error::NoInput {
                    pattern: String::new(),
                })?;
                Ok(file_schema(*format, path, csv, None)?.as_ref().clone())
            }
            Input::Sqlite { path, what } => sqlite_schema(path, what),
            Input::Postgres(read) => read.schema(),
            Input::Frame(df) => Ok(df.schema().as_ref().clone()),
            Input::Lazy(lf) => Ok(lf
                .clone()
                .collect_schema()
                .map_err(Error::polars("cannot resolve the lazy frame's schema"))?
                .as_ref()
                .clone()),
        }
    }

    /// Plans the read and starts it.
    ///
    /// `hints` says which columns a CSV reader must read as numbers and which as text, so
    /// that the types do not depend on the first rows. Chunks have at most `chunk_rows` rows.
    pub fn open(mut self, hints: &ReadHints, chunk_rows: NonZeroUsize) -> Result<Reader> {
        if let Input::Postgres(read) = &mut self.input {
            // The query takes the shard; the reader sees one part.
            read.shard = self.shard.take();
            read.check(hints)?;
        }
        let parts = self.parts()?;
        let schema = match &self.input {
            Input::Files { format, paths, csv } => match paths.first() {
                Some(path) => file_schema(*format, path, csv, Some(hints))?
                    .as_ref()
                    .clone(),
                None => Schema::default(),
            },
            _ => self.schema()?,
        };
        Ok(Reader {
            input: self.input,
            hints: hints.clone(),
            chunk_rows,
            parts: parts.into(),
            current: None,
            schema,
        })
    }

    /// The parts to read, in order, after sharding.
    fn parts(&self) -> Result<Vec<Part>> {
        let whole = |index| Part {
            index,
            offset: 0,
            len: None,
        };
        match (&self.input, self.shard) {
            (Input::Files { paths, .. }, None) => Ok((0..paths.len()).map(whole).collect()),
            (Input::Files { paths, format, .. }, Some(shard)) if paths.len() > 1 => {
                if *format == Format::Parquet {
                    parquet_row_group_parts(paths, shard)
                } else {
                    let (start, end) = shard.range(paths.len() as u64);
                    Ok((start as usize..end as usize).map(whole).collect())
                }
            }
            (_, None) => Ok(vec![whole(0)]),
            (_, Some(shard)) => {
                let rows = self.count_all_rows()?;
                let (start, end) = shard.range(rows);
                Ok(vec![Part {
                    index: 0,
                    offset: start,
                    len: Some(end - start),
                }])
            }
        }
    }

    /// The rows of the whole (unsharded) input.
    fn count_all_rows(&self) -> Result<u64> {
        match &self.input {
            Input::Files { format, paths, csv } => {
                let mut total = 0;
                for path in paths {
                    total += count_file_rows(*format, path, csv)?;
                }
                Ok(total)
            }
            Input::Sqlite { path, what } => {
                let conn = open_sqlite(path)?;
                let sql = format!("SELECT count(*) FROM ({})", select_sql(what));
                let count: i64 =
                    conn.query_row(&sql, [], |row| row.get(0))
                        .map_err(Error::sqlite(format!(
                            "cannot count the rows of {}",
                            path.display()
                        )))?;
                Ok(count.max(0) as u64)
            }
            Input::Postgres(read) => crate::postgres::count_rows(read),
            Input::Frame(df) => Ok(df.height() as u64),
            Input::Lazy(lf) => {
                let counted = lf
                    .clone()
                    .select([len()])
                    .collect()
                    .map_err(Error::polars("cannot count the lazy frame's rows"))?;
                first_count(&counted).map_err(Error::polars("cannot count the lazy frame's rows"))
            }
        }
    }
}

/// The columns a reader must parse as numbers (numeric features) and as text (categorical
/// features with category names), whatever the first rows of a CSV file suggest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadHints {
    /// Columns read as `f64`.
    pub numeric: Vec<String>,
    /// Columns read as text.
    pub text: Vec<String>,
}

/// One file (or the one table, query or frame), or a range of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    /// Which file.
    index: usize,
    /// The first row read, counting from 0.
    offset: u64,
    /// How many rows, or all the rest.
    len: Option<u64>,
}

/// Shares out the row groups of many Parquet files and turns each file's share into a row
/// range (the row groups of a shard are contiguous, so each file's are too).
fn parquet_row_group_parts(paths: &[PathBuf], shard: Shard) -> Result<Vec<Part>> {
    let mut groups = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let file = std::fs::File::open(path).map_err(Error::io("cannot open", path))?;
        let mut reader = polars::io::parquet::read::ParquetReader::new(file);
        let metadata = reader.get_metadata().map_err(Error::polars(format!(
            "cannot read the Parquet metadata of {}",
            path.display()
        )))?;
        let mut offset = 0u64;
        for group in &metadata.row_groups {
            let rows = group.num_rows() as u64;
            groups.push((index, offset, rows));
            offset += rows;
        }
    }
    let (start, end) = shard.range(groups.len() as u64);
    let mut parts: Vec<Part> = Vec::new();
    for &(index, offset, rows) in &groups[start as usize..end as usize] {
        match parts.last_mut() {
            Some(part) if part.index == index => {
                part.len = Some(part.len.unwrap_or(0) + rows);
            }
            _ => parts.push(Part {
                index,
                offset,
                len: Some(rows),
            }),
        }
    }
    Ok(parts)
}

fn first_count(counted: &DataFrame) -> PolarsResult<u64> {
    let column = counted
        .columns()
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "the count has no column"))?;
    let value = column.cast(&DataType::UInt64)?.u64()?.get(0).unwrap_or(0);
    Ok(value)
}

/// The rows of one file: CSV records are counted with bounded memory, the other formats
/// by polars (Parquet and IPC from their metadata).
fn count_file_rows(format: Format, path: &Path, csv: &CsvOptions) -> Result<u64> {
    match format {
        Format::Csv => csv::count_records(path, csv),
        Format::Ndjson => ndjson::count_records(path),
        _ => count_rows(scan(format, path, csv, None)?, path),
    }
}

fn count_rows(lf: LazyFrame, path: &Path) -> Result<u64> {
    let context = || format!("cannot count the rows of {}", path.display());
    let counted = lf
        .select([len()])
        .collect()
        .map_err(Error::polars(context()))?;
    first_count(&counted).map_err(Error::polars(context()))
}

/// The rows of a CSV or NDJSON file whose values decide the types of the columns that are
/// not features (features are read as numbers or text whatever they look like). polars'
/// default, 100, makes an id column that turns alphanumeric after a few hundred rows fail
/// the run; reading this many costs a few megabytes once.
pub(crate) const INFER_SCHEMA_ROWS: usize = 10_000;

/// A lazy scan of one file. With `hints`, CSV feature columns get fixed types.
fn scan(
    format: Format,
    path: &Path,
    csv: &CsvOptions,
    hints: Option<&ReadHints>,
) -> Result<LazyFrame> {
    let context = || format!("cannot read {}", path.display());
    let pl_path = PlRefPath::try_from_path(path).map_err(Error::polars(context()))?;
    let lf = match format {
        Format::Csv => {
            let mut reader = LazyCsvReader::new(pl_path)
                .with_has_header(csv.has_header)
                .with_separator(csv.delimiter)
                .with_infer_schema_length(Some(INFER_SCHEMA_ROWS))
                .with_glob(false);
            if !csv.null_values.is_empty() {
                reader = reader.with_null_values(Some(NullValues::AllColumns(
                    csv.null_values.iter().map(|v| v.as_str().into()).collect(),
                )));
            }
            if let Some(hints) = hints {
                reader = reader.with_dtype_overwrite(Some(Arc::new(text_overwrite(
                    format, path, csv, hints,
                )?)));
            }
            reader.finish()
        }
        Format::Parquet => LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default()),
        Format::Ipc => LazyFrame::scan_ipc(pl_path, Default::default(), Default::default()),
        Format::Ndjson => {
            let mut reader = LazyJsonLineReader::new(pl_path)
                .with_infer_schema_length(NonZeroUsize::new(INFER_SCHEMA_ROWS));
            if let Some(hints) = hints {
                reader = reader.with_schema_overwrite(Some(Arc::new(text_overwrite(
                    format, path, csv, hints,
                )?)));
            }
            reader.finish()
        }
        Format::Sqlite => {
            return Err(Error::InvalidOption(format!(
                "{} is a SQLite database, not a file of rows",
                path.display()
            )));
        }
    };
    lf.map_err(Error::polars(context()))
}

/// The columns and types of one file, as read with `hints` (see [`scan`]).
fn file_schema(
    format: Format,
    path: &Path,
    csv: &CsvOptions,
    hints: Option<&ReadHints>,
) -> Result<SchemaRef> {
    scan(format, path, csv, hints)?
        .collect_schema()
        .map_err(Error::polars(format!(
            "cannot read the schema of {}",
            path.display()
        )))
}

/// The types the feature columns of a text file (CSV, NDJSON) are read with: numbers as
/// `f64` (so that an integer column that turns decimal after the first rows still parses),
/// category names as text. Only columns the file has are named.
fn text_overwrite(
    format: Format,
    path: &Path,
    csv: &CsvOptions,
    hints: &ReadHints,
) -> Result<Schema> {
    let inferred = file_schema(format, path, csv, None)?;
    let mut schema = Schema::default();
    for (names, dtype) in [
        (&hints.numeric, DataType::Float64),
        (&hints.text, DataType::String),
    ] {
        for name in names {
            if inferred.contains(name) {
                schema.with_column(name.as_str().into(), dtype.clone());
            }
        }
    }
    Ok(schema)
}

/// Reads an opened [`Source`] chunk by chunk.
pub struct Reader {
    input: Input,
    hints: ReadHints,
    chunk_rows: NonZeroUsize,
    parts: VecDeque<Part>,
    current: Option<Stream>,
    schema: Schema,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("parts_left", &self.parts.len())
            .field("chunk_rows", &self.chunk_rows)
            .finish_non_exhaustive()
    }
}

/// The chunks of one part, and where its rows are.
struct Stream {
    part: Part,
    origin: Origin,
    producer: Producer,
}

enum Producer {
    /// A thread that sends chunks through a channel of one slot.
    Thread {
        chunks: Receiver<Result<DataFrame>>,
        handle: Option<JoinHandle<()>>,
    },
    /// Slices of a frame in memory.
    Frame { frame: DataFrame, next: usize },
}

/// Where a producer thread sends its chunks.
pub(crate) type ChunkSender = SyncSender<Result<DataFrame>>;

impl Producer {
    /// Runs `produce` in a thread that sends chunks through a channel of one slot, then its
    /// error, if it fails. A failed send means the consumer has gone: `produce` should stop.
    fn spawn(produce: impl FnOnce(&ChunkSender) -> Result<()> + Send + 'static) -> Producer {
        let (send, chunks) = sync_channel(1);
        let handle = std::thread::spawn(move || {
            if let Err(error) = produce(&send) {
                let _ = send.send(Err(error));
            }
        });
        Producer::Thread {
            chunks,
            handle: Some(handle),
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Producer::Thread { chunks, handle } = self {
            // Closing the channel makes the producer's next send fail, which stops it; wait
            // for it so that no reader outlives the run.
            let (_, closed) = sync_channel(0);
            drop(std::mem::replace(chunks, closed));
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
    }
}

impl Reader {
    /// The columns and types of the chunks (for many files, of the first file's).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The number of rows this reader will produce. Parquet and IPC files, frames and
    /// shards know it; CSV and NDJSON files are counted (a pass over each file), and SQLite
    /// runs `count(*)`.
    pub fn total_rows(&self) -> Result<u64> {
        let mut total = 0;
        for part in self.current.iter().map(|s| &s.part).chain(&self.parts) {
            total += match part.len {
                Some(len) => len,
                None => match &self.input {
                    Input::Files { format, paths, csv } => {
                        count_file_rows(*format, &paths[part.index], csv)?
                    }
                    input => Source {
                        input: input.clone(),
                        shard: None,
                    }
                    .count_all_rows()?,
                },
            };
        }
        Ok(total)
    }

    /// The next chunk and where its rows are, or `None` at the end of the input.
    pub fn next_chunk(&mut self) -> Result<Option<(DataFrame, Origin)>> {
        loop {
            if self.current.is_none() {
                let Some(part) = self.parts.pop_front() else {
                    return Ok(None);
                };
                self.current = Some(self.start(part)?);
            }
            let Some(stream) = self.current.as_mut() else {
                continue;
            };
            let chunk = match &mut stream.producer {
                Producer::Thread { chunks, handle } => match chunks.recv() {
                    Ok(Ok(chunk)) => Some(chunk),
                    Ok(Err(error)) => {
                        self.current = None;
                        return Err(error);
                    }
                    Err(_) => {
                        // The producer is done; a panic must not pass for the end of the input.
                        if let Some(handle) = handle.take()
                            && handle.join().is_err()
                        {
                            self.current = None;
                            return Err(Error::InvalidOption(
                                "internal error: the thread reading the input panicked (its \
                                 message is above); no output was written"
                                    .to_owned(),
                            ));
                        }
                        None
                    }
                },
                Producer::Frame { frame, next } => {
                    let rows = self.chunk_rows.get().min(frame.height() - *next);
                    let chunk = (rows > 0).then(|| frame.slice(*next as i64, rows));
                    *next += rows;
                    chunk
                }
            };
            match chunk {
                Some(chunk) if chunk.height() == 0 => continue,
                Some(chunk) => {
                    let origin = stream.origin.clone();
                    stream.origin.first_row += chunk.height() as u64;
                    return Ok(Some((chunk, origin)));
                }
                None => self.current = None,
            }
        }
    }

    /// Starts reading a part.
    fn start(&self, part: Part) -> Result<Stream> {
        let chunk_rows = self.chunk_rows;
        let (file, producer) = match &self.input {
            Input::Files {
                format: Format::Csv,
                paths,
                csv,
            } => {
                let path = paths[part.index].clone();
                let schema = file_schema(Format::Csv, &path, csv, Some(&self.hints))?;
                let producer = csv::spawn(
                    path.clone(),
                    csv.clone(),
                    schema,
                    self.hints.numeric.clone(),
                    part,
                    chunk_rows,
                );
                (Some(path), producer)
            }
            Input::Files {
                format: Format::Ndjson,
                paths,
                csv,
            } => {
                let path = paths[part.index].clone();
                let schema = file_schema(Format::Ndjson, &path, csv, Some(&self.hints))?;
                let producer = ndjson::spawn(path.clone(), schema, part, chunk_rows);
                (Some(path), producer)
            }
            Input::Files { format, paths, csv } => {
                let path = paths[part.index].clone();
                let lf = slice(scan(*format, &path, csv, Some(&self.hints))?, part);
                let context = format!("cannot read {}", path.display());
                (Some(path), spawn_polars(lf, chunk_rows, context))
            }
            Input::Lazy(lf) => {
                let lf = slice(lf.as_ref().clone(), part);
                (
                    None,
                    spawn_polars(lf, chunk_rows, "cannot run the lazy frame".into()),
                )
            }
            Input::Frame(frame) => {
                let frame = match part.len {
                    Some(len) => frame.slice(part.offset as i64, len as usize),
                    None => frame.clone(),
                };
                (None, Producer::Frame { frame, next: 0 })
            }
            Input::Postgres(read) => {
                let read = read.as_ref().clone();
                let producer =
                    Producer::spawn(move |send| crate::postgres::read(&read, chunk_rows, send));
                (None, producer)
            }
            Input::Sqlite { path, what } => {
                let producer = spawn_sqlite(
                    path.clone(),
                    what.clone(),
                    part,
                    chunk_rows,
                    self.schema.clone(),
                );
                (None, producer)
            }
        };
        Ok(Stream {
            part,
            origin: Origin {
                file,
                first_row: part.offset + 1,
            },
            producer,
        })
    }
}

fn slice(lf: LazyFrame, part: Part) -> LazyFrame {
    match part.len {
        Some(len) => lf.slice(part.offset as i64, len as IdxSize),
        None => lf,
    }
}

/// Runs `lf` on polars' streaming engine in a thread, which sends chunks of `chunk_rows`
/// rows (the last may be shorter) through a channel of one slot.
fn spawn_polars(lf: LazyFrame, chunk_rows: NonZeroUsize, context: String) -> Producer {
    Producer::spawn(move |send| {
        let send = send.clone();
        let callback = PlanCallback::new(move |chunk: DataFrame| {
            // `true` stops the query: the consumer has gone (it failed, or was dropped).
            Ok(send.send(Ok(chunk)).is_err())
        });
        lf.sink_batches(callback, true, Some(chunk_rows))
            .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
            .map(drop)
            .map_err(|source| Error::Polars { context, source })
    })
}

/// Opens a SQLite database read-only: a batch job never changes its input.
fn open_sqlite(path: &Path) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(Error::sqlite(format!(
        "cannot open the SQLite database {}",
        path.display()
    )))
}

/// Quotes a SQL identifier.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn select_sql(what: &SqliteInput) -> String {
    match what {
        SqliteInput::Table(table) => format!("SELECT * FROM {}", quote_identifier(table)),
        SqliteInput::Query(sql) => sql.trim().trim_end_matches(';').to_owned(),
    }
}

/// The polars type of a SQLite column: its declared type's affinity where it has one that
/// fixes the type, else the type of its first value (`String` when that is null).
fn sqlite_schema(path: &Path, what: &SqliteInput) -> Result<Schema> {
    let conn = open_sqlite(path)?;
    let sql = select_sql(what);
    let context = || format!("cannot run `{sql}` on {}", path.display());
    let mut statement = conn.prepare(&sql).map_err(Error::sqlite(context()))?;
    let declared: Vec<(String, Option<DataType>)> = statement
        .columns()
        .map(|c| (c.name().to_owned(), c.decl_type().and_then(affinity)))
        .collect();
    let mut schema = Schema::default();
    if declared.iter().all(|(_, dtype)| dtype.is_some()) {
        for (name, dtype) in declared {
            schema.with_column(name.into(), dtype.unwrap_or(DataType::String));
        }
        return Ok(schema);
    }
    let mut rows = statement.query([]).map_err(Error::sqlite(context()))?;
    let first = rows.next().map_err(Error::sqlite(context()))?;
    for (index, (name, dtype)) in declared.into_iter().enumerate() {
        let dtype = dtype.unwrap_or_else(|| match first.and_then(|row| row.get_ref(index).ok()) {
            Some(ValueRef::Integer(_)) => DataType::Int64,
            Some(ValueRef::Real(_)) => DataType::Float64,
            Some(ValueRef::Blob(_)) => DataType::Binary,
            Some(ValueRef::Text(_) | ValueRef::Null) | None => DataType::String,
        });
        schema.with_column(name.into(), dtype);
    }
    Ok(schema)
}

/// SQLite's type affinity rules (section 3.1 of "Datatypes In SQLite"), for the affinities
/// that fix a type; NUMERIC columns hold integers or reals, so their type comes from values.
fn affinity(declared: &str) -> Option<DataType> {
    let declared = declared.to_ascii_uppercase();
    if declared.contains("INT") {
        Some(DataType::Int64)
    } else if ["CHAR", "CLOB", "TEXT"]
        .iter()
        .any(|t| declared.contains(t))
    {
        Some(DataType::String)
    } else if declared.contains("BLOB") {
        Some(DataType::Binary)
    } else if ["REAL", "FLOA", "DOUB"]
        .iter()
        .any(|t| declared.contains(t))
    {
        Some(DataType::Float64)
    } else {
        None
    }
}

/// Reads a SQLite query in a thread, `chunk_rows` rows at a time, into columns of the types
/// of `schema`.
fn spawn_sqlite(
    path: PathBuf,
    what: SqliteInput,
    part: Part,
    chunk_rows: NonZeroUsize,
    schema: Schema,
) -> Producer {
    Producer::spawn(move |send| read_sqlite(&path, &what, part, chunk_rows, &schema, send))
}

fn read_sqlite(
    path: &Path,
    what: &SqliteInput,
    part: Part,
    chunk_rows: NonZeroUsize,
    schema: &Schema,
    send: &ChunkSender,
) -> Result<()> {
    let conn = open_sqlite(path)?;
    let mut sql = select_sql(what);
    if let Some(len) = part.len {
        sql = format!("SELECT * FROM ({sql}) LIMIT {len} OFFSET {}", part.offset);
    }
    let context = || format!("cannot run `{sql}` on {}", path.display());
    let mut statement = conn.prepare(&sql).map_err(Error::sqlite(context()))?;
    let mut rows = statement.query([]).map_err(Error::sqlite(context()))?;
    let fields: Vec<(PlSmallStr, DataType)> = schema
        .iter()
        .map(|(name, dtype)| (name.clone(), dtype.clone()))
        .collect();
    let mut first_row = part.offset + 1;
    loop {
        let mut builders: Vec<ColumnBuilder> = fields
            .iter()
            .map(|(_, dtype)| ColumnBuilder::new(dtype, chunk_rows.get()))
            .collect();
        let mut height = 0;
        while height < chunk_rows.get() {
            let Some(row) = rows.next().map_err(Error::sqlite(context()))? else {
                break;
            };
            let row_number = first_row + height as u64;
            for (index, builder) in builders.iter_mut().enumerate() {
                let value = row.get_ref(index).map_err(Error::sqlite(context()))?;
                builder
                    .push(value)
                    .map_err(|problem| problem.into_error(&fields[index].0, row_number))?;
            }
            height += 1;
        }
        if height == 0 {
            return Ok(());
        }
        let columns = fields
            .iter()
            .zip(builders)
            .map(|((name, _), builder)| builder.finish(name.clone()))
            .collect();
        let chunk = DataFrame::new(height, columns).map_err(Error::polars(context()))?;
        if send.send(Ok(chunk)).is_err() {
            // The consumer has gone.
            return Ok(());
        }
        first_row += height as u64;
        if height < chunk_rows.get() {
            return Ok(());
        }
    }
}

/// A column of SQLite values being gathered into one polars type.
enum ColumnBuilder {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Binary(Vec<Option<Vec<u8>>>),
}

/// Why a SQLite value does not fit its column.
enum Misfit {
    NotANumber(String),
    Other(String),
}

impl Misfit {
    fn into_error(self, column: &str, row: u64) -> Error {
        let location = Location { row, file: None };
        match self {
            Misfit::NotANumber(value) => Error::NotANumber {
                column: column.to_owned(),
                location,
                value,
            },
            Misfit::Other(problem) => Error::SqliteValue {
                column: column.to_owned(),
                location,
                problem,
            },
        }
    }
}

impl ColumnBuilder {
    fn new(dtype: &DataType, capacity: usize) -> Self {
        match dtype {
            DataType::Int64 => ColumnBuilder::Int(Vec::with_capacity(capacity)),
            DataType::Float64 => ColumnBuilder::Float(Vec::with_capacity(capacity)),
            DataType::Binary => ColumnBuilder::Binary(Vec::with_capacity(capacity)),
            _ => ColumnBuilder::Text(Vec::with_capacity(capacity)),
        }
    }

    fn push(&mut self, value: ValueRef<'_>) -> Result<(), Misfit> {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        match (self, value) {
            (ColumnBuilder::Int(v), ValueRef::Null) => v.push(None),
            (ColumnBuilder::Float(v), ValueRef::Null) => v.push(None),
            (ColumnBuilder::Text(v), ValueRef::Null) => v.push(None),
            (ColumnBuilder::Binary(v), ValueRef::Null) => v.push(None),
            (ColumnBuilder::Int(v), ValueRef::Integer(i)) => v.push(Some(i)),
            (ColumnBuilder::Int(v), ValueRef::Real(r)) if r.fract() == 0.0 && r.abs() < 9.2e18 => {
                v.push(Some(r as i64))
            }
            (ColumnBuilder::Int(v), ValueRef::Text(t)) => match text(t).parse() {
                Ok(i) => v.push(Some(i)),
                Err(_) => {
                    return Err(Misfit::Other(format!(
                        "`{}` is not an integer, as the column's type says",
                        text(t)
                    )));
                }
            },
            (ColumnBuilder::Int(_), other) => {
                return Err(Misfit::Other(format!(
                    "a {:?} value in an integer column",
                    other.data_type()
                )));
            }
            (ColumnBuilder::Float(v), ValueRef::Integer(i)) => v.push(Some(i as f64)),
            (ColumnBuilder::Float(v), ValueRef::Real(r)) => v.push(Some(r)),
            (ColumnBuilder::Float(v), ValueRef::Text(t)) => {
                let t = text(t);
                if t.is_empty() {
                    v.push(None)
                } else {
                    match t.parse() {
                        Ok(x) => v.push(Some(x)),
                        Err(_) => return Err(Misfit::NotANumber(t)),
                    }
                }
            }
            (ColumnBuilder::Float(_), ValueRef::Blob(_)) => {
                return Err(Misfit::NotANumber("<blob>".to_owned()));
            }
            (ColumnBuilder::Text(v), ValueRef::Integer(i)) => v.push(Some(i.to_string())),
            (ColumnBuilder::Text(v), ValueRef::Real(r)) => v.push(Some(r.to_string())),
            (ColumnBuilder::Text(v), ValueRef::Text(t)) => v.push(Some(text(t))),
            (ColumnBuilder::Text(_), ValueRef::Blob(_)) => {
                return Err(Misfit::Other("a blob value in a text column".to_owned()));
            }
            (ColumnBuilder::Binary(v), ValueRef::Blob(b) | ValueRef::Text(b)) => {
                v.push(Some(b.to_vec()))
            }
            (ColumnBuilder::Binary(_), other) => {
                return Err(Misfit::Other(format!(
                    "a {:?} value in a blob column",
                    other.data_type()
                )));
            }
        }
        Ok(())
    }

    fn finish(self, name: PlSmallStr) -> Column {
        match self {
            ColumnBuilder::Int(v) => Column::new(name, v),
            ColumnBuilder::Float(v) => Column::new(name, v),
            ColumnBuilder::Text(v) => Column::new(name, v),
            ColumnBuilder::Binary(v) => Column::new(name, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_unit_once() {
        for count in 1..7 {
            let mut covered = Vec::new();
            for index in 0..count {
                let (start, end) = Shard::new(index, count).unwrap().range(10);
                covered.extend(start..end);
            }
            assert_eq!(covered, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn parses_shards_and_rejects_bad_ones() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert!("4/4".parse::<Shard>().is_err());
        assert!("1-4".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
    }

    #[test]
    fn tells_formats_from_extensions() {
        assert_eq!(Format::from_path(Path::new("a/b.CSV")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("x.feather")), Some(Format::Ipc));
        assert_eq!(Format::from_path(Path::new("x.db")), Some(Format::Sqlite));
        assert_eq!(Format::from_path(Path::new("x.xlsx")), None);
    }

    #[test]
    fn reads_affinities_like_sqlite() {
        assert_eq!(affinity("BIGINT"), Some(DataType::Int64));
        assert_eq!(affinity("varchar(20)"), Some(DataType::String));
        assert_eq!(affinity("DOUBLE PRECISION"), Some(DataType::Float64));
        assert_eq!(affinity("NUMERIC"), None);
    }
}
