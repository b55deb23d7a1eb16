//! The errors of `verdict-batch`.
//!
//! A batch job fails in front of someone who has to fix a file, a query or a command line, so
//! every error names the column, the row, the value or the path at fault, and where it can, the
//! fix (a close column name, a flag to pass).

use std::fmt;
use std::path::PathBuf;

use verdict_model::PredictError;
pub use verdict_model::matching::MissingColumn;
use verdict_model::matching::{self, MatchError};

/// Any error of a batch run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input's columns do not provide the model's features.
    #[error(transparent)]
    Columns(#[from] MatchError),
    /// Columns asked to be passed through are not in the input.
    #[error("the input has no column {} to pass through", matching::list(missing))]
    MissingPassthrough {
        /// The columns not found, each with close column names.
        missing: Vec<MissingColumn>,
    },
    /// A value of a numeric feature is not a number.
    #[error("column `{column}`, {location}: `{value}` is not a number")]
    NotANumber {
        /// The input column.
        column: String,
        /// Where the value is.
        location: Location,
        /// The value, as it appears in the input.
        value: String,
    },
    /// A value of a column that is not a feature does not fit the type inferred for it.
    #[error(
        "column `{column}`, {location}: `{value}` does not fit the type {dtype} inferred from \
         the column's first {inferred_from} rows; give the column one type throughout, or \
         convert the file to Parquet with the types you want"
    )]
    UnexpectedType {
        /// The input column.
        column: String,
        /// Where the value is.
        location: Location,
        /// The value, as it appears in the input.
        value: String,
        /// The type polars inferred.
        dtype: String,
        /// How many rows the type was inferred from.
        inferred_from: usize,
    },
    /// A CSV record has more fields than the file has columns.
    #[error("{location}: the record has more fields than the {expected} columns of the file")]
    TooManyFields {
        /// Where the record is.
        location: Location,
        /// How many columns the file has.
        expected: usize,
    },
    /// A feature is null and `strict` forbids it.
    #[error("column `{column}`, {location}: the value is missing (strict mode rejects nulls)")]
    NullValue {
        /// The input column.
        column: String,
        /// Where the value is.
        location: Location,
    },
    /// A categorical feature has a category the model does not know and `strict` forbids it.
    #[error(
        "column `{column}`, {location}: `{value}` is not one of the model's categories \
         (strict mode rejects unknown categories)"
    )]
    UnknownCategory {
        /// The input column.
        column: String,
        /// Where the value is.
        location: Location,
        /// The category.
        value: String,
    },
    /// A feature column has a type Verdict cannot turn into numbers.
    #[error("column `{column}` has type {dtype}, which cannot feed the {kind} feature `{feature}`")]
    UnsupportedType {
        /// The input column.
        column: String,
        /// The model feature it feeds.
        feature: String,
        /// `numeric` or `categorical`.
        kind: &'static str,
        /// The column's type.
        dtype: String,
    },
    /// An output column would have the name of an input column that is passed through.
    #[error(
        "the output column `{column}` clashes with the input column of that name; \
         set an output prefix (--prefix) or do not pass `{column}` through"
    )]
    ColumnClash {
        /// The name both would have.
        column: String,
    },
    /// Two output columns would have the same name.
    #[error("two output columns would both be named `{column}`; choose fewer outputs")]
    DuplicateOutput {
        /// The name.
        column: String,
    },
    /// The model cannot produce a requested output.
    #[error(transparent)]
    Output(PredictError),
    /// The model failed on a block of rows.
    #[error("the model failed on the {rows} rows from {first}: {source}")]
    Predict {
        /// The block's first row.
        first: Location,
        /// The block's number of rows.
        rows: usize,
        /// The model's error.
        source: PredictError,
    },
    /// The model rejects a missing value, as scikit-learn's linear models do.
    #[error(
        "{location}: the model rejects the missing value at its input {input} (scikit-learn's \
         linear models reject missing values); fill the column or put an imputer before the model"
    )]
    RejectedMissing {
        /// The row.
        location: Location,
        /// The model's input (its feature, unless a pipeline step comes first).
        input: usize,
    },
    /// The model's own encoder rejects a category code it did not see in training.
    #[error(
        "column `{column}`, {location}: the model rejects category code {code}, which it did not see in training"
    )]
    RejectedCategory {
        /// The feature.
        column: String,
        /// Where the value is.
        location: Location,
        /// The code.
        code: f64,
    },
    /// An option is out of range or inconsistent.
    #[error("{0}")]
    InvalidOption(String),
    /// The input does not exist or matches no file.
    #[error("no input files match `{pattern}`")]
    NoInput {
        /// The path, directory or glob.
        pattern: String,
    },
    /// No object in object storage matches a URL (one key, a prefix or a glob).
    #[error("no object matches `{url}`")]
    NoObject {
        /// The URL.
        url: String,
    },
    /// The bucket (or container) a URL names does not exist.
    #[error(
        "the bucket of `{url}` does not exist (or is not visible to these credentials); check \
         its name, and the endpoint or region if it is not the default"
    )]
    NoBucket {
        /// The URL.
        url: String,
    },
    /// Object storage refused a request: the credentials are missing, wrong or expired, or
    /// lack a permission.
    #[error(
        "object storage refused access to `{url}`{}; {what_to_check}",
        in_parentheses(reason)
    )]
    AccessDenied {
        /// The URL.
        url: String,
        /// The store's words (such as `InvalidAccessKeyId: ...`), when it gave any.
        reason: String,
        /// What the user should check, for this URL's service: where its credentials come
        /// from, or for a web server, the URL itself.
        what_to_check: &'static str,
    },
    /// A web server that does not answer range requests: reading an object (its footer, its
    /// row groups, its blocks) asks for parts of it.
    #[error(
        "the server of `{url}` does not answer range requests (HTTP `Range`), which reading \
         an object needs; serve the file from one that does, or copy it to a local file first"
    )]
    NoRangeRequests {
        /// The URL.
        url: String,
    },
    /// A URL whose scheme Verdict neither reads nor writes.
    #[error(
        "`{url}`: {scheme}:// is not supported; object storage is s3://, gs://, az:// (or \
         abfss://) and, to read, http(s)://; a local file is a plain path"
    )]
    UnsupportedScheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// An object storage request failed (the network, the server).
    #[error("{context}: {source}")]
    ObjectStore {
        /// What was being done, on which object.
        context: String,
        /// The client's error.
        source: object_store::Error,
    },
    /// The format of a path cannot be told from its name.
    #[error(
        "cannot tell the format of `{path}` from its extension; name it with --input-format / \
         --output-format (csv, parquet, ipc, ndjson or sqlite)"
    )]
    UnknownFormat {
        /// The path.
        path: PathBuf,
    },
    /// A directory or glob holds files of different formats.
    #[error(
        "`{pattern}` matches files of different formats ({first} and {second}); use a glob such as `dir/*.parquet`"
    )]
    MixedFormats {
        /// The directory or glob.
        pattern: String,
        /// One format.
        first: &'static str,
        /// Another.
        second: &'static str,
    },
    /// The output exists and the run was not told to replace it.
    #[error("{what} already exists; pass --if-exists replace to overwrite it{hint}")]
    OutputExists {
        /// The file, or the table and its database.
        what: String,
        /// More options, where there are.
        hint: &'static str,
    },
    /// The output would overwrite the input.
    #[error("the output `{path}` is the input; write the predictions to another file")]
    OutputIsInput {
        /// The path.
        path: PathBuf,
    },
    /// The run was cancelled (SIGTERM, SIGINT, or [`Cancel::cancel`](crate::Cancel::cancel)).
    #[error("stopped after {rows} rows, as asked; no output was written")]
    Cancelled {
        /// Rows scored before the stop.
        rows: u64,
    },
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot create").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Polars failed to read or write data.
    #[error("{context}: {source}")]
    Polars {
        /// What was being done, and on which file.
        context: String,
        /// Polars' error.
        source: polars::error::PolarsError,
    },
    /// SQLite failed.
    #[error("{context}: {source}")]
    Sqlite {
        /// What was being done, and on which database.
        context: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A SQLite value cannot be stored in its column.
    #[error("column `{column}`, {location}: {problem}")]
    SqliteValue {
        /// The column.
        column: String,
        /// Where the value is.
        location: Location,
        /// What is wrong.
        problem: String,
    },
    /// PostgreSQL failed: the connection, the query, or the server.
    #[error("{context}: {}", postgres_message(source))]
    Postgres {
        /// What was being done, and on which database.
        context: String,
        /// The client's error, with the server's message.
        source: postgres::Error,
    },
    /// A PostgreSQL value cannot be read into its column.
    #[error("column `{column}` (PostgreSQL type {pg_type}), {location}: {problem}")]
    PostgresValue {
        /// The column.
        column: String,
        /// Its PostgreSQL type.
        pg_type: String,
        /// Where the value is.
        location: Location,
        /// What is wrong.
        problem: String,
    },
    /// A `COPY` stream broke off or does not follow the binary format.
    #[error("{context}: {problem}")]
    PostgresStream {
        /// What was being done, and on which database.
        context: String,
        /// What went wrong.
        problem: String,
    },
    /// A PostgreSQL column of a type that cannot be a feature feeds one.
    #[error(
        "column `{column}` has the PostgreSQL type {pg_type}, which cannot feed a {kind} \
         feature; cast it to a number or text in --query"
    )]
    PostgresType {
        /// The column.
        column: String,
        /// Its PostgreSQL type.
        pg_type: String,
        /// `numeric` or `categorical`.
        kind: &'static str,
    },
    /// An output column has a type no PostgreSQL column is made for here.
    #[error(
        "column `{column}` has type {dtype}, which cannot be written to PostgreSQL; do not \
         pass it through"
    )]
    PostgresOutputType {
        /// The column.
        column: String,
        /// Its polars type.
        dtype: String,
    },
}

