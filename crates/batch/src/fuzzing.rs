//! Entry points for the fuzz targets in `fuzz/`. Compiled only with the `fuzzing` cargo
//! feature and hidden from the documentation; not a stable API.
//!
//! A feature rather than an always-public module keeps the block parser's internals out of
//! the crate's API; the fuzz build turns it on, and `.ci/run` builds the fuzz targets, so
//! this cannot rot unnoticed.

use polars::prelude::{DataFrame, SchemaRef};

use crate::error::Result;
use crate::source::CsvOptions;

/// Parses `block`, CSV records without a header line, as a batch run parses a block of a
/// CSV file: cut into pieces of `piece_rows` records, the columns named in `numeric` that
/// `schema` types as `f64` parsed by Verdict, the others by polars.
pub fn csv_block(
    block: &[u8],
    schema: SchemaRef,
    numeric: &[String],
    csv: &CsvOptions,
    piece_rows: u64,
) -> Result<DataFrame> {
    crate::io::csv::fuzzing::parse_block(block, schema, numeric, csv, piece_rows)
}
