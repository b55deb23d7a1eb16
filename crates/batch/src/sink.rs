//! Where predictions go: a CSV, Parquet, Arrow IPC or NDJSON file, or a SQLite table.
//!
//! Output is all or nothing. A file is written to a temporary file beside its target
//! (`.NAME.XXXXXX.partial`, hidden, so nothing mistakes it for a result) and renamed over the
//! target only once complete and synced; a failed or cancelled run deletes it, and the next run
//! removes what a killed one left. A SQLite table is written
//! in one transaction (`replace` drops and recreates the table inside it), which a failed run
//! rolls back; the database is in write-ahead-log mode, so readers see the old table
//! throughout. A new database is built in a partial and moved into place once committed.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use rusqlite::types::Value;

use crate::error::{Error, Result};
use crate::partial;
use crate::source::{Format, Source, quote_identifier};

/// What to do when the output file or table already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfExists {
    /// Stop with an error before any row is scored (the default).
    #[default]
    Fail,
    /// Add the rows to the existing SQLite table, whose columns must include the output's.
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

/// Where the predictions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    target: Target,
    if_exists: IfExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    File { path: PathBuf, format: Format },
    Sqlite { path: PathBuf, table: String },
}

/// The table a SQLite output gets when none is named.
pub const DEFAULT_TABLE: &str = "predictions";

impl Sink {
    /// A file in `format`, or the format its extension says. A SQLite database
    /// (`.sqlite`, `.sqlite3`, `.db`) gets the table [`DEFAULT_TABLE`]; name another with
    /// [`Sink::sqlite`].
    pub fn path(path: impl Into<PathBuf>, format: Option<Format>) -> Result<Self> {
        let path = path.into();
        let format = match format {
            Some(format) => format,
            None => Format::from_path(&path)
                .ok_or_else(|| Error::UnknownFormat { path: path.clone() })?,
        };
        let target = match format {
            Format::Sqlite => Target::Sqlite {
                path,
                table: DEFAULT_TABLE.to_owned(),
            },
            format => Target::File { path, format },
        };
        Ok(Sink {
            target,
            if_exists: IfExists::Fail,
        })
    }

    /// The table `table` of the SQLite database at `path`, created if need be.
    pub fn sqlite(path: impl Into<PathBuf>, table: impl Into<String>) -> Self {
        Sink {
            target: Target::Sqlite {
                path: path.into(),
                table: table.into(),
            },
            if_exists: IfExists::Fail,
        }
    }

    /// Sets what happens when the output exists.
    pub fn with_if_exists(mut self, if_exists: IfExists) -> Self {
        self.if_exists = if_exists;
        self
    }

    /// The output's format.
    pub fn format(&self) -> Format {
        match &self.target {
            Target::File { format, .. } => *format,
            Target::Sqlite { .. } => Format::Sqlite,
        }
    }

    /// The output file or database.
    pub fn output_path(&self) -> &Path {
        match &self.target {
            Target::File { path, .. } | Target::Sqlite { path, .. } => path,
        }
    }

    /// Checks, before anything is read, that the run may write here: the output is not an
    /// input, it does not exist unless told to replace it, and files are not appended to.
    pub(crate) fn check(&self, source: &Source) -> Result<()> {
        let path = self.output_path();
        let inputs: Vec<&Path> = source
            .files()
            .iter()
            .map(PathBuf::as_path)
            .chain(source.sqlite_path())
            .collect();
        if let Ok(output) = path.canonicalize()
            && inputs
                .iter()
                .any(|input| input.canonicalize().is_ok_and(|i| i == output))
        {
            return Err(Error::OutputIsInput {
                path: path.to_owned(),
            });
        }
        match &self.target {
            Target::File { path, format } => {
                if self.if_exists == IfExists::Append {
                    return Err(Error::InvalidOption(format!(
                        "cannot append to a {format} file; append works for SQLite tables, \
                         and files are replaced whole (--if-exists replace)"
                    )));
                }
                if path.is_dir() {
                    return Err(Error::InvalidOption(format!(
                        "the output {} is a directory; name a file",
                        path.display()
                    )));
                }
                if self.if_exists == IfExists::Fail && path.exists() {
                    return Err(Error::OutputExists {
                        what: path.display().to_string(),
                        hint: "",
                    });
                }
            }
            Target::Sqlite { path, table } => {
                if self.if_exists == IfExists::Fail && table_exists_at(path, table)? {
                    return Err(Error::OutputExists {
                        what: format!("table `{table}` of {}", path.display()),
                        hint: ", or --if-exists append to add to it",
                    });
                }
            }
        }
        Ok(())
    }

