//! CSV files read in blocks of whole records, so that memory follows the chunk size and not
//! the file's (a 450 MB CSV scanned by polars, memory-mapped whole, held 451 MiB of mapped
//! pages on top of the working memory).
//!
//! A thread cuts the file into blocks of `chunk_rows` records (a newline outside quotes; see
//! [`records`](super::records)) and parses each block on all cores ([`parse`]).

use std::fs::File;
use std::io::BufReader;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use self::parse::{Layout, PIECE_ROWS};
use super::records::{Records, send_blocks};
use super::{CsvOptions, Part, Producer};
use crate::error::{Error, Result};

#[cfg(feature = "fuzzing")]
pub(super) mod fuzzing;
mod parse;

/// The quote character, as polars' parser uses it (RFC 4180: a doubled quote inside a
/// quoted field stands for one quote, which the toggling below handles without a special
/// case).
const QUOTE: u8 = b'"';

/// The records (data rows) of a CSV file, read with bounded memory.
pub(super) fn count_records(path: &Path, csv: &CsvOptions) -> Result<u64> {
    open_records(path, csv)?.count(path)
}

/// Reads `part` of the CSV file at `path` in a thread, `chunk_rows` records at a time, into
/// frames of `schema` (every column of the file, in order, with the types to parse).
///
/// `numeric` names the columns that must be numbers; they are parsed straight into `f64`.
pub(super) fn spawn(
    path: PathBuf,
    csv: CsvOptions,
    schema: SchemaRef,
    numeric: Vec<String>,
    part: Part,
    chunk_rows: NonZeroUsize,
) -> Producer {
    Producer::spawn(move |send| {
        let layout = Layout::new(schema, &numeric, &csv);
        let records = open_records(&path, &csv)?;
        send_blocks(
            records,
            &path,
            part,
            chunk_rows,
            PIECE_ROWS,
            send,
            |block, pieces, first_row| layout.parse(block, pieces, first_row, &path),
        )
    })
}

/// The records of the CSV file at `path`, past its header line when it has one.
fn open_records(path: &Path, csv: &CsvOptions) -> Result<Records<BufReader<File>>> {
    let mut records = Records::open(path, Some(QUOTE))?;
    if csv.has_header {
        records
            .skip(1)
            .map_err(Error::io("cannot read the header of", path))?;
    }
    Ok(records)
}
