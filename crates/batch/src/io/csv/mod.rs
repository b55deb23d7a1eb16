//! CSV files: read in blocks of whole records, so that memory follows the chunk size and not
//! the file's (a 450 MB CSV scanned by polars, memory-mapped whole, held 451 MiB of mapped
//! pages on top of the working memory), and written by polars' batched CSV writer.
//!
//! A thread cuts the file into blocks of `chunk_rows` records (a newline outside quotes; see
//! [`records`](super::records)) and parses each block on all cores ([`parse`]). polars' lazy
//! scan is used only for what it does well once: the header and the types of the columns
//! that are not features, inferred from the first [`INFER_SCHEMA_ROWS`] records (of an
//! object, polars fetches only the bytes those records take).

use std::io::BufRead;
use std::path::Path;

use polars::io::csv::write::BatchedWriter;
use polars::prelude::*;

use self::parse::{Layout, PIECE_ROWS};
use super::records::{Records, send_blocks};
use super::{
    Batched, Encoder, FileRead, FileRef, INFER_SCHEMA_ROWS, InferredSchemas, ReadHints, ReadJob,
    SharedWriter, schema_of,
};
use crate::error::{Error, Result};

#[cfg(target_arch = "x86_64")]
mod decimal;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
mod parse;

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

/// The quote character, as polars' parser uses it (RFC 4180: a doubled quote inside a
/// quoted field stands for one quote, which the toggling below handles without a special
/// case).
const QUOTE: u8 = b'"';

/// The field separator a CSV file at `path` gets by default: a tab for `.tsv`, else a comma.
pub(crate) fn default_delimiter(path: &Path) -> u8 {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
    {
        b'\t'
    } else {
        b','
    }
}

/// A lazy scan of the CSV file `file`, with the schema inferred from its first rows (once
/// per file, kept in `inferred`); with `hints`, feature columns get fixed types.
pub(super) fn scan(
    file: &FileRef,
    csv: &CsvOptions,
    hints: Option<&ReadHints>,
    inferred: &InferredSchemas,
) -> Result<LazyFrame> {
    let context = || format!("cannot read {file}");
    let mut reader = LazyCsvReader::new(file.pl_path()?)
        .with_has_header(csv.has_header)
        .with_separator(csv.delimiter)
        .with_glob(false);
    if !csv.null_values.is_empty() {
        reader = reader.with_null_values(Some(NullValues::AllColumns(
            csv.null_values.iter().map(|v| v.as_str().into()).collect(),
        )));
    }
    let schema = inferred.schema(file.name(), hints, || {
        let inferring = reader
            .clone()
            .with_infer_schema_length(Some(INFER_SCHEMA_ROWS))
            .finish()
            .map_err(Error::polars(context()))?;
        schema_of(inferring, file)
    })?;
    // A given schema is used as it is: polars infers nothing more.
    reader
        .with_schema(Some(schema))
        .finish()
        .map_err(Error::polars(context()))
}

/// The records (data rows) of a CSV file, read with bounded memory.
pub(super) fn count_records(file: &FileRef, csv: &CsvOptions) -> Result<u64> {
    open_records(file, csv)?.count(file.name())
}

/// Reads a part of a CSV file, `chunk_rows` records at a time, into frames of every column
/// of the file, in order, with the types its hints ask for.
///
/// The numeric features are parsed straight into `f64`.
pub(super) fn read(read: FileRead<'_>) -> Result<ReadJob> {
    let FileRead {
        file,
        csv,
        hints,
        inferred,
        part,
        chunk_rows,
    } = read;
    let schema = schema_of(scan(file, csv, Some(hints), inferred)?, file)?;
    let file = file.clone();
    let csv = csv.clone();
    let numeric = hints.numeric.clone();
    Ok(Box::new(move |send| {
        let layout = Layout::new(schema, &numeric, &csv);
        let records = open_records(&file, &csv)?;
        let path = file.name();
        send_blocks(
            records,
            path,
            part,
            chunk_rows,
            PIECE_ROWS,
            send,
            |block, pieces, first_row| layout.parse(block, pieces, first_row, path),
        )
    }))
}

/// The records of the CSV file `file`, past its header line when it has one.
fn open_records(file: &FileRef, csv: &CsvOptions) -> Result<Records<Box<dyn BufRead + Send>>> {
    let mut records = Records::open(file, Some(QUOTE))?;
    if csv.has_header {
        records
            .skip(1)
            .map_err(Error::io("cannot read the header of", file.name()))?;
    }
    Ok(records)
}

/// A CSV encoder of chunks of `schema`, with a header, tab-separated when `target` is a
/// `.tsv` file.
pub(super) fn encoder(
    output: SharedWriter,
    target: &Path,
    schema: &Schema,
) -> Result<Box<dyn Encoder>> {
    let writer = CsvWriter::new(output)
        .include_header(true)
        .with_separator(default_delimiter(target))
        .batched(schema)
        .map_err(Error::polars(format!("cannot write {}", target.display())))?;
    let (write, finish) = (BatchedWriter::write_batch, BatchedWriter::finish);
    Ok(Batched::boxed(writer, write, finish))
}