    /// Starts writing chunks with columns `schema`.
    pub(crate) fn open(&self, schema: &Schema) -> Result<Box<dyn Writer>> {
        match &self.target {
            Target::File { path, format } => Ok(Box::new(FileWriter::create(
                path,
                *format,
                schema,
                self.if_exists,
            )?)),
            Target::Sqlite { path, table } => Ok(Box::new(SqliteWriter::create(
                path,
                table,
                schema,
                self.if_exists,
            )?)),
        }
    }
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::File { path, .. } => write!(f, "{}", path.display()),
            Target::Sqlite { path, table } => write!(f, "{}, table {table}", path.display()),
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

/// A buffered file that the polars writer and this module both hold, so that the buffer
/// can be flushed, with its error seen, after the polars writer is done. (Polars' batched
/// writers do not give their writer back.)
#[derive(Clone)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl SharedFile {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut file = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("a writer thread panicked"))?;
        f(&mut file)
    }
}

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.with(|file| file.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.with(|file| file.write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.with(|file| file.flush())
    }
}

enum Encoder {
    Csv(polars::io::csv::write::BatchedWriter<SharedFile>),
    Parquet(Box<polars::io::parquet::write::BatchedWriter<SharedFile>>),
    Ipc(polars::io::ipc::BatchedWriter<SharedFile>),
    Ndjson(polars::io::json::BatchedWriter<SharedFile>),
}

struct FileWriter {
    target: PathBuf,
    /// Taken when the output is moved into place.
    temp: Option<tempfile::NamedTempFile>,
    file: SharedFile,
    encoder: Encoder,
    if_exists: IfExists,
}

impl FileWriter {
    fn create(target: &Path, format: Format, schema: &Schema, if_exists: IfExists) -> Result<Self> {
        let temp = partial::create(target)?;
        let handle = temp
            .as_file()
            .try_clone()
            .map_err(Error::io("cannot write", temp.path()))?;
        let file = SharedFile(Arc::new(Mutex::new(BufWriter::with_capacity(
            1 << 20,
            handle,
        ))));
        let context = || format!("cannot write {}", target.display());
        let encoder = match format {
            Format::Csv => {
                let separator = if target
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
                {
                    b'\t'
                } else {
                    b','
                };
                Encoder::Csv(
                    CsvWriter::new(file.clone())
                        .include_header(true)
                        .with_separator(separator)
                        .batched(schema)
                        .map_err(Error::polars(context()))?,
                )
            }
            Format::Parquet => Encoder::Parquet(Box::new(
                ParquetWriter::new(file.clone())
                    .batched(schema)
                    .map_err(Error::polars(context()))?,
            )),
            Format::Ipc => {
                let arrow_schema = schema.to_arrow(CompatLevel::newest());
                let fields =
                    polars_arrow::io::ipc::write::default_ipc_fields(arrow_schema.iter_values());
                Encoder::Ipc(
                    IpcWriter::new(file.clone())
                        .batched(schema, fields)
                        .map_err(Error::polars(context()))?,
                )
            }
            Format::Ndjson => Encoder::Ndjson(polars::io::json::BatchedWriter::new(file.clone())),
            Format::Sqlite => {
                return Err(Error::InvalidOption(
                    "a SQLite output is a table, not a file".to_owned(),
                ));
            }
        };
        Ok(FileWriter {
            target: target.to_owned(),
            temp: Some(temp),
            file,
            encoder,
            if_exists,
        })
    }
}

impl Writer for FileWriter {
    fn write(&mut self, chunk: &DataFrame) -> Result<()> {
        let result = match &mut self.encoder {
            Encoder::Csv(w) => w.write_batch(chunk),
            Encoder::Parquet(w) => w.write_batch(chunk),
            Encoder::Ipc(w) => w.write_batch(chunk),
            Encoder::Ndjson(w) => w.write_batch(chunk),
        };
        result.map_err(Error::polars(format!(
            "cannot write {}",
            self.target.display()
        )))
    }

