//! The backends: how each format and database is read and written, one room each.
//!
//! - [`format`]: the [`Format`] enum that sources and sinks both name, and the one `match` per
//!   operation that sends a file format to its backend;
//! - [`csv`]: CSV files, read in blocks of whole records and parsed on all cores;
//! - [`ndjson`]: NDJSON files, read in blocks of whole lines;
//! - `polars`: Parquet and Arrow IPC files, and lazy frames, on polars' streaming engine;
//! - [`cloud`]: object storage (S3, Google Cloud Storage, Azure, HTTP): where a file of
//!   rows is an object, read and written through polars' own cloud I/O;
//! - [`sqlite`]: a SQLite table or query, and a SQLite table written in one transaction;
//! - [`postgres`]: PostgreSQL through binary `COPY`, both ways;
//! - [`records`]: cutting a text file into blocks of whole records (CSV and NDJSON).
//!
//! What a backend gets and gives is defined here, below both [`Source`](crate::Source) and
//! [`Sink`](crate::Sink), so that backends never import from the planner above them: a
//! reader is a [`ReadJob`] that fills a [`ChunkSender`] with the chunks of a [`Part`]
//! (`source.rs` runs it on a thread of its own); a file writer is an [`Encoder`] writing into
//! a [`SharedWriter`], whose bytes a [`Staging`] keeps out of sight until it commits them
//! (`sink.rs` stages a local file as a hidden partial, [`cloud`] an object as a multipart
//! upload); a database writer is a whole [`Writer`], since its transaction is its commit.
//!
//! A file backend reads a [`FileRef`]: a local path or an object's URL. It opens it as a
//! byte stream ([`FileRef::open`]) or hands it to a polars scan ([`FileRef::pl_path`]), and
//! never asks which.
//!
//! Adding a file format means one new file here and one new variant of [`Format`], whose
//! methods name the new backend in each of their `match`es.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use ::polars::prelude::{
    DataFrame, DataType, LazyFrame, PlRefPath, PolarsResult, Schema, SchemaRef,
};

use crate::error::{Error, Result};

pub mod cloud;
pub(crate) mod csv;
pub(crate) mod format;
pub(crate) mod ndjson;
pub(crate) mod polars;
pub mod postgres;
mod records;
pub(crate) mod sqlite;

pub use format::Format;

/// Where a reader sends its chunks: a channel of one slot, so that it stays at most one
/// chunk ahead of the scorer.
pub(crate) type ChunkSender = SyncSender<Result<DataFrame>>;

/// A read started by a backend: run on a thread of its own, it sends the chunks of its part,
/// then returns (with an error, if it fails). A failed send means the consumer has gone: the
/// job should stop and return `Ok`.
pub(crate) type ReadJob = Box<dyn FnOnce(&ChunkSender) -> Result<()> + Send>;

/// A file of rows: a path on this machine, or an object in object storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRef {
    /// A local file.
    Local(PathBuf),
    /// An object, by its URL (`s3://bucket/key`).
    Object(cloud::ObjectUrl),
}

/// Bytes read from a file at a time.
const READ_BUFFER: usize = 1 << 20;

impl FileRef {
    /// The path, or the object's URL as a path: what messages and [`Origin`](crate::Origin)s
    /// name.
    pub fn name(&self) -> &Path {
        match self {
            FileRef::Local(path) => path,
            FileRef::Object(url) => url.as_path(),
        }
    }

    /// The file's name without its directory or prefix, for its extension.
    pub(crate) fn file_name(&self) -> &Path {
        match self {
            FileRef::Local(path) => path,
            FileRef::Object(url) => Path::new(url.file_name()),
        }
    }

    /// The path a polars scan reads: local, or a URL polars reads through its cloud I/O.
    pub(crate) fn pl_path(&self) -> Result<PlRefPath> {
        match self {
            FileRef::Local(path) => PlRefPath::try_from_path(path)
                .map_err(Error::polars(format!("cannot read {}", path.display()))),
            FileRef::Object(url) => Ok(url.pl_path()),
        }
    }

