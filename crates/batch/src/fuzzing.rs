//! Entry points for the fuzz targets in `fuzz/`. Compiled only with the `fuzzing` cargo
//! feature and hidden from the documentation; not a stable API.
//!
//! A feature rather than an always-public module keeps the block parser's internals out of
//! the crate's API; the fuzz build turns it on, and `.ci/run` builds the fuzz targets, so
//! this cannot rot unnoticed.

pub use crate::io::csv::fuzzing::parse_block as csv_block;