    fn finish(&mut self) -> Result<()> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        let context = format!("cannot write {}", self.target.display());
        let result = match &mut self.encoder {
            Encoder::Csv(w) => w.finish(),
            Encoder::Parquet(w) => w.finish().map(drop),
            Encoder::Ipc(w) => w.finish(),
            Encoder::Ndjson(_) => Ok(()),
        };
        result.map_err(Error::polars(context))?;
        self.file
            .flush()
            .map_err(Error::io("cannot write", temp.path()))?;
        temp.as_file()
            .sync_all()
            .map_err(Error::io("cannot sync", temp.path()))?;
        let persisted = if self.if_exists == IfExists::Replace {
            temp.persist(&self.target)
        } else {
            // The target may have appeared since the check; never clobber it.
            temp.persist_noclobber(&self.target)
        };
        persisted.map_err(|e| Error::Io {
            action: "cannot move the finished output to",
            path: self.target.clone(),
            source: e.error,
        })?;
        Ok(())
    }
}

fn table_exists(conn: &rusqlite::Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1",
        [table],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn table_exists_at(path: &Path, table: &str) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(Error::sqlite(format!(
                "cannot open the SQLite database {}",
                path.display()
            )))?;
    table_exists(&conn, table).map_err(Error::sqlite(format!(
        "cannot read the tables of {}",
        path.display()
    )))
}

/// The SQLite type of a polars column.
fn sql_type(dtype: &DataType) -> &'static str {
    if dtype.is_integer() || dtype.is_bool() {
        "INTEGER"
    } else if dtype.is_float() {
        "REAL"
    } else if matches!(dtype, DataType::Binary) {
        "BLOB"
    } else {
        "TEXT"
    }
}

struct SqliteWriter {
    conn: Option<rusqlite::Connection>,
    path: PathBuf,
    table: String,
    insert: String,
    /// A new database is built in a partial and moved into place once committed, so a
    /// killed run never leaves an empty or half-made database under the target's name.
    created: Option<tempfile::NamedTempFile>,
}

impl SqliteWriter {
    fn create(path: &Path, table: &str, schema: &Schema, if_exists: IfExists) -> Result<Self> {
        let created = if path.exists() {
            None
        } else {
            Some(partial::create(path)?)
        };
        let context = |what: &str| format!("cannot {what} in {}", path.display());
        let opened = created.as_ref().map_or(path, |temp| temp.path());
        let conn = rusqlite::Connection::open(opened).map_err(Error::sqlite(format!(
            "cannot open the SQLite database {}",
            path.display()
        )))?;
        // Write-ahead logging lets readers go on reading the old table for the whole run,
        // which a rollback journal forbids once the run's changes outgrow SQLite's cache.
        // The mode stays with the database. A file system without shared memory keeps the
        // old mode, and the run goes on without it.
        let _ = conn.query_row::<String, _, _>("PRAGMA journal_mode = WAL", [], |row| row.get(0));
        let mut writer = SqliteWriter {
            conn: None,
            path: path.to_owned(),
            table: table.to_owned(),
            insert: String::new(),
            created,
        };
        // From here on, dropping `writer` rolls back and removes a database the run created.
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(Error::sqlite(context("start a transaction")))?;
        let conn = writer.conn.insert(conn);
        let quoted = quote_identifier(table);
        let exists =
            table_exists(conn, table).map_err(Error::sqlite(context("list the tables")))?;
        let mut create = !exists;
        match (exists, if_exists) {
            (true, IfExists::Fail) => {
                return Err(Error::OutputExists {
                    what: format!("table `{table}` of {}", path.display()),
                    hint: ", or --if-exists append to add to it",
                });
            }
            (true, IfExists::Replace) => {
                conn.execute_batch(&format!("DROP TABLE {quoted}"))
                    .map_err(Error::sqlite(context(&format!("drop table `{table}`"))))?;
                create = true;
            }
            (true, IfExists::Append) => {
                let statement = conn
                    .prepare(&format!("SELECT * FROM {quoted} LIMIT 0"))
                    .map_err(Error::sqlite(context(&format!("read table `{table}`"))))?;
                let existing: Vec<String> = statement.column_names().map(str::to_owned).collect();
                let missing: Vec<&str> = schema
                    .iter_names()
                    .map(|n| n.as_str())
                    .filter(|n| !existing.iter().any(|e| e == n))
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::InvalidOption(format!(
                        "cannot append to table `{table}` of {}: it has no column {}",
                        path.display(),
                        missing.join(", ")
                    )));
                }
            }
            (false, _) => {}
        }
        if create {
            let columns: Vec<String> = schema
                .iter()
                .map(|(name, dtype)| format!("{} {}", quote_identifier(name), sql_type(dtype)))
                .collect();
            conn.execute_batch(&format!("CREATE TABLE {quoted} ({})", columns.join(", ")))
                .map_err(Error::sqlite(context(&format!("create table `{table}`"))))?;
        }
        let names: Vec<String> = schema.iter_names().map(|n| quote_identifier(n)).collect();
        let marks = vec!["?"; names.len()].join(", ");
        writer.insert = format!(
            "INSERT INTO {quoted} ({}) VALUES ({marks})",
            names.join(", ")
        );
        Ok(writer)
    }
}

