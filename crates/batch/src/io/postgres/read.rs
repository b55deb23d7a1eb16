//! Reading a table or query with `COPY (SELECT …) TO STDOUT (FORMAT binary)`.
//!
//! The query is prepared first, which gives the columns and their types without reading a
//! row. The `COPY` stream is then decoded in a producer thread straight into the columns of
//! a chunk, `chunk_rows` rows at a time; the thread waits while its chunk is in the channel,
//! and so does the server, so memory stays bounded whatever the table's size.
//!
//! A shard is a `WHERE` on the query: rows whose key hashes to the shard
//! (`hashtextextended(key::text, 0)`, stable across runs and servers), or for a table without
//! a key, a contiguous range of its pages (`ctid`), which PostgreSQL 14 and later read
//! without scanning the rest.

use std::io::Read;
use std::num::NonZeroUsize;

use polars::prelude::*;

use super::types::{Builder, Decode, SIGNATURE};
use super::{Database, PostgresInput, error, quote_table};
use crate::error::{Error, Location, Result};
use crate::io::{ChunkSender, ReadHints, Shard, quote_identifier};

/// What to read from a PostgreSQL database, and which part of it.
#[derive(Debug, Clone)]
pub(crate) struct PostgresRead {
    pub(crate) database: Database,
    pub(crate) what: PostgresInput,
    /// The column a shard is chosen by; without it, a table is split by pages.
    pub(crate) shard_key: Option<String>,
    pub(crate) shard: Option<Shard>,
}

/// One column of the input.
#[derive(Debug, Clone)]
struct InputColumn {
    name: String,
    /// The PostgreSQL type's name, for messages.
    pg_type: String,
    /// How its values are read; `None` for a type the query casts to text.
    decode: Option<Decode>,
}

impl InputColumn {
    fn decode(&self) -> Decode {
        self.decode.unwrap_or(Decode::Text)
    }
}

impl PostgresRead {
    /// A short description for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.what {
            PostgresInput::Table(table) => format!("table `{table}` of {}", self.database),
            PostgresInput::Query(_) => format!("a query on {}", self.database),
        }
    }

    /// The input's `SELECT`, before sharding.
    fn select(&self) -> String {
        match &self.what {
            PostgresInput::Table(table) => format!("SELECT * FROM {}", quote_table(table)),
            PostgresInput::Query(sql) => sql.trim().trim_end_matches(';').to_owned(),
        }
    }

    /// The columns, from the prepared query.
    fn fields(&self, client: &mut postgres::Client) -> Result<Vec<InputColumn>> {
        let sql = self.select();
        let statement = client
            .prepare(&sql)
            .map_err(error(format!("cannot run `{sql}` on {}", self.database)))?;
        Ok(statement
            .columns()
            .iter()
            .map(|column| InputColumn {
                name: column.name().to_owned(),
                pg_type: column.type_().name().to_owned(),
                decode: Decode::of(column.type_()),
            })
            .collect())
    }

    /// The columns and the types their chunks will have.
    pub(crate) fn schema(&self) -> Result<Schema> {
        let mut client = self.database.connect()?;
        Ok(schema_of(&self.fields(&mut client)?))
    }

    /// Refuses, before any row is read, feature columns of types that cannot be numbers or
    /// categories, and shards that cannot be taken.
    pub(crate) fn check(&self, hints: &ReadHints) -> Result<()> {
        let mut client = self.database.connect()?;
        let fields = self.fields(&mut client)?;
        for field in &fields {
            let numeric = hints.numeric.contains(&field.name);
            let categorical = hints.text.contains(&field.name);
            // Binary and temporal values are no numbers, nor category names.
            let feature_type = matches!(
                field.decode,
                Some(decode) if !matches!(
                    decode,
                    Decode::Bytea | Decode::Date | Decode::Timestamp | Decode::Timestamptz | Decode::Time
                )
            );
            let unfit = (numeric || categorical) && !feature_type;
            if unfit {
                return Err(Error::PostgresType {
                    column: field.name.clone(),
                    pg_type: field.pg_type.clone(),
                    kind: if numeric { "numeric" } else { "categorical" },
                });
            }
        }
        self.shard_filter(&mut client, &fields).map(drop)
    }

    /// The `COPY` statement that streams this input's share of the rows.
    fn copy_sql(&self, client: &mut postgres::Client, fields: &[InputColumn]) -> Result<String> {
        let (inner, outer) = self.shard_filter(client, fields)?;
        let columns: Vec<String> = fields
            .iter()
            .map(|f| {
                let column = format!("q.{}", quote_identifier(&f.name));
                match f.decode {
                    Some(_) => column,
                    None => format!("{column}::text"),
                }
            })
            .collect();
        let columns = if columns.is_empty() {
            "*".to_owned()
        } else {
            columns.join(", ")
        };
        Ok(format!(
            "COPY (SELECT {columns} FROM ({}{inner}) AS q{outer}) TO STDOUT (FORMAT binary)",
            self.select()
        ))
    }

    /// The shard's condition: on the table (pages), or on the query's rows (a key).
    fn shard_filter(
        &self,
        client: &mut postgres::Client,
        fields: &[InputColumn],
    ) -> Result<(String, String)> {
        let Some(shard) = self.shard else {
            return Ok((String::new(), String::new()));
        };
        match (&self.shard_key, &self.what) {
            (Some(key), _) => {
                if !fields.iter().any(|f| &f.name == key) {
                    let names = fields.iter().map(|f| f.name.as_str());
                    return Err(Error::InvalidOption(format!(
                        "the shard key {} is not a column of {}",
                        crate::MissingColumn::new(key, names),
                        self.describe()
                    )));
                }
                // Rows with a null key go to shard 0.
                Ok((
                    String::new(),
                    format!(
                        " WHERE coalesce(abs(hashtextextended(q.{}::text, 0) % {}), 0) = {}",
                        quote_identifier(key),
                        shard.count,
                        shard.index
                    ),
                ))
            }
            (None, PostgresInput::Table(table)) => {
                let quoted = quote_table(table);
                let pages: i64 = client
                    .query_one(
                        "SELECT (pg_relation_size($1::text::regclass) \
                         / current_setting('block_size')::bigint)::bigint",
                        &[&quoted],
                    )
                    .and_then(|row| row.try_get(0))
                    .map_err(error(format!(
                        "cannot count the pages of {}",
                        self.describe()
                    )))?;
                let (start, end) = shard.range(pages.max(0) as u64);
                // The first and last shards are open-ended, so that pages added since the
                // count are still read once.
                let mut conditions = Vec::new();
                if shard.index > 0 {
                    conditions.push(format!("ctid >= '({start},0)'::tid"));
                }
                if shard.index + 1 < shard.count {
                    conditions.push(format!("ctid < '({end},0)'::tid"));
                }
                let inner = if conditions.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", conditions.join(" AND "))
                };
                Ok((inner, String::new()))
            }
            (None, PostgresInput::Query(_)) => Err(Error::InvalidOption(
                "a shard of a query needs a key column to split it by (--shard-key COLUMN); \
                 a table can be split by its pages"
                    .to_owned(),
            )),
        }
    }
}

