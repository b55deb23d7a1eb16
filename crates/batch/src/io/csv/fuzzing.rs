//! A block of CSV records parsed as a batch run parses it, for the fuzz target that checks
//! the block parser against polars' own CSV parse (`fuzz/fuzz_targets/csv_block.rs`).

use std::path::Path;

use polars::prelude::*;

use super::parse::Layout;
use super::{CsvOptions, QUOTE};
use crate::error::{Error, Result};
use crate::io::records::{Piece, Records};

/// Parses `block` (records without a header line) into a frame of `schema`, cut into pieces
/// of `piece_rows` records by the same reader and parsed by the same [`Layout`] as a file's
/// blocks: the columns named in `numeric` that `schema` types as `f64` by Verdict, the rest
/// by polars.
pub fn parse_block(
    block: &[u8],
    schema: SchemaRef,
    numeric: &[String],
    csv: &CsvOptions,
    piece_rows: u64,
) -> Result<DataFrame> {
    let path = Path::new("fuzz.csv");
    let mut records = Records::new(block, Some(QUOTE));
    let mut bytes = Vec::with_capacity(block.len());
    let mut pieces = Vec::new();
    loop {
        let rows = records
            .read(piece_rows.max(1), &mut bytes)
            .map_err(Error::io("cannot read", path))?;
        if rows == 0 {
            break;
        }
        pieces.push(Piece {
            end: bytes.len(),
            rows: rows as usize,
        });
    }
    Layout::new(schema, numeric, csv).parse(&bytes, &pieces, 1, path)
}
