//! Where predictions go: a CSV, Parquet, Arrow IPC or NDJSON file, or a SQLite or
//! PostgreSQL table.
//!
//! Output is all or nothing. A file is written to a temporary file beside its target
//! (`.NAME.XXXXXX.partial`, hidden, so nothing mistakes it for a result) and renamed over the
//! target only once complete and synced; a failed or cancelled run deletes it, and the next run
//! removes what a killed one left. That commit is this file's; the bytes of each format are
//! its backend's encoder (in `io/`, chosen by [`Format`]). A SQLite or PostgreSQL table is
//! written in one transaction, which a failed run rolls back and whose commit makes the rows
//! visible at once (see `io/sqlite.rs` and [`crate::postgres`]).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

pub use crate::io::IfExists;
pub(crate) use crate::io::Writer;
pub use crate::io::sqlite::DEFAULT_TABLE;

use crate::error::{Error, Result};
use crate::io::postgres::{Database, PostgresWriter};
use crate::io::sqlite::{self, SqliteWriter};
use crate::io::{Encoder, Format, SharedFile};
use crate::partial;
use crate::source::Source;

/// Where the predictions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    target: Target,
    if_exists: IfExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    File {
        path: PathBuf,
        format: Format,
    },
    Sqlite {
        path: PathBuf,
        table: String,
    },
    Postgres {
        database: Box<Database>,
        table: String,
    },
}

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

    /// The table `table` (or `schema.table`) of a PostgreSQL database, created if need be.
    pub fn postgres(database: Database, table: impl Into<String>) -> Self {
        Sink {
            target: Target::Postgres {
                database: Box::new(database),
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

    /// The output's format; `None` for a PostgreSQL table.
    pub fn format(&self) -> Option<Format> {
        match &self.target {
            Target::File { format, .. } => Some(*format),
            Target::Sqlite { .. } => Some(Format::Sqlite),
            Target::Postgres { .. } => None,
        }
    }

    /// The output file or SQLite database; `None` for a PostgreSQL table.
    pub fn output_path(&self) -> Option<&Path> {
        match &self.target {
            Target::File { path, .. } | Target::Sqlite { path, .. } => Some(path),
            Target::Postgres { .. } => None,
        }
    }

    /// Checks, before anything is read, that the run may write here: the output is not an
    /// input, it does not exist unless told to replace it, and files are not appended to.
    pub(crate) fn check(&self, source: &Source) -> Result<()> {
        let inputs: Vec<&Path> = source
            .files()
            .iter()
            .map(PathBuf::as_path)
            .chain(source.sqlite_path())
            .collect();
        if let Some(path) = self.output_path()
            && let Ok(output) = path.canonicalize()
            && inputs
                .iter()
                .any(|input| input.canonicalize().is_ok_and(|i| i == output))
        {
            return Err(Error::OutputIsInput { path: output });
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
                sqlite::check_target(path, table, self.if_exists)?;
            }
            Target::Postgres { database, table } => {
                crate::io::postgres::check_target(database, table, self.if_exists)?;
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
            Target::Postgres { database, table } => Ok(Box::new(PostgresWriter::create(
                database,
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
            Target::Postgres { database, table } => write!(f, "{database}, table {table}"),
        }
    }
}

/// A file written beside its target and moved into place once complete.
struct FileWriter {
    target: PathBuf,
    /// Taken when the output is moved into place.
    temp: Option<tempfile::NamedTempFile>,
    file: SharedFile,
    encoder: Box<dyn Encoder>,
    if_exists: IfExists,
}

impl FileWriter {
    fn create(target: &Path, format: Format, schema: &Schema, if_exists: IfExists) -> Result<Self> {
        let temp = partial::create(target)?;
        let handle = temp
            .as_file()
            .try_clone()
            .map_err(Error::io("cannot write", temp.path()))?;
        let file = SharedFile::new(handle);
        let encoder = format.encoder(file.clone(), target, schema)?;
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
        self.encoder.write(chunk).map_err(Error::polars(format!(
            "cannot write {}",
            self.target.display()
        )))
    }

    fn finish(&mut self) -> Result<()> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        let context = format!("cannot write {}", self.target.display());
        self.encoder.finish().map_err(Error::polars(context))?;
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