fn schema_of(fields: &[InputColumn]) -> Schema {
    fields
        .iter()
        .map(|f| Field::new(f.name.as_str().into(), f.decode().dtype()))
        .collect()
}

/// The rows this input's share holds.
pub(crate) fn count_rows(input: &PostgresRead) -> Result<u64> {
    let mut client = input.database.connect()?;
    let fields = input.fields(&mut client)?;
    let (inner, outer) = input.shard_filter(&mut client, &fields)?;
    let sql = format!(
        "SELECT count(*) FROM ({}{inner}) AS q{outer}",
        input.select()
    );
    let count: i64 = client
        .query_one(&sql, &[])
        .and_then(|row| row.try_get(0))
        .map_err(error(format!(
            "cannot count the rows of {}",
            input.describe()
        )))?;
    Ok(count.max(0) as u64)
}

/// Streams the input's share into chunks of `chunk_rows` rows, sent to `send`.
pub(crate) fn read(
    input: &PostgresRead,
    chunk_rows: NonZeroUsize,
    send: &ChunkSender,
) -> Result<()> {
    let mut client = input.database.connect()?;
    let fields = input.fields(&mut client)?;
    let sql = input.copy_sql(&mut client, &fields)?;
    let context = || format!("cannot read {}", input.describe());
    let reader = client.copy_out(&sql).map_err(error(context()))?;
    let mut stream = CopyStream::new(reader);
    stream
        .header()
        .map_err(|problem| stream_error(context(), problem))?;
    let decodes: Vec<Decode> = fields.iter().map(InputColumn::decode).collect();
    let names: Vec<PlSmallStr> = fields.iter().map(|f| f.name.as_str().into()).collect();
    let mut scratch = String::new();
    let mut first_row = 1u64;
    loop {
        let mut builders: Vec<Builder> = decodes
            .iter()
            .zip(&names)
            .map(|(&decode, name)| Builder::new(decode, name.clone(), chunk_rows.get()))
            .collect();
        let mut height = 0;
        let mut done = false;
        while height < chunk_rows.get() {
            let count = stream
                .i16()
                .map_err(|problem| stream_error(context(), problem))?;
            if count == -1 {
                done = true;
                break;
            }
            if count as usize != fields.len() {
                return Err(stream_error(
                    context(),
                    Problem::Format(format!(
                        "a row of {count} fields where the query has {} columns",
                        fields.len()
                    )),
                ));
            }
            for (index, builder) in builders.iter_mut().enumerate() {
                let value = stream
                    .field()
                    .map_err(|problem| stream_error(context(), problem))?;
                match value {
                    None => builder.push_null(),
                    Some(bytes) => {
                        builder
                            .push(decodes[index], bytes, &mut scratch)
                            .map_err(|problem| Error::PostgresValue {
                                column: fields[index].name.clone(),
                                pg_type: fields[index].pg_type.clone(),
                                location: Location {
                                    row: first_row + height as u64,
                                    file: None,
                                },
                                problem,
                            })?
                    }
                }
            }
            height += 1;
        }
        if height > 0 {
            let columns = builders
                .into_iter()
                .zip(&decodes)
                .map(|(builder, &decode)| builder.finish(decode))
                .collect::<PolarsResult<Vec<_>>>()
                .map_err(Error::polars(context()))?;
            let chunk = DataFrame::new(height, columns).map_err(Error::polars(context()))?;
            if send.send(Ok(chunk)).is_err() {
                // The consumer has gone.
                return Ok(());
            }
            first_row += height as u64;
        }
        if done {
            return Ok(());
        }
    }
}

