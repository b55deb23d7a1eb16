//! Where rows come from: files (CSV, Parquet, Arrow IPC, NDJSON; one, a directory or a glob),
//! on this machine or in object storage (`s3://`, `gs://`, `az://`, `https://`), a SQLite or
//! PostgreSQL table or query, or a polars frame.
//!
//! A [`Source`] says what to read. [`Source::open`] plans the read (the files, the shard, the
//! types a CSV reader must use for the model's features) and gives a [`Reader`], which hands
//! out chunks of at most `chunk_rows` rows, one at a time, each with the [`Origin`] of its
//! rows. Files and queries are read by a producer thread that stays at most one chunk ahead
//! of the consumer (a rendezvous channel of one slot), so memory depends on the chunk size,
//! not on the input's.
//!
//! This file holds only the planning and the threads; how each format or database is read
//! is its backend's business, in `io/` ([`Format`] says which backend reads a file).
//! Files are read one after the other, so that an error can name its file and row.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use polars::prelude::*;

pub use crate::io::cloud::ObjectUrl;
pub use crate::io::csv::CsvOptions;
pub use crate::io::sqlite::SqliteInput;
pub use crate::io::{FileRef, Format, ReadHints, Shard};

use crate::error::{Error, Result};
use crate::frame::Origin;
use crate::io::InferredSchemas;
use crate::io::postgres::{self, Database, PostgresInput, PostgresRead};
use crate::io::{self, ChunkSender, FileRead, Part, cloud, sqlite};

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
        files: Vec<FileRef>,
        csv: CsvOptions,
        inferred: InferredSchemas,
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
    /// A URL (`s3://bucket/prefix/*.parquet`, `https://...`) is object storage, read as
    /// [`Source::object`] reads it. A SQLite database needs [`Source::sqlite`], which says
    /// what to read from it.
    pub fn path(path: impl AsRef<Path>, format: Option<Format>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(url) = path.to_str().filter(|text| cloud::is_url(text)) {
            return Source::object(url, format);
        }
        let pattern = path.display().to_string();
        let mut paths = if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(Error::io("cannot list", path))?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(Error::io("cannot list", path))?;
                let file = entry.path();
                if file.is_file() && in_directory(&file, format) {
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
        if paths.is_empty() {
            return Err(Error::NoInput { pattern });
        }
        Source::of_files(
            paths.into_iter().map(FileRef::Local).collect(),
            format,
            pattern,
        )
    }

    /// Objects in object storage, named by a URL: one object (`s3://bucket/in/rows.parquet`),
    /// the objects directly under a prefix, like a directory's files (`s3://bucket/in/`, or
    /// `s3://bucket/in` when no object has that key), or a glob over keys
    /// (`gs://bucket/in/part-*.parquet`: `*`, `?` and `[...]` stay within one level of `/`,
    /// `**` spans levels). Also `az://container/...` (or `abfss://...`), and one file served
    /// at an `https://` URL.
    ///
    /// The store's client is polars': credentials, region and endpoint come from the usual
    /// environment variables and profile files (see `docs/batch.md`). Objects are listed
    /// here, and then read one after the other, streamed: Parquet and Arrow IPC a row group
    /// at a time by range requests, CSV and NDJSON through one streamed `GET`.
    ///
    /// No matching object is [`Error::NoObject`]; a missing bucket [`Error::NoBucket`];
    /// refused credentials [`Error::AccessDenied`]; another scheme
    /// [`Error::UnsupportedScheme`]. Reading from a web server that ignores range requests
    /// fails with [`Error::NoRangeRequests`].
    pub fn object(url: &str, format: Option<Format>) -> Result<Self> {
        let url = ObjectUrl::parse(url)?;
        let (objects, listed) = cloud::find(&url)?;
        let files: Vec<FileRef> = objects
            .into_iter()
            .map(FileRef::Object)
            .filter(|file| !listed || in_directory(file.file_name(), format))
            .collect();
        if files.is_empty() {
            return Err(Error::NoObject {
                url: url.to_string(),
            });
        }
        Source::of_files(files, format, url.to_string())
    }

    /// Files of rows found by `pattern` (a path, a directory, a glob or a URL), in `format`
    /// or the one their extensions say.
    fn of_files(files: Vec<FileRef>, format: Option<Format>, pattern: String) -> Result<Self> {
        let Some(first) = files.first() else {
            return Err(Error::NoInput { pattern });
        };
        let format = match format {
            Some(format) => format,
            None => {
                let format =
                    Format::from_path(first.file_name()).ok_or_else(|| Error::UnknownFormat {
                        path: first.name().to_owned(),
                    })?;
                if let Some(other) = files
                    .iter()
                    .filter_map(|f| Format::from_path(f.file_name()))
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
            let how = match first {
                FileRef::Local(_) => "name a table (--input-table) or a query (--query)",
                FileRef::Object(_) => "SQLite databases are read from local files only",
            };
            return Err(Error::InvalidOption(format!(
                "`{pattern}` is a SQLite database: {how}"
            )));
        }
        let csv = CsvOptions {
            delimiter: crate::io::csv::default_delimiter(first.file_name()),
            ..CsvOptions::default()
        };
        Ok(Source {
            input: Input::Files {
                format,
                files,
                csv,
                inferred: InferredSchemas::default(),
            },
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
        if let Input::Files { csv, inferred, .. } = &mut self.input {
            *csv = options;
            // Schemas inferred under the old options (another delimiter, say) no longer hold.
            *inferred = InferredSchemas::default();
        }
        self
    }

    /// Reads only one shard of the input.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// The files (local, or objects) read, for file input.
    pub fn files(&self) -> &[FileRef] {
        match &self.input {
            Input::Files { files, .. } => files,
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
            Input::Files { files, format, .. } if files.len() == 1 => {
                format!("{} ({format})", files[0])
            }
            Input::Files { files, format, .. } => format!("{} {format} files", files.len()),
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
            Input::Files {
                format,
                files,
                csv,
                inferred,
            } => {
                let file = files.first().ok_or_else(|| Error::NoInput {
                    pattern: String::new(),
                })?;
                Ok(
                    io::schema_of(format.scan(file, csv, None, inferred)?, file)?
                        .as_ref()
                        .clone(),
                )
            }
            Input::Sqlite { path, what } => sqlite::schema(path, what),
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
            Input::Files {
                format,
                files,
                csv,
                inferred,
            } => match files.first() {
                Some(file) => io::schema_of(format.scan(file, csv, Some(hints), inferred)?, file)?
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
            (Input::Files { files, .. }, None) => Ok((0..files.len()).map(whole).collect()),
            (Input::Files { files, format, .. }, Some(shard)) if files.len() > 1 => {
                format.share(files, shard)
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
            Input::Files {
                format, files, csv, ..
            } => {
                let mut total = 0;
                for file in files {
                    total += format.count_rows(file, csv)?;
                }
                Ok(total)
            }
            Input::Sqlite { path, what } => sqlite::count_rows(path, what),
            Input::Postgres(read) => postgres::count_rows(read),
            Input::Frame(df) => Ok(df.height() as u64),
            Input::Lazy(lf) => {
                crate::io::polars::count(lf.as_ref().clone(), "cannot count the lazy frame's rows")
            }
        }
    }
}

/// Whether a file listed in a directory (or under a prefix of object storage) is one to
/// read: a visible name with a known extension (of `format`, when it is given; an unknown
/// extension passes when the format is named).
fn in_directory(file: &Path, format: Option<Format>) -> bool {
    let hidden = file
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'));
    let known = format.map_or_else(
        || Format::from_path(file).is_some(),
        |f| Format::from_path(file).is_none_or(|g| g == f),
    );
    !hidden && known
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
                    Input::Files {
                        format, files, csv, ..
                    } => format.count_rows(&files[part.index], csv)?,
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
                format,
                files,
                csv,
                inferred,
            } => {
                let file = &files[part.index];
                let job = format.read(FileRead {
                    file,
                    csv,
                    hints: &self.hints,
                    inferred,
                    part,
                    chunk_rows,
                })?;
                (Some(file.name().to_owned()), Producer::spawn(job))
            }
            Input::Lazy(lf) => {
                let lf = crate::io::polars::slice(lf.as_ref().clone(), part);
                let context = "cannot run the lazy frame".to_owned();
                let job = crate::io::polars::stream(lf, chunk_rows, context);
                (None, Producer::spawn(job))
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
                let producer = Producer::spawn(move |send| postgres::read(&read, chunk_rows, send));
                (None, producer)
            }
            Input::Sqlite { path, what } => {
                let job = sqlite::read(
                    path.clone(),
                    what.clone(),
                    part,
                    chunk_rows,
                    self.schema.clone(),
                );
                let producer = Producer::spawn(job);
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
