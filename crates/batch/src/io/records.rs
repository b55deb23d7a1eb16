//! Cutting a file into blocks of whole records with bounded memory, for the text formats:
//! CSV (a record ends at a newline outside quotes) and NDJSON (a record is a line: JSON text
//! cannot hold a raw newline).
//!
//! polars' scans of these formats memory-map the whole file, and every page they have read
//! stays resident until the scan ends, so a run's peak RSS grew with the file. Here a thread
//! reads the file through a small buffer (an object: its response body as it arrives) and
//! hands on blocks of `chunk_rows` records.

use polars::prelude::DataFrame;
use std::io::{self, BufRead};
use std::num::NonZeroUsize;
use std::path::Path;

use super::{ChunkSender, FileRef, Part};
use crate::error::{Error, Result};

/// Cuts a byte stream into records: a record ends at a newline (outside quotes, when there is
/// a quote character), or at the end of the input if it has bytes there.
pub(super) struct Records<R> {
    input: R,
    /// The quote character: a newline between two of them belongs to the record.
    quote: Option<u8>,
    in_quotes: bool,
    /// Whether bytes of a record not yet ended have been read.
    open_record: bool,
    /// Bytes consumed so far, and where the quote now open (if any) was opened, for errors.
    consumed: u64,
    opened_at: u64,
}

impl Records<Box<dyn BufRead + Send>> {
    /// Reads the file (or object) `file`.
    pub(super) fn open(file: &FileRef, quote: Option<u8>) -> Result<Self> {
        Ok(Records::new(file.open()?, quote))
    }
}

impl<R: BufRead> Records<R> {
    pub(super) fn new(input: R, quote: Option<u8>) -> Self {
        Records {
            input,
            quote,
            in_quotes: false,
            open_record: false,
            consumed: 0,
            opened_at: 0,
        }
    }

    /// Appends up to `n` records, with their line ends, to `block`; returns how many.
    pub(super) fn read(&mut self, n: u64, block: &mut Vec<u8>) -> io::Result<u64> {
        self.advance(n, Some(block))
    }

    /// Counts the records left; `path` names the file in errors.
    pub(super) fn count(mut self, path: &Path) -> Result<u64> {
        self.skip(u64::MAX).map_err(Error::io("cannot read", path))
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
                if self.in_quotes {
                    // A record cannot end inside quotes: the rest of the file would be one
                    // field, which no reader agrees on.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the file ends inside a quoted field: the quote at byte {} is never \
                             closed",
                            self.opened_at
                        ),
                    ));
                }
                if self.open_record {
                    self.open_record = false;
                    done += 1;
                }
                break;
            }
            let mut at = 0;
            while at < buffer.len() && done < n {
                let rest = &buffer[at..];
                let found = match self.quote {
                    Some(quote) if self.in_quotes => memchr::memchr(quote, rest),
                    Some(quote) => memchr::memchr2(b'\n', quote, rest),
                    None => memchr::memchr(b'\n', rest),
                };
                let Some(offset) = found else {
                    self.open_record = true;
                    at = buffer.len();
                    break;
                };
                at += offset + 1;
                if Some(rest[offset]) == self.quote {
                    self.in_quotes = !self.in_quotes;
                    if self.in_quotes {
                        self.opened_at = self.consumed + (at - 1) as u64;
                    }
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
            self.consumed += at as u64;
        }
        Ok(done)
    }
}

/// A run of whole records in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Piece {
    /// The offset in the block just past the run's last record.
    pub(super) end: usize,
    /// How many records the run holds.
    pub(super) rows: usize,
}

/// Sends the frames of `part`, a block of up to `chunk_rows` records at a time, until the
/// part ends or the receiver goes.
///
/// Each block is read in pieces of up to `piece_rows` records; `parse` gets the block, its
/// pieces and the 1-based row of its first record.
pub(super) fn send_blocks<R: BufRead>(
    mut records: Records<R>,
    path: &Path,
    part: Part,
    chunk_rows: NonZeroUsize,
    piece_rows: u64,
    send: &ChunkSender,
    mut parse: impl FnMut(&[u8], &[Piece], u64) -> Result<DataFrame>,
) -> Result<()> {
    let read_error = || Error::io("cannot read", path);
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
                .read(wanted.min(piece_rows), &mut block)
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
        let chunk = parse(&block, &pieces, first_row)?;
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
    use std::io::BufReader;

    use super::*;

    fn cut(input: &str, n: u64) -> Vec<String> {
        let mut records = Records::new(BufReader::with_capacity(3, input.as_bytes()), Some(b'"'));
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
    fn a_quote_never_closed_is_an_error_naming_its_byte() {
        // Found by the csv_block fuzz target: the record reader took everything after an
        // unterminated quote as one last record, which then scored or failed obscurely.
        let text = b"a,b\n1,2\n3,\"4\n5,6\n";
        let mut records = Records::new(&text[..], Some(b'"'));
        let mut block = Vec::new();
        let error = records.read(10, &mut block).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("quote at byte 10"), "{error}");
        // Counting the records of such a file fails the same way.
        let error = Records::new(&text[..], Some(b'"'))
            .skip(u64::MAX)
            .unwrap_err();
        assert!(error.to_string().contains("never closed"), "{error}");
        // Closed quotes, newline inside included, are one field as before.
        let fine = b"a,b\n3,\"4\n5\"\n";
        assert_eq!(
            Records::new(&fine[..], Some(b'"')).skip(u64::MAX).unwrap(),
            2
        );
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
        let mut records = Records::new(
            BufReader::with_capacity(2, "1\n\"2\n\"\n3".as_bytes()),
            Some(b'"'),
        );
        assert_eq!(records.skip(2).unwrap(), 2);
        assert_eq!(records.skip(5).unwrap(), 1);
        assert_eq!(records.skip(5).unwrap(), 0);
    }

    #[test]
    fn without_a_quote_character_every_newline_ends_a_record() {
        let mut records = Records::new(
            BufReader::with_capacity(3, "{\"a\": \"x\\\"\"}\n{\"a\": 1}\n".as_bytes()),
            None,
        );
        let mut block = Vec::new();
        assert_eq!(records.read(1, &mut block).unwrap(), 1);
        assert_eq!(block, b"{\"a\": \"x\\\"\"}\n");
        assert_eq!(records.skip(5).unwrap(), 1);
    }
}