/// What went wrong in a `COPY` stream.
enum Problem {
    /// The connection or the server failed (a query error while rows stream, among others).
    Io(std::io::Error),
    /// The stream does not follow the binary `COPY` format.
    Format(String),
}

fn stream_error(context: String, problem: Problem) -> Error {
    match problem {
        Problem::Io(io) => {
            // The client hands its errors (a query failing midway) through `io::Error`.
            match io
                .into_inner()
                .map(|inner| inner.downcast::<postgres::Error>())
            {
                Some(Ok(source)) => Error::Postgres {
                    context,
                    source: *source,
                },
                Some(Err(other)) => Error::PostgresStream {
                    context,
                    problem: other.to_string(),
                },
                None => Error::PostgresStream {
                    context,
                    problem: "the connection failed".to_owned(),
                },
            }
        }
        Problem::Format(problem) => Error::PostgresStream { context, problem },
    }
}

/// A binary `COPY` stream, read through a buffer of whole blocks so that fields are sliced
/// out of it rather than read one by one.
struct CopyStream<R> {
    reader: R,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

/// The buffer's size: many rows at a time, few calls into the client.
const BUFFER_BYTES: usize = 1 << 20;

impl<R: Read> CopyStream<R> {
    fn new(reader: R) -> Self {
        CopyStream {
            reader,
            buffer: vec![0; BUFFER_BYTES],
            start: 0,
            end: 0,
        }
    }

    /// Makes at least `n` bytes available.
    fn fill(&mut self, n: usize) -> Result<(), Problem> {
        if self.end - self.start >= n {
            return Ok(());
        }
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buffer.len() < n {
            self.buffer.resize(n.next_power_of_two(), 0);
        }
        while self.end < n {
            let read = self
                .reader
                .read(&mut self.buffer[self.end..])
                .map_err(Problem::Io)?;
            if read == 0 {
                return Err(Problem::Format(
                    "the stream ends in the middle of a row".to_owned(),
                ));
            }
            self.end += read;
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Problem> {
        self.fill(n)?;
        let bytes = &self.buffer[self.start..self.start + n];
        self.start += n;
        Ok(bytes)
    }

    fn i16(&mut self) -> Result<i16, Problem> {
        let bytes = self.take(2)?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn i32(&mut self) -> Result<i32, Problem> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The signature, the flags and the header extension.
    fn header(&mut self) -> Result<(), Problem> {
        if self.take(SIGNATURE.len())? != SIGNATURE {
            return Err(Problem::Format(
                "the stream lacks the binary COPY signature".to_owned(),
            ));
        }
        let _flags = self.i32()?;
        let extension = self.i32()?;
        let extension = usize::try_from(extension)
            .map_err(|_| Problem::Format("a negative header extension length".to_owned()))?;
        self.take(extension)?;
        Ok(())
    }

    /// One field: `None` for null.
    fn field(&mut self) -> Result<Option<&[u8]>, Problem> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_binary_copy_stream_across_small_reads() {
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&2i16.to_be_bytes());
        data.extend_from_slice(&4i32.to_be_bytes());
        data.extend_from_slice(&7i32.to_be_bytes());
        data.extend_from_slice(&(-1i32).to_be_bytes());
        data.extend_from_slice(&(-1i16).to_be_bytes());
        // One byte per read, as if every byte came in a message of its own.
        struct Trickle(std::vec::IntoIter<u8>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match self.0.next() {
                    Some(b) => {
                        buf[0] = b;
                        Ok(1)
                    }
                    None => Ok(0),
                }
            }
        }
        let mut stream = CopyStream::new(Trickle(data.into_iter()));
        assert!(stream.header().is_ok());
        assert_eq!(stream.i16().ok(), Some(2));
        assert_eq!(stream.field().ok().flatten(), Some(&7i32.to_be_bytes()[..]));
        assert_eq!(stream.field().ok(), Some(None));
        assert_eq!(stream.i16().ok(), Some(-1));
        assert!(matches!(stream.i16(), Err(Problem::Format(_))));
    }
}