/// One output column, typed for binding.
enum Bound {
    Int(Int64Chunked),
    Float(Float64Chunked),
    Text(StringChunked),
    Blob(BinaryChunked),
}

impl Bound {
    fn new(column: &Column) -> PolarsResult<Self> {
        let dtype = column.dtype();
        let bound = if dtype.is_integer() || dtype.is_bool() {
            Bound::Int(column.cast(&DataType::Int64)?.i64()?.rechunk().into_owned())
        } else if dtype.is_float() {
            Bound::Float(
                column
                    .cast(&DataType::Float64)?
                    .f64()?
                    .rechunk()
                    .into_owned(),
            )
        } else if dtype == &DataType::Binary {
            Bound::Blob(column.binary()?.rechunk().into_owned())
        } else {
            Bound::Text(
                column
                    .cast(&DataType::String)?
                    .str()?
                    .rechunk()
                    .into_owned(),
            )
        };
        Ok(bound)
    }

    fn value(&self, row: usize) -> Value {
        let value = match self {
            Bound::Int(c) => c.get(row).map(Value::Integer),
            Bound::Float(c) => c.get(row).map(Value::Real),
            Bound::Text(c) => c.get(row).map(|s| Value::Text(s.to_owned())),
            Bound::Blob(c) => c.get(row).map(|b| Value::Blob(b.to_vec())),
        };
        value.unwrap_or(Value::Null)
    }
}

impl Writer for SqliteWriter {
    fn write(&mut self, chunk: &DataFrame) -> Result<()> {
        let context = format!(
            "cannot insert into table `{}` of {}",
            self.table,
            self.path.display()
        );
        let Some(conn) = self.conn.as_ref() else {
            return Ok(());
        };
        let columns = chunk
            .columns()
            .iter()
            .map(Bound::new)
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(Error::polars(context.clone()))?;
        let mut statement = conn
            .prepare_cached(&self.insert)
            .map_err(Error::sqlite(context.clone()))?;
        for row in 0..chunk.height() {
            for (index, column) in columns.iter().enumerate() {
                statement
                    .raw_bind_parameter(index + 1, column.value(row))
                    .map_err(Error::sqlite(context.clone()))?;
            }
            statement
                .raw_execute()
                .map_err(Error::sqlite(context.clone()))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(conn) = self.conn.take() {
            let context = format!("cannot commit to {}", self.path.display());
            conn.execute_batch("COMMIT")
                .map_err(Error::sqlite(context.clone()))?;
            conn.close()
                .map_err(|(_, e)| Error::Sqlite { context, source: e })?;
        }
        if let Some(temp) = self.created.take() {
            // The target may have appeared since the check; never clobber it.
            temp.persist_noclobber(&self.path).map_err(|e| Error::Io {
                action: "cannot move the finished database to",
                path: self.path.clone(),
                source: e.error,
            })?;
        }
        Ok(())
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        // Only an unfinished run still holds the connection.
        if let Some(conn) = self.conn.take() {
            let _ = conn.execute_batch("ROLLBACK");
            drop(conn);
        }
        // An unfinished new database: its partial goes when `temp` drops, its side files here.
        if let Some(temp) = self.created.take() {
            for side in partial::SQLITE_SIDE_FILES {
                let mut file = temp.path().as_os_str().to_owned();
                file.push(side);
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

/// Keeps the chunks in memory, for [`Scorer::score_lazy`](crate::Scorer::score_lazy).
#[derive(Default)]
pub(crate) struct MemoryWriter {
    pub(crate) chunks: Vec<DataFrame>,
}

impl Writer for MemoryWriter {
    fn write(&mut self, chunk: &DataFrame) -> Result<()> {
        self.chunks.push(chunk.clone());
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
