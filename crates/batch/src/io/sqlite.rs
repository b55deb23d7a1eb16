//! SQLite: a table or query read in chunks, and a table written in one transaction.
//!
//! Reading opens the database read-only and types each column by its declared type's
//! affinity, or by its first value where the declaration does not fix one; a value that does
//! not fit its column stops the run with its column and row.
//!
//! Writing happens in one transaction (`replace` drops and recreates the table inside it),
//! which a failed run rolls back; the database is put in write-ahead-log mode, so readers see
//! the old table throughout. A new database is built in a partial file and moved into place
//! once committed, so a killed run never leaves a half-made database under the target's name.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rusqlite::types::{Value, ValueRef};

use super::{IfExists, Part, ReadJob, Writer, quote_identifier};
use crate::error::{Error, Location, Result};
use crate::partial;

/// Which part of a SQLite database to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteInput {
    /// Every row of a table, in storage (rowid) order.
    Table(String),
    /// The rows of a `SELECT`. Add an `ORDER BY` when the row order, or a shard's share of
    /// the rows, must be the same from run to run.
    Query(String),
}

/// The table a SQLite output gets when none is named.
pub const DEFAULT_TABLE: &str = "predictions";

/// The rows `what` selects from the database at `path`.
pub(crate) fn count_rows(path: &Path, what: &SqliteInput) -> Result<u64> {
    let conn = open_sqlite(path)?;
    let sql = format!("SELECT count(*) FROM ({})", select_sql(what));
    let count: i64 = conn
        .query_row(&sql, [], |row| row.get(0))
        .map_err(Error::sqlite(format!(
            "cannot count the rows of {}",
            path.display()
        )))?;
    Ok(count.max(0) as u64)
}

/// Fails with [`Error::OutputExists`] when the run may not write to `table` of the
/// database at `path` because it exists and `if_exists` says fail.
pub(crate) fn check_target(path: &Path, table: &str, if_exists: IfExists) -> Result<()> {
    if if_exists == IfExists::Fail && table_exists_at(path, table)? {
        return Err(Error::OutputExists {
            what: format!("table `{table}` of {}", path.display()),
            hint: ", or --if-exists append to add to it",
        });
    }
    Ok(())
}

/// Opens a SQLite database read-only: a batch job never changes its input.
fn open_sqlite(path: &Path) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(Error::sqlite(format!(
        "cannot open the SQLite database {}",
        path.display()
    )))
}

fn select_sql(what: &SqliteInput) -> String {
    match what {
        SqliteInput::Table(table) => format!("SELECT * FROM {}", quote_identifier(table)),
        SqliteInput::Query(sql) => sql.trim().trim_end_matches(';').to_owned(),
    }
}

/// The polars type of a SQLite column: its declared type's affinity where it has one that
/// fixes the type, else the type of its first value (`String` when that is null).
pub(crate) fn schema(path: &Path, what: &SqliteInput) -> Result<Schema> {
    let conn = open_sqlite(path)?;
    let sql = select_sql(what);
    let context = || format!("cannot run `{sql}` on {}", path.display());
    let mut statement = conn.prepare(&sql).map_err(Error::sqlite(context()))?;
    let declared: Vec<(String, Option<DataType>)> = statement
        .columns()
        .map(|c| (c.name().to_owned(), c.decl_type().and_then(affinity)))
        .collect();
    let mut schema = Schema::default();
    if declared.iter().all(|(_, dtype)| dtype.is_some()) {
        for (name, dtype) in declared {
            schema.with_column(name.into(), dtype.unwrap_or(DataType::String));
        }
        return Ok(schema);
    }
    let mut rows = statement.query([]).map_err(Error::sqlite(context()))?;
    let first = rows.next().map_err(Error::sqlite(context()))?;
    for (index, (name, dtype)) in declared.into_iter().enumerate() {
        let dtype = dtype.unwrap_or_else(|| match first.and_then(|row| row.get_ref(index).ok()) {
            Some(ValueRef::Integer(_)) => DataType::Int64,
            Some(ValueRef::Real(_)) => DataType::Float64,
            Some(ValueRef::Blob(_)) => DataType::Binary,
            Some(ValueRef::Text(_) | ValueRef::Null) | None => DataType::String,
        });
        schema.with_column(name.into(), dtype);
    }
    Ok(schema)
}

