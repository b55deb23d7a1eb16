//! The formats Verdict reads and writes, and which backend handles each.
//!
//! Sources and sinks name a [`Format`]; the methods below are the only places that turn a
//! file format into its backend, one `match` per operation, so a new file format is one new
//! backend file and one new variant here.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use polars::prelude::{LazyFrame, Schema};

use super::csv::CsvOptions;
use super::{
    Encoder, FileRead, FileRef, InferredSchemas, Part, ReadHints, ReadJob, Shard, SharedWriter,
    csv, ndjson,
};
use crate::error::{Error, Result};

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

    /// A lazy scan of one file. With `hints`, the feature columns of a text file get fixed
    /// types; a text file's schema is inferred once, into `inferred`.
    pub(crate) fn scan(
        self,
        file: &FileRef,
        csv: &CsvOptions,
        hints: Option<&ReadHints>,
        inferred: &InferredSchemas,
    ) -> Result<LazyFrame> {
        file.refine(match self {
            Format::Csv => csv::scan(file, csv, hints, inferred),
            Format::Parquet => super::polars::scan_parquet(file),
            Format::Ipc => super::polars::scan_ipc(file),
            Format::Ndjson => ndjson::scan(file, hints, inferred),
            Format::Sqlite => Err(not_a_file(file.name())),
        })
    }

    /// The rows of one file: CSV and NDJSON records are counted with bounded memory, the
    /// other formats by polars (Parquet and IPC from their metadata).
    pub(crate) fn count_rows(self, file: &FileRef, csv: &CsvOptions) -> Result<u64> {
        file.refine(match self {
            Format::Csv => csv::count_records(file, csv),
            Format::Ndjson => ndjson::count_records(file),
            Format::Parquet => super::polars::count_rows(super::polars::scan_parquet(file)?, file),
            Format::Ipc => super::polars::count_rows(super::polars::scan_ipc(file)?, file),
            Format::Sqlite => Err(not_a_file(file.name())),
        })
    }

    /// The parts of many files that are `shard`'s: whole files, or for Parquet the row
    /// groups, which share the rows out more evenly.
    pub(crate) fn share(self, files: &[FileRef], shard: Shard) -> Result<Vec<Part>> {
        match self {
            Format::Parquet => super::polars::row_group_parts(files, shard),
            _ => {
                let (start, end) = shard.range(files.len() as u64);
                Ok((start as usize..end as usize)
                    .map(|index| Part {
                        index,
                        offset: 0,
                        len: None,
                    })
                    .collect())
            }
        }
    }

    /// Starts reading a part of a file, in chunks with the types its hints ask for. What can
    /// fail before the first row (the schema) fails here.
    ///
    /// The job refines its errors as [`FileRef::refine`] does, so that an object that goes
    /// missing or a credential that expires mid-read says so.
    pub(crate) fn read(self, read: FileRead<'_>) -> Result<ReadJob> {
        let file = read.file;
        let job = file.refine(match self {
            Format::Csv => csv::read(read),
            Format::Ndjson => ndjson::read(read),
            Format::Parquet | Format::Ipc => {
                let lf = self.scan(file, read.csv, Some(read.hints), read.inferred)?;
                let context = format!("cannot read {file}");
                let lf = super::polars::slice(lf, read.part);
                Ok(super::polars::stream(lf, read.chunk_rows, context))
            }
            Format::Sqlite => Err(not_a_file(file.name())),
        })?;
        let file = file.clone();
        Ok(Box::new(move |send| file.refine(job(send))))
    }

    /// The encoder that writes chunks of `schema` into `output`, which becomes `target` (a
    /// path or an object's URL, whose extension a CSV encoder reads: tabs for `.tsv`).
    pub(crate) fn encoder(
        self,
        output: SharedWriter,
        target: &Path,
        schema: &Schema,
    ) -> Result<Box<dyn Encoder>> {
        match self {
            Format::Csv => csv::encoder(output, target, schema),
            Format::Parquet => super::polars::parquet_encoder(output, target, schema),
            Format::Ipc => super::polars::ipc_encoder(output, target, schema),
            Format::Ndjson => Ok(ndjson::encoder(output)),
            Format::Sqlite => Err(Error::InvalidOption(
                "a SQLite output is a table, not a file".to_owned(),
            )),
        }
    }
}

/// The error for a SQLite database where a file of rows was expected.
fn not_a_file(path: &Path) -> Error {
    Error::InvalidOption(format!(
        "{} is a SQLite database, not a file of rows",
        path.display()
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_formats_from_extensions() {
        assert_eq!(Format::from_path(Path::new("a/b.CSV")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("x.feather")), Some(Format::Ipc));
        assert_eq!(Format::from_path(Path::new("x.db")), Some(Format::Sqlite));
        assert_eq!(Format::from_path(Path::new("x.xlsx")), None);
    }
}
