//! Parquet and Arrow IPC files, and lazy frames: read by polars' streaming engine
//! ([`LazyFrame::sink_batches`]) and written by polars' batched writers.
//!
//! These formats carry their own schema and row counts, so nothing here parses values:
//! polars reads them as they are, and a shard of many Parquet files is a run of their row
//! groups. An object in object storage is scanned the same way, by polars' cloud I/O: the
//! footer first, then a row group at a time through range requests, so memory follows the
//! row groups and the chunk size, not the object.

use std::num::NonZeroUsize;
use std::path::Path;

use polars::io::ipc;
use polars::io::parquet::read::{ParquetObjectStore, ParquetReader};
use polars::io::parquet::write as parquet;
use polars::prelude::*;

use super::cloud::block_on;
use super::{Batched, Encoder, FileRef, Part, ReadJob, Shard, SharedWriter};
use crate::error::{Error, Result};

/// A lazy scan of the Parquet file `file`.
pub(super) fn scan_parquet(file: &FileRef) -> Result<LazyFrame> {
    let args = ScanArgsParquet {
        // The files are listed already: a `[` in a name is part of the name.
        glob: false,
        ..ScanArgsParquet::default()
    };
    LazyFrame::scan_parquet(file.pl_path()?, args)
        .map_err(Error::polars(format!("cannot read {file}")))
}

/// A lazy scan of the Arrow IPC file `file`.
pub(super) fn scan_ipc(file: &FileRef) -> Result<LazyFrame> {
    LazyFrame::scan_ipc(file.pl_path()?, Default::default(), Default::default())
        .map_err(Error::polars(format!("cannot read {file}")))
}

/// The rows of the file that `lf` scans.
pub(super) fn count_rows(lf: LazyFrame, file: &FileRef) -> Result<u64> {
    count(lf, &format!("cannot count the rows of {file}"))
}

/// The rows `lf` yields (polars answers from the metadata where it can).
pub(crate) fn count(lf: LazyFrame, context: &str) -> Result<u64> {
    let counted = lf
        .select([len()])
        .collect()
        .map_err(Error::polars(context.to_owned()))?;
    first_count(&counted).map_err(Error::polars(context.to_owned()))
}

fn first_count(counted: &DataFrame) -> PolarsResult<u64> {
    let column = counted
        .columns()
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "the count has no column"))?;
    let value = column.cast(&DataType::UInt64)?.u64()?.get(0).unwrap_or(0);
    Ok(value)
}

/// Shares out the row groups of many Parquet files and turns each file's share into a row
/// range (the row groups of a shard are contiguous, so each file's are too).
pub(super) fn row_group_parts(files: &[FileRef], shard: Shard) -> Result<Vec<Part>> {
    let mut groups = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let mut offset = 0u64;
        for rows in file.refine(row_group_rows(file))? {
            groups.push((index, offset, rows));
            offset += rows;
        }
    }
    let (start, end) = shard.range(groups.len() as u64);
    let mut parts: Vec<Part> = Vec::new();
    for &(index, offset, rows) in &groups[start as usize..end as usize] {
        match parts.last_mut() {
            Some(part) if part.index == index => {
                part.len = Some(part.len.unwrap_or(0) + rows);
            }
            _ => parts.push(Part {
                index,
                offset,
                len: Some(rows),
            }),
        }
    }
    Ok(parts)
}

/// The rows of each row group of a Parquet file, from its footer (of an object, fetched by
/// a range request).
fn row_group_rows(file: &FileRef) -> Result<Vec<u64>> {
    let context = || format!("cannot read the Parquet metadata of {file}");
    let metadata = match file {
        FileRef::Local(path) => {
            let handle = std::fs::File::open(path).map_err(Error::io("cannot open", path))?;
            ParquetReader::new(handle)
                .get_metadata()
                .cloned()
                .map_err(Error::polars(context()))?
        }
        FileRef::Object(url) => block_on(async {
            let mut reader = ParquetObjectStore::from_uri(url.pl_path(), None, None).await?;
            reader.get_metadata().await.cloned()
        })
        .map_err(Error::polars(context()))?,
    };
    Ok(metadata
        .row_groups
        .iter()
        .map(|group| group.num_rows() as u64)
        .collect())
}

/// The rows of `part` of what `lf` yields.
pub(crate) fn slice(lf: LazyFrame, part: Part) -> LazyFrame {
    match part.len {
        Some(len) => lf.slice(part.offset as i64, len as IdxSize),
        None => lf,
    }
}

/// Runs `lf` on polars' streaming engine, sending chunks of `chunk_rows` rows (the last may
/// be shorter).
pub(crate) fn stream(lf: LazyFrame, chunk_rows: NonZeroUsize, context: String) -> ReadJob {
    Box::new(move |send| {
        let send = send.clone();
        let callback = PlanCallback::new(move |chunk: DataFrame| {
            // `true` stops the query: the consumer has gone (it failed, or was dropped).
            Ok(send.send(Ok(chunk)).is_err())
        });
        lf.sink_batches(callback, true, Some(chunk_rows))
            .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
            .map(drop)
            .map_err(|source| Error::Polars { context, source })
    })
}

/// A Parquet encoder of chunks of `schema`.
pub(super) fn parquet_encoder(
    output: SharedWriter,
    target: &Path,
    schema: &Schema,
) -> Result<Box<dyn Encoder>> {
    let writer = ParquetWriter::new(output)
        .batched(schema)
        .map_err(Error::polars(format!("cannot write {}", target.display())))?;
    // The size `finish` returns is of no use here.
    let finish = |writer: &mut parquet::BatchedWriter<SharedWriter>| writer.finish().map(drop);
    Ok(Batched::boxed(
        writer,
        parquet::BatchedWriter::write_batch,
        finish,
    ))
}

/// An Arrow IPC encoder of chunks of `schema`.
pub(super) fn ipc_encoder(
    output: SharedWriter,
    target: &Path,
    schema: &Schema,
) -> Result<Box<dyn Encoder>> {
    let arrow_schema = schema.to_arrow(CompatLevel::newest());
    let fields = polars_arrow::io::ipc::write::default_ipc_fields(arrow_schema.iter_values());
    let writer = IpcWriter::new(output)
        .batched(schema, fields)
        .map_err(Error::polars(format!("cannot write {}", target.display())))?;
    let (write, finish) = (ipc::BatchedWriter::write_batch, ipc::BatchedWriter::finish);
    Ok(Batched::boxed(writer, write, finish))
}