/// SQLite's type affinity rules (section 3.1 of "Datatypes In SQLite"), for the affinities
/// that fix a type; NUMERIC columns hold integers or reals, so their type comes from values.
fn affinity(declared: &str) -> Option<DataType> {
    let declared = declared.to_ascii_uppercase();
    if declared.contains("INT") {
        Some(DataType::Int64)
    } else if ["CHAR", "CLOB", "TEXT"]
        .iter()
        .any(|t| declared.contains(t))
    {
        Some(DataType::String)
    } else if declared.contains("BLOB") {
        Some(DataType::Binary)
    } else if ["REAL", "FLOA", "DOUB"]
        .iter()
        .any(|t| declared.contains(t))
    {
        Some(DataType::Float64)
    } else {
        None
    }
}

/// Reads `part` of a SQLite table or query, `chunk_rows` rows at a time, into columns of the
/// types of `schema`.
pub(crate) fn read(
    path: PathBuf,
    what: SqliteInput,
    part: Part,
    chunk_rows: NonZeroUsize,
    schema: Schema,
) -> ReadJob {
    Box::new(move |send| read_sqlite(&path, &what, part, chunk_rows, &schema, send))
}

fn read_sqlite(
    path: &Path,
    what: &SqliteInput,
    part: Part,
    chunk_rows: NonZeroUsize,
    schema: &Schema,
    send: &super::ChunkSender,
) -> Result<()> {
    let conn = open_sqlite(path)?;
    let mut sql = select_sql(what);
    if let Some(len) = part.len {
        sql = format!("SELECT * FROM ({sql}) LIMIT {len} OFFSET {}", part.offset);
    }
    let context = || format!("cannot run `{sql}` on {}", path.display());
    let mut statement = conn.prepare(&sql).map_err(Error::sqlite(context()))?;
    let mut rows = statement.query([]).map_err(Error::sqlite(context()))?;
    let fields: Vec<(PlSmallStr, DataType)> = schema
        .iter()
        .map(|(name, dtype)| (name.clone(), dtype.clone()))
        .collect();
    let mut first_row = part.offset + 1;
    loop {
        let mut builders: Vec<ColumnBuilder> = fields
            .iter()
            .map(|(_, dtype)| ColumnBuilder::new(dtype, chunk_rows.get()))
            .collect();
        let mut height = 0;
        while height < chunk_rows.get() {
            let Some(row) = rows.next().map_err(Error::sqlite(context()))? else {
                break;
            };
            let row_number = first_row + height as u64;
            for (index, builder) in builders.iter_mut().enumerate() {
                let value = row.get_ref(index).map_err(Error::sqlite(context()))?;
                builder
                    .push(value)
                    .map_err(|problem| problem.into_error(&fields[index].0, row_number))?;
            }
            height += 1;
        }
        if height == 0 {
            return Ok(());
        }
        let columns = fields
            .iter()
            .zip(builders)
            .map(|((name, _), builder)| builder.finish(name.clone()))
            .collect();
        let chunk = DataFrame::new(height, columns).map_err(Error::polars(context()))?;
        if send.send(Ok(chunk)).is_err() {
            // The consumer has gone.
            return Ok(());
        }
        first_row += height as u64;
        if height < chunk_rows.get() {
            return Ok(());
        }
    }
}

/// A column of SQLite values being gathered into one polars type.
enum ColumnBuilder {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Binary(Vec<Option<Vec<u8>>>),
}

/// Why a SQLite value does not fit its column.
enum Misfit {
    NotANumber(String),
    Other(String),
}