    /// The file's bytes, from the start, through a buffer: a local file is read as it is,
    /// an object is streamed (one `GET`, never held whole).
    pub(crate) fn open(&self) -> Result<Box<dyn BufRead + Send>> {
        Ok(match self {
            FileRef::Local(path) => {
                let file = File::open(path).map_err(Error::io("cannot open", path))?;
                Box::new(BufReader::with_capacity(READ_BUFFER, file))
            }
            FileRef::Object(url) => Box::new(BufReader::with_capacity(
                READ_BUFFER,
                cloud::read::ObjectReader::open(url)?,
            )),
        })
    }

    /// The error of an operation on this file, as the user can act on it: for an object, a
    /// missing object or bucket and refused credentials become errors that say so.
    pub(crate) fn refine<T>(&self, result: Result<T>) -> Result<T> {
        match self {
            FileRef::Local(_) => result,
            FileRef::Object(url) => result.map_err(|error| cloud::refine(url, error)),
        }
    }
}

impl fmt::Display for FileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileRef::Local(path) => write!(f, "{}", path.display()),
            FileRef::Object(url) => write!(f, "{url}"),
        }
    }
}

/// What a file backend needs to read one part of one file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileRead<'a> {
    /// The file.
    pub(crate) file: &'a FileRef,
    /// How to parse it, if it is CSV.
    pub(crate) csv: &'a csv::CsvOptions,
    /// Which columns are read as numbers, which as text.
    pub(crate) hints: &'a ReadHints,
    /// The schemas inferred so far from the source's text files.
    pub(crate) inferred: &'a InferredSchemas,
    /// Which rows.
    pub(crate) part: Part,
    /// The most rows a chunk holds.
    pub(crate) chunk_rows: NonZeroUsize,
}

/// One file (or the one table, query or frame), or a range of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    /// Which file.
    pub(crate) index: usize,
    /// The first row read, counting from 0.
    pub(crate) offset: u64,
    /// How many rows, or all the rest.
    pub(crate) len: Option<u64>,
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

/// What to do when the output file or table already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfExists {
    /// Stop with an error before any row is scored (the default).
    #[default]
    Fail,
    /// Add the rows to the existing SQLite or PostgreSQL table, whose columns must include
    /// the output's.
    /// Files cannot be appended to.
    Append,
    /// Replace the file or table, atomically.
    Replace,
}

impl FromStr for IfExists {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(IfExists::Fail),
            "append" => Ok(IfExists::Append),
            "replace" => Ok(IfExists::Replace),
            other => Err(format!(
                "unknown --if-exists `{other}` (expected fail, append or replace)"
            )),
        }
    }
}

/// Takes scored chunks in order, and makes them visible all at once in `finish`.
///
/// Dropping a writer without finishing it discards everything written.
pub(crate) trait Writer {
    /// Writes one chunk.
    fn write(&mut self, chunk: &DataFrame) -> Result<()>;
    /// Completes the output; the writer takes no more chunks.
    fn finish(&mut self) -> Result<()>;
}

/// Turns chunks into the bytes of one file format; the file and its commit are the sink's.
pub(crate) trait Encoder {
    /// Encodes one chunk.
    fn write(&mut self, chunk: &DataFrame) -> PolarsResult<()>;
    /// Writes what the format keeps for the end (a footer, the last buffered rows).
    fn finish(&mut self) -> PolarsResult<()>;
}

/// A polars batched writer as an [`Encoder`]: polars' writers share no trait, so each
/// backend names its writer's two methods.
pub(crate) struct Batched<W> {
    /// The polars writer.
    pub(crate) writer: W,
    /// Its method that writes a chunk.
    pub(crate) write: fn(&mut W, &DataFrame) -> PolarsResult<()>,
    /// What completes its output.
    pub(crate) finish: fn(&mut W) -> PolarsResult<()>,
}

impl<W: 'static> Batched<W> {
    /// `writer` as an encoder, with its methods that write a chunk and complete the output.
    pub(crate) fn boxed(
        writer: W,
        write: fn(&mut W, &DataFrame) -> PolarsResult<()>,
        finish: fn(&mut W) -> PolarsResult<()>,
    ) -> Box<dyn Encoder> {
        Box::new(Batched {
            writer,
            write,
            finish,
        })
    }
}

impl<W> Encoder for Batched<W> {
    fn write(&mut self, chunk: &DataFrame) -> PolarsResult<()> {
        (self.write)(&mut self.writer, chunk)
    }

