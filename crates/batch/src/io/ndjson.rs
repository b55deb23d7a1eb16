//! NDJSON files read in blocks of whole lines, so that memory follows the chunk size and not
//! the file's, and written by polars' batched JSON-lines writer.
//!
//! polars' NDJSON scan memory-maps the whole file, like its CSV scan: an 816 MB file ran at
//! 994 MiB peak RSS. Here the file is cut into blocks of `chunk_rows` lines
//! ([`records`](super::records)) and each block is parsed by polars' NDJSON parser with the
//! file's schema, so every chunk has the same columns and types. The scan is still what
//! infers that schema (from the first [`INFER_SCHEMA_ROWS`] lines).

use std::io::Cursor;
use std::num::NonZeroUsize;
use std::path::Path;

use polars::prelude::*;

use super::records::{Records, send_blocks};
use super::{
    Batched, Encoder, FileRead, FileRef, INFER_SCHEMA_ROWS, InferredSchemas, ReadHints, ReadJob,
    SharedWriter, schema_of,
};
use crate::error::{Error, Result};

/// A lazy scan of the NDJSON file `file`, with the schema inferred from its first lines
/// (once per file, kept in `inferred`; of an object, polars fetches only those lines); with
/// `hints`, feature columns get fixed types.
pub(super) fn scan(
    file: &FileRef,
    hints: Option<&ReadHints>,
    inferred: &InferredSchemas,
) -> Result<LazyFrame> {
    let context = || format!("cannot read {file}");
    let reader = LazyJsonLineReader::new(file.pl_path()?);
    let schema = inferred.schema(file.name(), hints, || {
        let inferring = reader
            .clone()
            .with_infer_schema_length(NonZeroUsize::new(INFER_SCHEMA_ROWS))
            .finish()
            .map_err(Error::polars(context()))?;
        schema_of(inferring, file)
    })?;
    reader
        .with_schema(Some(schema))
        .finish()
        .map_err(Error::polars(context()))
}

/// The lines (records) of an NDJSON file, read with bounded memory.
pub(super) fn count_records(file: &FileRef) -> Result<u64> {
    Records::open(file, None)?.count(file.name())
}

/// Reads a part of an NDJSON file, `chunk_rows` lines at a time, into frames of the file's
/// schema as its hints type it.
pub(super) fn read(read: FileRead<'_>) -> Result<ReadJob> {
    let FileRead {
        file,
        hints,
        inferred,
        part,
        chunk_rows,
        ..
    } = read;
    let schema = schema_of(scan(file, Some(hints), inferred)?, file)?;
    let file = file.clone();
    Ok(Box::new(move |send| {
        let records = Records::open(&file, None)?;
        let path = file.name();
        // One piece per block: polars parses a block on its own threads.
        let piece_rows = chunk_rows.get() as u64;
        send_blocks(
            records,
            path,
            part,
            chunk_rows,
            piece_rows,
            send,
            |block, _, _| parse(block, &schema, path),
        )
    }))
}

fn parse(block: &[u8], schema: &SchemaRef, path: &Path) -> Result<DataFrame> {
    JsonReader::new(Cursor::new(block))
        .with_json_format(JsonFormat::JsonLines)
        .with_schema(schema.clone())
        .finish()
        .map_err(Error::polars(format!("cannot read {}", path.display())))
}

/// An NDJSON encoder: one JSON object a line.
pub(super) fn encoder(output: SharedWriter) -> Box<dyn Encoder> {
    let writer = polars::io::json::BatchedWriter::new(output);
    // Every line is written with its chunk: there is nothing to finish.
    Batched::boxed(writer, polars::io::json::BatchedWriter::write_batch, |_| {
        Ok(())
    })
}
