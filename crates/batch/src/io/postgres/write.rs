//! Writing a table with `COPY … FROM STDIN (FORMAT binary)`, in one transaction.
//!
//! | the table | `fail` | `append` | `replace` |
//! | --- | --- | --- | --- |
//! | is new | created in the transaction | the same | the same |
//! | exists | an error, before any row is read | rows copied into it | a staging table, swapped in at commit |
//!
//! Everything a run does is invisible to others until its `COMMIT`: a new table, appended
//! rows (MVCC), and a replacement, which is built as `verdict_staging_…` beside the target
//! and put in its place (`DROP`, `ALTER TABLE … RENAME`) just before the commit, so readers
//! see the old table until then. A failed or cancelled run rolls back; a killed run's
//! connection drops, and the server rolls its transaction back, staging table and all.

use std::io::Write;

use polars::prelude::*;

use super::types::{Encode, SIGNATURE, Values};
use super::{Database, error, quote_table};
use crate::error::{Error, Result};
use crate::io::quote_identifier;
use crate::io::{IfExists, Writer};

/// Bytes of encoded rows sent to the server at a time.
const SEND_BYTES: usize = 1 << 20;

/// Refuses, before anything is read, to write a table that exists when told to fail.
pub(crate) fn check_target(database: &Database, table: &str, if_exists: IfExists) -> Result<()> {
    if table.is_empty() {
        return Err(Error::InvalidOption(
            "name the PostgreSQL table to write (--table)".to_owned(),
        ));
    }
    if if_exists == IfExists::Fail {
        let mut client = database.connect()?;
        if exists(&mut client, database, table)? {
            return Err(exists_error(database, table));
        }
    }
    Ok(())
}

fn exists_error(database: &Database, table: &str) -> Error {
    Error::OutputExists {
        what: format!("table `{table}` of {database}"),
        hint: ", or --if-exists append to add to it",
    }
}

fn exists(client: &mut postgres::Client, database: &Database, table: &str) -> Result<bool> {
    client
        .query_one(
            "SELECT to_regclass($1::text) IS NOT NULL",
            &[&quote_table(table)],
        )
        .and_then(|row| row.try_get(0))
        .map_err(error(format!(
            "cannot look for table `{table}` in {database}"
        )))
}

/// An open transaction writing one table.
pub(crate) struct PostgresWriter {
    /// Present while the transaction is open.
    client: Option<postgres::Client>,
    database: Database,
    table: String,
    /// The staging table that replaces the target at commit, quoted.
    staging: Option<String>,
    encodes: Vec<Encode>,
    copy: String,
    buffer: Vec<u8>,
}

