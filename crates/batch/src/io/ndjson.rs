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
use std::sync::Arc;

use polars::prelude::*;

use super::records::{Records, send_blocks};
use super::{
    Batched, Encoder, FileRead, INFER_SCHEMA_ROWS, InferredSchemas, ReadHints, ReadJob, SharedFile,
    schema_of, with_feature_types,
};
use crate::error::{Error, Result};

/// A lazy scan of the NDJSON file at `path`, with the schema inferred from its first lines
/// (once per file, kept in `inferred`); with `hints`, feature columns get fixed types.
pub(super) fn scan(
    path: &Path,
    hints: Option<&ReadHints>,
    inferred: &InferredSchemas,
) -> Result<LazyFrame> {
    let context = || format!("cannot read {}", path.display());
    let pl_path = PlRefPath::try_from_path(path).map_err(Error::polars(context()))?;
    let reader = LazyJsonLineReader::new(pl_path);
    let schema = inferred.get_or_infer(path, || {
        let inferring = reader
            .clone()
            .with_infer_schema_length(NonZeroUsize::new(INFER_SCHEMA_ROWS))
            .finish()
            .map_err(Error::polars(context()))?;
        schema_of(inferring, path)
    })?;
    let schema = match hints {
        Some(hints) => Arc::new(with_feature_types(&schema, hints)),
        None => schema,
    };
    reader
        .with_schema(Some(schema))
        .finish()
        .map_err(Error::polars(context()))
}

/// The lines (records) of an NDJSON file, read with bounded memory.
pub(super) fn count_records(path: &Path) -> Result<u64> {
    Records::open(path, None)?.count(path)
}

/// Reads a part of an NDJSON file, `chunk_rows` lines at a time, into frames of the file's
/// schema as its hints type it.
pub(super) fn read(read: FileRead<'_>) -> Result<ReadJob> {
    let FileRead {
        path,
        hints,
        inferred,
        part,
        chunk_rows,
        ..
    } = read;
    let schema = schema_of(scan(path, Some(hints), inferred)?, path)?;
    let path = path.to_owned();
    Ok(Box::new(move |send| {
        let records = Records::open(&path, None)?;
        // One piece per block: polars parses a block on its own threads.
        let piece_rows = chunk_rows.get() as u64;
        send_blocks(
            records,
            &path,
            part,
            chunk_rows,
            piece_rows,
            send,
            |block, _, _| parse(block, &schema, &path),
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
pub(super) fn encoder(file: SharedFile) -> Box<dyn Encoder> {
    let writer = polars::io::json::BatchedWriter::new(file);
    // Every line is written with its chunk: there is nothing to finish.
    Batched::boxed(writer, polars::io::json::BatchedWriter::write_batch, |_| {
        Ok(())
    })
}
