//! CSV files read in blocks of whole records, so that memory follows the chunk size and not
//! the file's.
//!
//! polars' CSV scan maps the whole file into memory; every page it has read stays resident
//! until the scan ends, so a run's peak RSS grew with the file (a 450 MB CSV showed 451 MiB
//! of mapped pages on top of the working memory). Here a thread reads the file through a
//! small buffer, cuts it after every `chunk_rows`-th record (a newline outside quotes), and
//! parses each block on all cores ([`parse`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};

use polars::prelude::*;

use self::parse::{Layout, PIECE_ROWS, Piece};
use super::{CsvOptions, Part, Producer};
use crate::error::{Error, Result};

mod parse;

/// The quote character, as polars' parser uses it (RFC 4180: a doubled quote inside a
/// quoted field stands for one quote, which the toggling below handles without a special
/// case).
const QUOTE: u8 = b'"';

/// Bytes read from the file at a time.
const READ_BUFFER: usize = 1 << 20;

/// Cuts a CSV byte stream into records: a record ends at a newline outside quotes, or at
/// the end of the input if it has bytes there.
pub(super) struct Records<R> {
    input: R,
    in_quotes: bool,
    /// Whether bytes of a record not yet ended have been read.
    open_record: bool,
}

impl Records<BufReader<File>> {
    /// Reads the file at `path`, past its header line when it has one.
    pub(super) fn open(path: &Path, csv: &CsvOptions) -> Result<Self> {
        let file = File::open(path).map_err(Error::io("cannot open", path))?;
        let mut records = Records::new(BufReader::with_capacity(READ_BUFFER, file));
        if csv.has_header {
            records
                .skip(1)
                .map_err(Error::io("cannot read the header of", path))?;
        }
        Ok(records)
    }
}

impl<R: BufRead> Records<R> {
    fn new(input: R) -> Self {
        Records {
            input,
            in_quotes: false,
            open_record: false,
        }
    }

    /// Appends up to `n` records, with their line ends, to `block`; returns how many.
    pub(super) fn read(&mut self, n: u64, block: &mut Vec<u8>) -> io::Result<u64> {
        self.advance(n, Some(block))
    }

    /// Passes over up to `n` records; returns how many.
    pub(super) fn skip(&mut self, n: u64) -> io::Result<u64> {
        self.advance(n, None)
    }

    fn advance(&mut self, n: u64, mut block: Option<&mut Vec<u8>>) -> io::Result<u64> {
        let mut done = 0;
        while done < n {
            let buffer = self.input.fill_buf()?;
            if buffer.is_empty() {
                if self.open_record {
                    self.open_record = false;
                    done += 1;
                }
                break;
            }
            let mut at = 0;
            while at < buffer.len() && done < n {
                let rest = &buffer[at..];
                let found = if self.in_quotes {
                    memchr::memchr(QUOTE, rest)
                } else {
                    memchr::memchr2(b'\n', QUOTE, rest)
                };
                let Some(offset) = found else {
                    self.open_record = true;
                    at = buffer.len();
                    break;
                };
                at += offset + 1;
                if rest[offset] == QUOTE {
                    self.in_quotes = !self.in_quotes;
                    self.open_record = true;
                } else {
                    self.open_record = false;
                    done += 1;
                }
            }
            if let Some(block) = block.as_deref_mut() {
                block.extend_from_slice(&buffer[..at]);
            }
            self.input.consume(at);
        }
        Ok(done)
    }
}

/// The records (data rows) of a CSV file, read with bounded memory.
pub(super) fn count_records(path: &Path, csv: &CsvOptions) -> Result<u64> {
    let mut records = Records::open(path, csv)?;
    records
        .skip(u64::MAX)
        .map_err(Error::io("cannot read", path))
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
    let (send, chunks) = sync_channel::<Result<DataFrame>>(1);
    let handle = std::thread::spawn(move || {
        let layout = Layout::new(schema, &numeric, &csv);
        if let Err(error) = read_blocks(&path, &csv, &layout, part, chunk_rows, &send) {
            let _ = send.send(Err(error));
        }
    });
    Producer::Thread {
        chunks,
        handle: Some(handle),
    }
}

/// Sends the frames of `part`, block by block, until the part ends or the receiver goes.
fn read_blocks(
    path: &Path,
    csv: &CsvOptions,
    layout: &Layout,
    part: Part,
    chunk_rows: NonZeroUsize,
    send: &SyncSender<Result<DataFrame>>,
) -> Result<()> {
    let read_error = || Error::io("cannot read", path);
    let mut records = Records::open(path, csv)?;
    records.skip(part.offset).map_err(read_error())?;
    let mut left = part.len.unwrap_or(u64::MAX);
    let mut first_row = part.offset + 1;
    let mut block = Vec::new();
    let mut pieces = Vec::new();
    while left > 0 {
        block.clear();
        pieces.clear();
        let mut wanted = left.min(chunk_rows.get() as u64);
        while wanted > 0 {
            let read = records
                .read(wanted.min(PIECE_ROWS), &mut block)
                .map_err(read_error())?;
            if read == 0 {
                break;
            }
            pieces.push(Piece {
                end: block.len(),
                rows: read as usize,
            });
            wanted -= read;
        }
        let read: u64 = pieces.iter().map(|p| p.rows as u64).sum();
        if read == 0 {
            break;
        }
        let chunk = layout.parse(&block, &pieces, first_row, path)?;
        if send.send(Ok(chunk)).is_err() {
            // The consumer has gone (it failed, or was dropped).
            return Ok(());
        }
        left -= read;
        first_row += read;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(input: &str, n: u64) -> Vec<String> {
        let mut records = Records::new(BufReader::with_capacity(3, input.as_bytes()));
        let mut out = Vec::new();
        loop {
            let mut block = Vec::new();
            if records.read(n, &mut block).unwrap() == 0 {
                return out;
            }
            out.push(String::from_utf8(block).unwrap());
        }
    }

    #[test]
    fn blocks_end_after_whole_records() {
        assert_eq!(cut("a,b\n1,2\n3,4\n5,6\n", 2), ["a,b\n1,2\n", "3,4\n5,6\n"]);
        assert_eq!(cut("1\r\n2\r\n3", 2), ["1\r\n2\r\n", "3"]);
        assert!(cut("", 2).is_empty());
    }

    #[test]
    fn newlines_and_doubled_quotes_inside_quotes_stay_in_their_record() {
        let input = "\"x\ny\",1\n\"say \"\"hi\"\"\n\",2\n3,\"\"\n4,5\n";
        assert_eq!(
            cut(input, 1),
            [
                "\"x\ny\",1\n",
                "\"say \"\"hi\"\"\n\",2\n",
                "3,\"\"\n",
                "4,5\n"
            ]
        );
    }

    #[test]
    fn skipping_counts_the_records_passed() {
        let mut records = Records::new(BufReader::with_capacity(2, "1\n\"2\n\"\n3".as_bytes()));
        assert_eq!(records.skip(2).unwrap(), 2);
        assert_eq!(records.skip(5).unwrap(), 1);
        assert_eq!(records.skip(5).unwrap(), 0);
    }
}