impl Error {
    /// Wraps a polars error with what was being done.
    pub(crate) fn polars(
        context: impl Into<String>,
    ) -> impl FnOnce(polars::error::PolarsError) -> Error {
        let context = context.into();
        move |source| Error::Polars { context, source }
    }

    /// Wraps a SQLite error with what was being done.
    pub(crate) fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
        let context = context.into();
        move |source| Error::Sqlite { context, source }
    }

    /// Wraps an I/O error with the action and the path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// ` (text)`, or nothing for an empty text.
fn in_parentheses(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

/// The server's own words (with its detail and hint) for a database error; the client's,
/// with their cause, for the others.
fn postgres_message(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut message = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" (DETAIL: {detail})"));
        }
        if let Some(hint) = db.hint() {
            message.push_str(&format!(" (HINT: {hint})"));
        }
        return message;
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// Where a value is in the input: its 1-based row (header lines not counted) and, for
/// many-file input, the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The 1-based row in the file (or table, query or frame).
    pub row: u64,
    /// The file, when the input is a file.
    pub file: Option<PathBuf>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(file) = &self.file {
            write!(f, " of {}", file.display())?;
        }
        Ok(())
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_the_file_when_there_is_one() {
        let here = Location {
            row: 7,
            file: Some(PathBuf::from("a.csv")),
        };
        assert_eq!(here.to_string(), "row 7 of a.csv");
        assert_eq!(Location { row: 3, file: None }.to_string(), "row 3");
    }
}