impl Misfit {
    fn into_error(self, column: &str, row: u64) -> Error {
        let location = Location { row, file: None };
        match self {
            Misfit::NotANumber(value) => Error::NotANumber {
                column: column.to_owned(),
                location,
                value,
            },
            Misfit::Other(problem) => Error::SqliteValue {
                column: column.to_owned(),
                location,
                problem,
            },
        }
    }
}

impl ColumnBuilder {
    fn new(dtype: &DataType, capacity: usize) -> Self {
        match dtype {
            DataType::Int64 => ColumnBuilder::Int(Vec::with_capacity(capacity)),
            DataType::Float64 => ColumnBuilder::Float(Vec::with_capacity(capacity)),
            DataType::Binary => ColumnBuilder::Binary(Vec::with_capacity(capacity)),
            _ => ColumnBuilder::Text(Vec::with_capacity(capacity)),
        }
    }

    fn push(&mut self, value: ValueRef<'_>) -> Result<(), Misfit> {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        match (self, value) {
            (ColumnBuilder::Int(v), ValueRef::Null) => v.push(None),
            (ColumnBuilder::Float(v), ValueRef::Null) => v.push(None),
            (ColumnBuilder::Text(v), ValueRef::Null) => v.push(None),
            (ColumnBuilder::Binary(v), ValueRef::Null) => v.push(None),
            (ColumnBuilder::Int(v), ValueRef::Integer(i)) => v.push(Some(i)),
            (ColumnBuilder::Int(v), ValueRef::Real(r)) if r.fract() == 0.0 && r.abs() < 9.2e18 => {
                v.push(Some(r as i64))
            }
            (ColumnBuilder::Int(v), ValueRef::Text(t)) => match text(t).parse() {
                Ok(i) => v.push(Some(i)),
                Err(_) => {
                    return Err(Misfit::Other(format!(
                        "`{}` is not an integer, as the column's type says",
                        text(t)
                    )));
                }
            },
            (ColumnBuilder::Int(_), other) => {
                return Err(Misfit::Other(format!(
                    "a {:?} value in an integer column",
                    other.data_type()
                )));
            }
            (ColumnBuilder::Float(v), ValueRef::Integer(i)) => v.push(Some(i as f64)),
            (ColumnBuilder::Float(v), ValueRef::Real(r)) => v.push(Some(r)),
            (ColumnBuilder::Float(v), ValueRef::Text(t)) => {
                let t = text(t);
                if t.is_empty() {
                    v.push(None)
                } else {
                    match t.parse() {
                        Ok(x) => v.push(Some(x)),
                        Err(_) => return Err(Misfit::NotANumber(t)),
                    }
                }
            }
            (ColumnBuilder::Float(_), ValueRef::Blob(_)) => {
                return Err(Misfit::NotANumber("<blob>".to_owned()));
            }
            (ColumnBuilder::Text(v), ValueRef::Integer(i)) => v.push(Some(i.to_string())),
            (ColumnBuilder::Text(v), ValueRef::Real(r)) => v.push(Some(r.to_string())),
            (ColumnBuilder::Text(v), ValueRef::Text(t)) => v.push(Some(text(t))),
            (ColumnBuilder::Text(_), ValueRef::Blob(_)) => {
                return Err(Misfit::Other("a blob value in a text column".to_owned()));
            }
            (ColumnBuilder::Binary(v), ValueRef::Blob(b) | ValueRef::Text(b)) => {
                v.push(Some(b.to_vec()))
            }
            (ColumnBuilder::Binary(_), other) => {
                return Err(Misfit::Other(format!(
                    "a {:?} value in a blob column",
                    other.data_type()
                )));
            }
        }
        Ok(())
    }

    fn finish(self, name: PlSmallStr) -> Column {
        match self {
            ColumnBuilder::Int(v) => Column::new(name, v),
            ColumnBuilder::Float(v) => Column::new(name, v),
            ColumnBuilder::Text(v) => Column::new(name, v),
            ColumnBuilder::Binary(v) => Column::new(name, v),
        }
    }
}