    fn finish(&mut self) -> PolarsResult<()> {
        (self.finish)(&mut self.writer)
    }
}

/// Where an output's bytes wait until the run succeeds, and how they are made the output at
/// once: a hidden partial file renamed over its target (`sink.rs`), or a multipart upload
/// completed at its key ([`cloud`]). Dropped without a commit, it leaves nothing visible.
pub(crate) trait Staging {
    /// Makes the bytes written (and flushed) the output.
    fn commit(&mut self) -> Result<()>;
}

/// The buffered output that the polars writer and the sink both hold, so that the buffer
/// can be flushed, with its error seen, after the polars writer is done. (Polars' batched
/// writers do not give their writer back.)
#[derive(Clone)]
pub(crate) struct SharedWriter(Arc<Mutex<BufWriter<Box<dyn Write + Send>>>>);

impl SharedWriter {
    /// Buffers writes to `output` (a partial file, an upload).
    pub(crate) fn new(output: impl Write + Send + 'static) -> Self {
        let output: Box<dyn Write + Send> = Box::new(output);
        SharedWriter(Arc::new(Mutex::new(BufWriter::with_capacity(
            1 << 20,
            output,
        ))))
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut BufWriter<Box<dyn Write + Send>>) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut output = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("a writer thread panicked"))?;
        f(&mut output)
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.with(|output| output.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.with(|output| output.write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.with(|output| output.flush())
    }
}

/// The rows of a CSV or NDJSON file whose values decide the types of the columns that are
/// not features (features are read as numbers or text whatever they look like). polars'
/// default, 100, makes an id column that turns alphanumeric after a few hundred rows fail
/// the run; reading this many costs a few megabytes once.
pub(crate) const INFER_SCHEMA_ROWS: usize = 10_000;

/// The schemas a source's text files (CSV, NDJSON) were found to have, by path, so that each
/// file's first [`INFER_SCHEMA_ROWS`] rows are inferred once however often a run asks (the
/// plan, the reader, each part). polars' inference tests every field against patterns: about
/// 50 ms of CPU for 50 columns, five times per run before this cache, a tenth of a CSV job
/// of a million rows.
///
/// Clones share the cache.
#[derive(Debug, Clone, Default)]
pub(crate) struct InferredSchemas(Arc<Mutex<HashMap<PathBuf, SchemaRef>>>);

impl InferredSchemas {
    /// The schema `path` is read with: inferred by `infer` the first time it is asked for,
    /// then with the feature columns typed by `hints` ([`with_feature_types`]) when given.
    pub(crate) fn schema(
        &self,
        path: &Path,
        hints: Option<&ReadHints>,
        infer: impl FnOnce() -> Result<SchemaRef>,
    ) -> Result<SchemaRef> {
        let known = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned();
        let inferred = match known {
            Some(schema) => schema,
            None => {
                // Inferred outside the lock: two threads may both infer a new file, which is
                // harmless.
                let schema = infer()?;
                self.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(path.to_owned(), schema.clone());
                schema
            }
        };
        Ok(match hints {
            Some(hints) => Arc::new(with_feature_types(&inferred, hints)),
            None => inferred,
        })
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

/// The schema a text file (CSV, NDJSON) is read with: the `inferred` one, with the feature
/// columns typed by `hints`: numbers as `f64` (so that an integer column that turns decimal
/// after the first rows still parses), category names as text.
fn with_feature_types(inferred: &Schema, hints: &ReadHints) -> Schema {
    let mut schema = inferred.clone();
    for (names, dtype) in [
        (&hints.numeric, DataType::Float64),
        (&hints.text, DataType::String),
    ] {
        for name in names {
            if let Some(column) = schema.get_mut(name) {
                *column = dtype.clone();
            }
        }
    }
    schema
}

/// The columns and types of the file that `lf` scans.
pub(crate) fn schema_of(lf: LazyFrame, file: &FileRef) -> Result<SchemaRef> {
    let mut lf = lf;
    file.refine(
        lf.collect_schema()
            .map_err(Error::polars(format!("cannot read the schema of {file}"))),
    )
}

/// Quotes a SQL identifier (SQLite and PostgreSQL quote alike).
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
}
