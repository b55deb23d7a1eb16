//! PostgreSQL as a source and a sink, on the fast paths only: binary `COPY` out and in.
//!
//! A [`Database`] is a connection URL read as libpq reads it: the password from the URL,
//! `PGPASSWORD` or the password file (`~/.pgpass`), TLS as `sslmode` says (see `tls.rs`).
//!
//! Reading runs `COPY (SELECT …) TO STDOUT (FORMAT binary)` in a producer thread and decodes
//! the stream into chunks of `chunk_rows` rows, which enter the same pipeline as files
//! (`read.rs`). Types a chunk cannot hold natively (intervals, arrays, geometric types, …)
//! are cast to text by the query, so they can still be passed through; as features they are
//! refused, by name.
//!
//! Writing (`write.rs`) happens in one transaction: `COPY … FROM STDIN (FORMAT binary)` into
//! a new table, or into the target itself when appending. A replaced table is built under a
//! staging name and swapped in at commit. Until the commit, readers see the table as it was;
//! a failed run rolls back, and a killed one is rolled back by the server when its
//! connection drops, so no staging table outlives its run.

mod config;
mod read;
mod tls;
mod types;
mod write;

pub use config::Database;
pub(crate) use read::{PostgresRead, count_rows, read};
pub(crate) use write::{PostgresWriter, check_target};

/// Which rows of a PostgreSQL database to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresInput {
    /// Every row of a table (or view), named as `table` or `schema.table`.
    Table(String),
    /// The rows of a `SELECT`. Add an `ORDER BY` when the row order matters.
    Query(String),
}

/// Whether `text` is a PostgreSQL connection URL (`postgresql://` or `postgres://`).
pub fn is_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgresql://") || lower.starts_with("postgres://")
}

/// A table name as SQL: `name` or `schema.name`, each part quoted.
pub(crate) fn quote_table(name: &str) -> String {
    name.split('.')
        .map(crate::io::quote_identifier)
        .collect::<Vec<_>>()
        .join(".")
}

/// Wraps a client error with what was being done.
pub(crate) fn error(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> crate::Error {
    let context = context.into();
    move |source| crate::Error::Postgres { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_urls_from_paths() {
        assert!(is_url("postgresql://me@localhost/db"));
        assert!(is_url("Postgres://localhost"));
        assert!(!is_url("postgresql.db"));
        assert!(!is_url("data/rows.csv"));
    }

    #[test]
    fn quotes_schema_and_table() {
        assert_eq!(quote_table("public.t"), "\"public\".\"t\"");
        assert_eq!(quote_table("we\"ird"), "\"we\"\"ird\"");
    }
}