fn table_exists(conn: &rusqlite::Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1",
        [table],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn table_exists_at(path: &Path, table: &str) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(Error::sqlite(format!(
                "cannot open the SQLite database {}",
                path.display()
            )))?;
    table_exists(&conn, table).map_err(Error::sqlite(format!(
        "cannot read the tables of {}",
        path.display()
    )))
}

/// The SQLite type of a polars column.
fn sql_type(dtype: &DataType) -> &'static str {
    if dtype.is_integer() || dtype.is_bool() {
        "INTEGER"
    } else if dtype.is_float() {
        "REAL"
    } else if matches!(dtype, DataType::Binary) {
        "BLOB"
    } else {
        "TEXT"
    }
}

/// Writes a table in one transaction (see the module's documentation).
pub(crate) struct SqliteWriter {
    conn: Option<rusqlite::Connection>,
    path: PathBuf,
    table: String,
    insert: String,
    /// A new database is built in a partial and moved into place once committed, so a
    /// killed run never leaves an empty or half-made database under the target's name.
    created: Option<tempfile::NamedTempFile>,
}

impl SqliteWriter {
    /// Starts the transaction that writes `table` of the database at `path`.
    pub(crate) fn create(
        path: &Path,
        table: &str,
        schema: &Schema,
        if_exists: IfExists,
    ) -> Result<Self> {
        let created = if path.exists() {
            None
        } else {
            Some(partial::create(path)?)
        };
        let context = |what: &str| format!("cannot {what} in {}", path.display());
        let opened = created.as_ref().map_or(path, |temp| temp.path());
        let conn = rusqlite::Connection::open(opened).map_err(Error::sqlite(format!(
            "cannot open the SQLite database {}",
            path.display()
        )))?;
        // Write-ahead logging lets readers go on reading the old table for the whole run,
        // which a rollback journal forbids once the run's changes outgrow SQLite's cache.
        // The mode stays with the database. A file system without shared memory keeps the
        // old mode, and the run goes on without it.
        let _ = conn.query_row::<String, _, _>("PRAGMA journal_mode = WAL", [], |row| row.get(0));
        let mut writer = SqliteWriter {
            conn: None,
            path: path.to_owned(),
            table: table.to_owned(),
            insert: String::new(),
            created,
        };
        // From here on, dropping `writer` rolls back and removes a database the run created.
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(Error::sqlite(context("start a transaction")))?;
        let conn = writer.conn.insert(conn);
        let quoted = quote_identifier(table);
        let exists =
            table_exists(conn, table).map_err(Error::sqlite(context("list the tables")))?;
        let mut create = !exists;
        match (exists, if_exists) {
            (true, IfExists::Fail) => {
                return Err(Error::OutputExists {
                    what: format!("table `{table}` of {}", path.display()),
                    hint: ", or --if-exists append to add to it",
                });
            }
            (true, IfExists::Replace) => {
                conn.execute_batch(&format!("DROP TABLE {quoted}"))
                    .map_err(Error::sqlite(context(&format!("drop table `{table}`"))))?;
                create = true;
            }
            (true, IfExists::Append) => {
                let statement = conn
                    .prepare(&format!("SELECT * FROM {quoted} LIMIT 0"))
                    .map_err(Error::sqlite(context(&format!("read table `{table}`"))))?;
                let existing: Vec<String> = statement.column_names().map(str::to_owned).collect();
                let missing: Vec<&str> = schema
                    .iter_names()
                    .map(|n| n.as_str())
                    .filter(|n| !existing.iter().any(|e| e == n))
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::InvalidOption(format!(
                        "cannot append to table `{table}` of {}: it has no column {}",
                        path.display(),
                        missing.join(", ")
                    )));
                }
            }
            (false, _) => {}
        }
        if create {
            let columns: Vec<String> = schema
                .iter()
                .map(|(name, dtype)| format!("{} {}", quote_identifier(name), sql_type(dtype)))
                .collect();
            conn.execute_batch(&format!("CREATE TABLE {quoted} ({})", columns.join(", ")))
                .map_err(Error::sqlite(context(&format!("create table `{table}`"))))?;
        }
        let names: Vec<String> = schema.iter_names().map(|n| quote_identifier(n)).collect();
        let marks = vec!["?"; names.len()].join(", ");
        writer.insert = format!(
            "INSERT INTO {quoted} ({}) VALUES ({marks})",
            names.join(", ")
        );
        Ok(writer)
    }
}