impl PostgresWriter {
    /// Opens the transaction and prepares the table chunks are copied into.
    pub(crate) fn create(
        database: &Database,
        table: &str,
        schema: &Schema,
        if_exists: IfExists,
    ) -> Result<Self> {
        let encodes = schema
            .iter()
            .map(|(name, dtype)| {
                Encode::of(dtype).ok_or_else(|| Error::PostgresOutputType {
                    column: name.to_string(),
                    dtype: dtype.to_string(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut client = database.connect()?;
        let context = |what: &str| format!("cannot {what} in {database}");
        client
            .batch_execute("BEGIN")
            .map_err(error(context("start a transaction")))?;
        let mut writer = PostgresWriter {
            client: None,
            database: database.clone(),
            table: table.to_owned(),
            staging: None,
            encodes,
            copy: String::new(),
            buffer: Vec::with_capacity(SEND_BYTES + (1 << 16)),
        };
        // From here on, dropping `writer` rolls the transaction back.
        let client = writer.client.insert(client);
        let target = quote_table(table);
        let into = match (exists(client, database, table)?, if_exists) {
            (true, IfExists::Fail) => return Err(exists_error(database, table)),
            (true, IfExists::Append) => {
                let statement = client
                    .prepare(&format!("SELECT * FROM {target} LIMIT 0"))
                    .map_err(error(context(&format!("read table `{table}`"))))?;
                let missing: Vec<&str> = schema
                    .iter_names()
                    .map(|n| n.as_str())
                    .filter(|n| !statement.columns().iter().any(|c| c.name() == *n))
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::InvalidOption(format!(
                        "cannot append to table `{table}` of {database}: it has no column {}",
                        missing.join(", ")
                    )));
                }
                target
            }
            (true, IfExists::Replace) => {
                let name = staging_name();
                let quoted = match table.rsplit_once('.') {
                    Some((schema, _)) => {
                        format!("{}.{}", quote_table(schema), quote_identifier(&name))
                    }
                    None => quote_identifier(&name),
                };
                create_table(client, &quoted, schema, &writer.encodes)
                    .map_err(error(context("create a staging table")))?;
                writer.staging = Some(quoted.clone());
                quoted
            }
            (false, _) => {
                create_table(client, &target, schema, &writer.encodes)
                    .map_err(error(context(&format!("create table `{table}`"))))?;
                target
            }
        };
        let columns: Vec<String> = schema.iter_names().map(|n| quote_identifier(n)).collect();
        writer.copy = format!(
            "COPY {into} ({}) FROM STDIN (FORMAT binary)",
            columns.join(", ")
        );
        Ok(writer)
    }

    fn context(&self) -> String {
        format!("cannot write table `{}` of {}", self.table, self.database)
    }
}

/// A name no other run picks: the process and the time.
fn staging_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "verdict_staging_{:x}_{:x}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff
    )
}

fn create_table(
    client: &mut postgres::Client,
    quoted: &str,
    schema: &Schema,
    encodes: &[Encode],
) -> std::result::Result<(), postgres::Error> {
    let columns: Vec<String> = schema
        .iter_names()
        .zip(encodes)
        .map(|(name, encode)| format!("{} {}", quote_identifier(name), encode.sql_type()))
        .collect();
    client.batch_execute(&format!("CREATE TABLE {quoted} ({})", columns.join(", ")))
}

impl Writer for PostgresWriter {
    fn write(&mut self, chunk: &DataFrame) -> Result<()> {
        let context = self.context();
        let columns = chunk
            .columns()
            .iter()
            .zip(&self.encodes)
            .map(|(column, &encode)| Values::new(column, encode))
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(Error::polars(context.clone()))?;
        let Some(client) = self.client.as_mut() else {
            return Ok(());
        };
        let mut copy = client.copy_in(&self.copy).map_err(error(context.clone()))?;
        let sent = |e: std::io::Error| Error::PostgresStream {
            context: context.clone(),
            problem: e.to_string(),
        };
        let buffer = &mut self.buffer;
        buffer.clear();
        buffer.extend_from_slice(SIGNATURE);
        buffer.extend_from_slice(&0i32.to_be_bytes());
        buffer.extend_from_slice(&0i32.to_be_bytes());
        let width = (columns.len() as i16).to_be_bytes();
        for row in 0..chunk.height() {
            buffer.extend_from_slice(&width);
            for column in &columns {
                column.write(row, buffer);
            }
            if buffer.len() >= SEND_BYTES {
                copy.write_all(buffer).map_err(sent)?;
                buffer.clear();
            }
        }
        buffer.extend_from_slice(&(-1i16).to_be_bytes());
        copy.write_all(buffer).map_err(sent)?;
        copy.finish().map_err(error(context.clone()))?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let context = format!("cannot commit table `{}` of {}", self.table, self.database);
        let Some(mut client) = self.client.take() else {
            return Ok(());
        };
        let result = (|| {
            if let Some(staging) = &self.staging {
                client.batch_execute(&format!(
                    "DROP TABLE {}; ALTER TABLE {staging} RENAME TO {}",
                    quote_table(&self.table),
                    quote_identifier(self.table.rsplit('.').next().unwrap_or(&self.table)),
                ))?;
            }
            client.batch_execute("COMMIT")
        })();
        if result.is_err() {
            let _ = client.batch_execute("ROLLBACK");
        }
        result.map_err(error(context))
    }
}

impl Drop for PostgresWriter {
    fn drop(&mut self) {
        // Only an unfinished run still holds the connection. Closing it would roll back too;
        // saying so ends the transaction at once rather than when the server notices.
        if let Some(mut client) = self.client.take() {
            let _ = client.batch_execute("ROLLBACK");
        }
    }
}
