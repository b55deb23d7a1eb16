//! Where predictions go: a CSV, Parquet, Arrow IPC or NDJSON file, on this machine or in
//! object storage, or a SQLite or PostgreSQL table.
//!
//! Output is all or nothing. A file is written to a temporary file beside its target
//! (`.NAME.XXXXXX.partial`, hidden, so nothing mistakes it for a result) and renamed over the
//! target only once complete and synced; a failed or cancelled run deletes it, and the next run
//! removes what a killed one left. An object is uploaded in parts under its own key, which
//! the store shows only once the upload is completed at the end (a failed or cancelled run
//! aborts it; see `io/cloud/write.rs`). That commit is this file's, through a `Staging`; the
//! bytes of each format are its backend's encoder (in `io/`, chosen by [`Format`]). A SQLite or
//! PostgreSQL table is written in one transaction, which a failed run rolls back and whose
//! commit makes the rows visible at once (see `io/sqlite.rs` and [`crate::postgres`]).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

pub use crate::io::IfExists;
pub(crate) use crate::io::Writer;
pub use crate::io::sqlite::DEFAULT_TABLE;

use crate::error::{Error, Result};
use crate::io::cloud::{self, ObjectUrl};
use crate::io::postgres::{Database, PostgresWriter};
use crate::io::sqlite::{self, SqliteWriter};
use crate::io::{Encoder, FileRef, Format, SharedWriter, Staging};
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
    Object {
        url: ObjectUrl,
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
    /// [`Sink::sqlite`]. A URL (`s3://bucket/out/scores.parquet`) is an object, as
    /// [`Sink::object`] writes it.
    pub fn path(path: impl Into<PathBuf>, format: Option<Format>) -> Result<Self> {
        let path = path.into();
        if let Some(url) = path.to_str().filter(|text| cloud::is_url(text)) {
            return Sink::object(url, format);
        }
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

    /// An object in object storage (`s3://bucket/out/scores.parquet`, `gs://...`,
    /// `az://...`), in `format` or the format its key's extension says (not SQLite).
    ///
    /// It is uploaded in parts of 8 MiB (a few at a time, so memory stays bounded) under its
    /// own key, and appears, whole and at once, when the run completes the upload at its
    /// end; a failed or cancelled run aborts the upload, leaving nothing. Credentials,
    /// region and endpoint come from the environment, as for [`Source::object`].
    pub fn object(url: &str, format: Option<Format>) -> Result<Self> {
        let url = ObjectUrl::parse(url)?;
        let format = match format {
            Some(format) => format,
            None => Format::from_path(Path::new(url.file_name())).ok_or_else(|| {
                Error::UnknownFormat {
                    path: url.as_path().to_owned(),
                }
            })?,
        };
        if format == Format::Sqlite {
            return Err(Error::InvalidOption(format!(
                "cannot write a SQLite database to object storage ({url}); write a file format \
                 (parquet, csv, ipc, ndjson), or a local database"
            )));
        }
        Ok(Sink {
            target: Target::Object { url, format },
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
            Target::File { format, .. } | Target::Object { format, .. } => Some(*format),
            Target::Sqlite { .. } => Some(Format::Sqlite),
            Target::Postgres { .. } => None,
        }
    }

    /// The output file or SQLite database; `None` for a PostgreSQL table or an object.
    pub fn output_path(&self) -> Option<&Path> {
        match &self.target {
            Target::File { path, .. } | Target::Sqlite { path, .. } => Some(path),
            Target::Object { .. } | Target::Postgres { .. } => None,
        }
    }

    /// The output object; `None` for other outputs.
    pub fn output_url(&self) -> Option<&ObjectUrl> {
        match &self.target {
            Target::Object { url, .. } => Some(url),
            _ => None,
        }
    }

    /// Checks, before anything is read, that the run may write here: the output is not an
    /// input, it does not exist unless told to replace it, and files are not appended to.
    pub(crate) fn check(&self, source: &Source) -> Result<()> {
        let inputs: Vec<&Path> = source
            .files()
            .iter()
            .filter_map(|file| match file {
                FileRef::Local(path) => Some(path.as_path()),
                FileRef::Object(_) => None,
            })
            .chain(source.sqlite_path())
            .collect();
        if let Some(url) = self.output_url()
            && source
                .files()
                .iter()
                .any(|file| matches!(file, FileRef::Object(input) if input == url))
        {
            return Err(Error::OutputIsInput {
                path: url.as_path().to_owned(),
            });
        }
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
            Target::Object { url, .. } => cloud::write::check_target(url, self.if_exists)?,
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
            Target::File { path, format } => Ok(Box::new(FileWriter::local(
                path,
                *format,
                schema,
                self.if_exists,
            )?)),
            Target::Object { url, format } => Ok(Box::new(FileWriter::object(
                url,
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
            Target::Object { url, .. } => write!(f, "{url}"),
            Target::Sqlite { path, table } => write!(f, "{}, table {table}", path.display()),
            Target::Postgres { database, table } => write!(f, "{database}, table {table}"),
        }
    }
}

/// A file's bytes from its format's encoder, kept out of sight by a [`Staging`] until the
/// whole output is written: a partial beside a local target, or an object's upload.
struct FileWriter {
    /// The path or URL, for messages.
    target: String,
    output: SharedWriter,
    encoder: Box<dyn Encoder>,
    /// Taken by the commit. Dropped without one, it leaves nothing visible.
    staging: Option<Box<dyn Staging>>,
}

impl FileWriter {
    /// A local file, written to a hidden partial beside `target` and renamed over it.
    fn local(target: &Path, format: Format, schema: &Schema, if_exists: IfExists) -> Result<Self> {
        let temp = partial::create(target)?;
        let handle = temp
            .as_file()
            .try_clone()
            .map_err(Error::io("cannot write", temp.path()))?;
        let output = SharedWriter::new(handle);
        let encoder = format.encoder(output.clone(), target, schema)?;
        let staging = Partial {
            target: target.to_owned(),
            temp: Some(temp),
            if_exists,
        };
        Ok(FileWriter {
            target: target.display().to_string(),
            output,
            encoder,
            staging: Some(Box::new(staging)),
        })
    }

    /// An object, uploaded in parts under its key and made visible by completing the upload.
    fn object(
        url: &ObjectUrl,
        format: Format,
        schema: &Schema,
        if_exists: IfExists,
    ) -> Result<Self> {
        let (upload, staging) = cloud::write::start(url, if_exists)?;
        let output = SharedWriter::new(upload);
        let encoder = format.encoder(output.clone(), Path::new(url.file_name()), schema)?;
        Ok(FileWriter {
            target: url.to_string(),
            output,
            encoder,
            staging: Some(staging),
        })
    }
}

impl Writer for FileWriter {
    fn write(&mut self, chunk: &DataFrame) -> Result<()> {
        self.encoder
            .write(chunk)
            .map_err(Error::polars(format!("cannot write {}", self.target)))
    }

    fn finish(&mut self) -> Result<()> {
        let Some(mut staging) = self.staging.take() else {
            return Ok(());
        };
        let context = format!("cannot write {}", self.target);
        self.encoder.finish().map_err(Error::polars(context))?;
        self.output
            .flush()
            .map_err(Error::io("cannot write", self.target.clone()))?;
        staging.commit()
    }
}

/// A local output's partial: synced, then renamed over the target.
struct Partial {
    target: PathBuf,
    /// Taken when the output is moved into place; dropped, it deletes the partial.
    temp: Option<tempfile::NamedTempFile>,
    if_exists: IfExists,
}

impl Staging for Partial {
    fn commit(&mut self) -> Result<()> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
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