/// One output column, typed for binding.
enum Bound {
    Int(Int64Chunked),
    Float(Float64Chunked),
    Text(StringChunked),
    Blob(BinaryChunked),
}

impl Bound {
    fn new(column: &Column) -> PolarsResult<Self> {
        let dtype = column.dtype();
        let bound = if dtype.is_integer() || dtype.is_bool() {
            Bound::Int(column.cast(&DataType::Int64)?.i64()?.rechunk().into_owned())
        } else if dtype.is_float() {
            Bound::Float(
                column
                    .cast(&DataType::Float64)?
                    .f64()?
                    .rechunk()
                    .into_owned(),
            )
        } else if dtype == &DataType::Binary {
            Bound::Blob(column.binary()?.rechunk().into_owned())
        } else {
            Bound::Text(
                column
                    .cast(&DataType::String)?
                    .str()?
                    .rechunk()
                    .into_owned(),
            )
        };
        Ok(bound)
    }

    fn value(&self, row: usize) -> Value {
        let value = match self {
            Bound::Int(c) => c.get(row).map(Value::Integer),
            Bound::Float(c) => c.get(row).map(Value::Real),
            Bound::Text(c) => c.get(row).map(|s| Value::Text(s.to_owned())),
            Bound::Blob(c) => c.get(row).map(|b| Value::Blob(b.to_vec())),
        };
        value.unwrap_or(Value::Null)
    }
}

impl Writer for SqliteWriter {
    fn write(&mut self, chunk: &DataFrame) -> Result<()> {
        let context = format!(
            "cannot insert into table `{}` of {}",
            self.table,
            self.path.display()
        );
        let Some(conn) = self.conn.as_ref() else {
            return Ok(());
        };
        let columns = chunk
            .columns()
            .iter()
            .map(Bound::new)
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(Error::polars(context.clone()))?;
        let mut statement = conn
            .prepare_cached(&self.insert)
            .map_err(Error::sqlite(context.clone()))?;
        for row in 0..chunk.height() {
            for (index, column) in columns.iter().enumerate() {
                statement
                    .raw_bind_parameter(index + 1, column.value(row))
                    .map_err(Error::sqlite(context.clone()))?;
            }
            statement
                .raw_execute()
                .map_err(Error::sqlite(context.clone()))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(conn) = self.conn.take() {
            let context = format!("cannot commit to {}", self.path.display());
            conn.execute_batch("COMMIT")
                .map_err(Error::sqlite(context.clone()))?;
            conn.close()
                .map_err(|(_, e)| Error::Sqlite { context, source: e })?;
        }
        if let Some(temp) = self.created.take() {
            // The target may have appeared since the check; never clobber it.
            temp.persist_noclobber(&self.path).map_err(|e| Error::Io {
                action: "cannot move the finished database to",
                path: self.path.clone(),
                source: e.error,
            })?;
        }
        Ok(())
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        // Only an unfinished run still holds the connection.
        if let Some(conn) = self.conn.take() {
            let _ = conn.execute_batch("ROLLBACK");
            drop(conn);
        }
        // An unfinished new database: its partial goes when `temp` drops, its side files here.
        if let Some(temp) = self.created.take() {
            for side in partial::SQLITE_SIDE_FILES {
                let mut file = temp.path().as_os_str().to_owned();
                file.push(side);
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_affinities_like_sqlite() {
        assert_eq!(affinity("BIGINT"), Some(DataType::Int64));
        assert_eq!(affinity("varchar(20)"), Some(DataType::String));
        assert_eq!(affinity("DOUBLE PRECISION"), Some(DataType::Float64));
        assert_eq!(affinity("NUMERIC"), None);
    }
}
