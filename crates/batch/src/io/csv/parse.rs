//! Parsing a block of CSV records: the numeric columns straight into `f64`, in parallel, and
//! the other columns through polars.
//!
//! polars' CSV parser is general: every column goes through a typed builder, and a block is
//! shared among threads only after one thread has counted its lines. On a 1M x 50 file that
//! parse was most of a batch run (callgrind: 63% of the instructions in field parsing, 23% in
//! the serial line count). A model's features are numbers, so those columns are parsed here,
//! by pieces of whole records that the block reader cuts anyway:
//!
//! - the CSV syntax is polars': a quoted field loses its outer quotes, a trailing `\r` is
//!   dropped, a field equal to a null value is null, and a record with fewer fields than the
//!   file has columns is null in the rest;
//! - the text of a field is read by the rule every front end shares,
//!   [`verdict_model::matching::parse_number`]: white space around it is ignored, a blank
//!   field is null, and anything else must be a number (`fast_float2`, polars' own float
//!   parser, reads it, so every field polars reads as a number reads the same here).
//!
//! A plain number followed by its delimiter takes a faster path ([`Layout::plain_number`])
//! that reads it with the same parser without first finding the field's end, and on a CPU
//! with AVX-512 reads a plain decimal with [`decimal::read`], which gives `fast_float2`'s
//! value faster; a test holds the paths to the shared rule's table
//! ([`verdict_model::matching::NUMBER_TEXTS`]).
//!
//! The other columns (ids, text, anything passed through) keep polars' type inference and
//! quoting rules: their fields are copied as they are into a small CSV of their own, which
//! polars parses.

use std::path::Path;

use polars::prelude::*;
use polars_arrow::bitmap::MutableBitmap;
use rayon::prelude::*;
use verdict_model::matching;

use super::CsvOptions;
use super::QUOTE;
#[cfg(target_arch = "x86_64")]
use super::decimal;
use crate::error::{Error, Location, Result};
use crate::io::records::Piece;

/// Records per piece, the unit of parallel parsing: a few hundred kilobytes of a typical
/// feature file, so that a default chunk gives every core many pieces.
pub(super) const PIECE_ROWS: u64 = 1024;

/// How the blocks of one file are parsed: which columns are numbers, and the rules of its
/// fields.
#[derive(Debug)]
pub(super) struct Layout {
    schema: SchemaRef,
    /// What each column of the file is, in file order.
    roles: Vec<Role>,
    /// The columns polars parses (all but the numbers), in file order.
    others: SchemaRef,
    numbers: usize,
    delimiter: u8,
    null_values: Vec<Box<[u8]>>,
    /// How polars parses the other columns: the file's delimiter, quote and null values.
    others_options: CsvParseOptions,
    /// The AVX-512 reader of plain decimals, on a CPU that has it.
    #[cfg(target_arch = "x86_64")]
    decimals: Option<decimal::Avx512>,
}

#[derive(Debug, Clone, Copy)]
enum Role {
    /// The `k`-th numeric column.
    Number(usize),
    /// A column polars parses.
    Other,
}

/// What a piece's numeric fields held besides numbers, and its other columns as CSV.
#[derive(Debug, Default)]
struct Parsed {
    /// `(numeric column, row in the block)` of every null.
    nulls: Vec<(usize, usize)>,
    /// The piece's fields of the other columns, one CSV record per row.
    others: Vec<u8>,
}

/// A record that cannot be read, by its row in the block.
#[derive(Debug)]
enum BadRecord {
    NotANumber {
        row: usize,
        column: usize,
        value: String,
    },
    TooManyFields {
        row: usize,
    },
}

/// A piece to parse: its bytes, the block row of its first record, and its rows of every
/// numeric column.
struct Job<'a> {
    bytes: &'a [u8],
    first_row: usize,
    rows: usize,
    numbers: Vec<&'a mut [f64]>,
}

/// One field of a record.
struct CsvField<'a> {
    /// The field as it is in the file, without its delimiter or a trailing `\r`.
    raw: &'a [u8],
    /// Where the next field starts.
    next: usize,
    /// Whether the field is the last of its record.
    ends_record: bool,
}

/// A number field, read.
enum Number {
    Value(f64),
    Null,
    Invalid,
}

impl Layout {
    /// The layout of a file whose columns are `schema`: the columns named in `numeric` that
    /// `schema` types as `f64` are parsed here, the rest by polars.
    pub(super) fn new(schema: SchemaRef, numeric: &[String], csv: &CsvOptions) -> Self {
        let mut roles = Vec::with_capacity(schema.len());
        let mut others = Schema::default();
        let mut numbers = 0;
        for (name, dtype) in schema.iter() {
            if dtype == &DataType::Float64 && numeric.iter().any(|n| n == name.as_str()) {
                roles.push(Role::Number(numbers));
                numbers += 1;
            } else {
                roles.push(Role::Other);
                others.with_column(name.clone(), dtype.clone());
            }
        }
        let mut others_options = CsvParseOptions::default()
            .with_separator(csv.delimiter)
            .with_quote_char(Some(QUOTE));
        if !csv.null_values.is_empty() {
            others_options = others_options.with_null_values(Some(NullValues::AllColumns(
                csv.null_values.iter().map(|v| v.as_str().into()).collect(),
            )));
        }
        Layout {
            schema,
            roles,
            others: Arc::new(others),
            numbers,
            delimiter: csv.delimiter,
            null_values: csv
                .null_values
                .iter()
                .map(|v| v.as_bytes().into())
                .collect(),
            others_options,
            #[cfg(target_arch = "x86_64")]
            decimals: decimal::Avx512::detect(),
        }
    }

    /// Parses `block`, whole records cut into `pieces`, into a frame of the file's columns.
    ///
    /// `first_row` is the 1-based row of the block's first record in `path`, for errors.
    pub(super) fn parse(
        &self,
        block: &[u8],
        pieces: &[Piece],
        first_row: u64,
        path: &Path,
    ) -> Result<DataFrame> {
        let rows: usize = pieces.iter().map(|p| p.rows).sum();
        let mut values: Vec<Vec<f64>> = (0..self.numbers).map(|_| vec![0.0; rows]).collect();
        let jobs = jobs(block, pieces, &mut values);
        let outcomes: Vec<_> = polars_core::runtime::THREAD_POOL.install(|| {
            jobs.into_par_iter()
                .map(|job| self.parse_piece(job))
                .collect()
        });
        // The first bad record in file order, whichever thread found it.
        let parsed = outcomes
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|bad| self.explain(bad, first_row, path))?;

        let mut validity: Vec<Option<MutableBitmap>> = vec![None; self.numbers];
        for &(column, row) in parsed.iter().flat_map(|p| &p.nulls) {
            validity[column]
                .get_or_insert_with(|| MutableBitmap::from_len_set(rows))
                .set(row, false);
        }
        let others = self.parse_others(&parsed, rows, first_row, path)?;

        let mut values = values.into_iter().zip(validity);
        let mut columns = Vec::with_capacity(self.schema.len());
        for ((name, _), role) in self.schema.iter().zip(&self.roles) {
            let column = match role {
                Role::Number(_) => {
                    let (values, validity) = values.next().unwrap_or_default();
                    Float64Chunked::from_vec_validity(
                        name.clone(),
                        values,
                        validity.map(Into::into),
                    )
                    .into_column()
                }
                Role::Other => others
                    .column(name)
                    .map_err(Error::polars(format!("cannot read {}", path.display())))?
                    .clone(),
            };
            columns.push(column);
        }
        DataFrame::new(rows, columns)
            .map_err(Error::polars(format!("cannot read {}", path.display())))
    }

    /// The first value of `text` (the other columns, read as text) that does not fit its
    /// column's type.
    fn misfit(&self, text: &DataFrame, first_row: u64, path: &Path) -> Option<Error> {
        self.others.iter().find_map(|(name, dtype)| {
            let values = text.column(name).ok()?.str().ok()?;
            // A value that does not fit becomes null in a lenient cast.
            let failed = values.cast(dtype).ok()?.is_null();
            let index = (0..values.len()).find(|&i| {
                values.get(i).is_some_and(|v| !v.is_empty()) && failed.get(i) == Some(true)
            })?;
            Some(Error::UnexpectedType {
                column: name.to_string(),
                location: Location {
                    row: first_row + index as u64,
                    file: Some(path.to_owned()),
                },
                value: values.get(index).unwrap_or_default().to_owned(),
                dtype: dtype.to_string(),
                inferred_from: crate::io::INFER_SCHEMA_ROWS,
            })
        })
    }

    /// The other columns of every piece, parsed by polars.
    fn parse_others(
        &self,
        parsed: &[Parsed],
        rows: usize,
        first_row: u64,
        path: &Path,
    ) -> Result<DataFrame> {
        let context = || format!("cannot read {}", path.display());
        if self.others.is_empty() {
            return Ok(DataFrame::empty_with_height(rows));
        }
        let csv: Vec<u8> = parsed.iter().flat_map(|p| &p.others).copied().collect();
        let read = |schema: SchemaRef, csv: Vec<u8>| {
            CsvReadOptions::default()
                .with_has_header(false)
                .with_schema(Some(schema))
                .with_parse_options(self.others_options.clone())
                .with_raise_if_empty(false)
                .into_reader_with_file_handle(std::io::Cursor::new(csv))
                .finish()
        };
        let frame = match read(self.others.clone(), csv.clone()) {
            Ok(frame) => frame,
            Err(source) => {
                // polars names the value but not its row: read the columns as text to find it.
                let as_text = self
                    .others
                    .iter_names()
                    .map(|name| Field::new(name.clone(), DataType::String));
                let text =
                    read(Arc::new(as_text.collect()), csv).map_err(Error::polars(context()))?;
                return Err(self
                    .misfit(&text, first_row, path)
                    .unwrap_or_else(|| Error::polars(context())(source)));
            }
        };
        if frame.height() != rows {
            return Err(Error::polars(context())(polars_err!(
                ComputeError: "{} records read as {} rows", rows, frame.height()
            )));
        }
        Ok(frame)
    }

    fn parse_piece(&self, job: Job<'_>) -> std::result::Result<Parsed, BadRecord> {
        #[cfg(target_arch = "x86_64")]
        if let Some(token) = self.decimals {
            return token.run(|| self.parse_piece_with(job, |bytes| decimal::read(token, bytes)));
        }
        self.parse_piece_with(job, |_| None)
    }

    /// [`Layout::parse_piece`], with `plain_decimal` for [`Layout::plain_number`]. Inlined
    /// into each caller, so that the AVX-512 one inlines its reader too.
    #[inline(always)]
    fn parse_piece_with(
        &self,
        job: Job<'_>,
        plain_decimal: impl Fn(&[u8]) -> Option<(f64, usize)>,
    ) -> std::result::Result<Parsed, BadRecord> {
        let Job {
            bytes,
            first_row,
            rows,
            mut numbers,
        } = job;
        let mut parsed = Parsed::default();
        let has_others = !self.others.is_empty();
        // A null value could be spelled as a number ("-999"): then every number field must be
        // compared with them first, so the shortcut is off.
        let quick = self.null_values.is_empty();
        let mut at = 0;
        #[expect(
            clippy::needless_range_loop,
            reason = "a row writes one value into each of many columns"
        )]
        for row in 0..rows {
            let mut column = 0;
            let mut first_other = true;
            loop {
                if let (true, Some(&Role::Number(k))) = (quick, self.roles.get(column))
                    && let Some((value, end)) = self.plain_number(bytes, at, &plain_decimal)
                {
                    numbers[k][row] = value;
                    column += 1;
                    at = end + 1;
                    if bytes.get(end).is_none_or(|&b| b == b'\n') {
                        break;
                    }
                    continue;
                }
                let field = self.field(bytes, at);
                at = field.next;
                match self.roles.get(column) {
                    None => {
                        return Err(BadRecord::TooManyFields {
                            row: first_row + row,
                        });
                    }
                    Some(&Role::Number(k)) => match self.number(field.raw) {
                        Number::Value(value) => numbers[k][row] = value,
                        Number::Null => {
                            numbers[k][row] = f64::NAN;
                            parsed.nulls.push((k, first_row + row));
                        }
                        Number::Invalid => {
                            return Err(BadRecord::NotANumber {
                                row: first_row + row,
                                column,
                                value: String::from_utf8_lossy(unquote(field.raw)).into_owned(),
                            });
                        }
                    },
                    Some(Role::Other) => {
                        if !first_other {
                            parsed.others.push(self.delimiter);
                        }
                        first_other = false;
                        parsed.others.extend_from_slice(field.raw);
                    }
                }
                column += 1;
                if field.ends_record {
                    break;
                }
            }
            // Missing trailing fields are null, as polars reads them.
            for role in self.roles.iter().skip(column) {
                if let &Role::Number(k) = role {
                    numbers[k][row] = f64::NAN;
                    parsed.nulls.push((k, first_row + row));
                }
            }
            if has_others {
                parsed.others.push(b'\n');
            }
        }
        Ok(parsed)
    }

    /// The field that starts at `start`. A quote anywhere opens or closes a quoted stretch,
    /// as for the record cutter, so that both agree on where records end.
    fn field<'a>(&self, bytes: &'a [u8], start: usize) -> CsvField<'a> {
        let mut at = start;
        let mut in_quotes = false;
        let (end, ends_record) = loop {
            let rest = &bytes[at.min(bytes.len())..];
            let found = if in_quotes {
                memchr::memchr(QUOTE, rest)
            } else {
                memchr::memchr3(self.delimiter, b'\n', QUOTE, rest)
            };
            let Some(offset) = found else {
                break (bytes.len(), true);
            };
            let byte = rest[offset];
            at += offset;
            if byte == QUOTE {
                in_quotes = !in_quotes;
                at += 1;
            } else {
                break (at, byte == b'\n');
            }
        };
        let mut raw = &bytes[start.min(end)..end];
        if let [head @ .., b'\r'] = raw {
            raw = head;
        }
        CsvField {
            raw,
            next: end + 1,
            ends_record,
        }
    }

    /// The common case, a plain number followed by a delimiter or the record's end, read
    /// without first searching for the field's end: the number and where its field ends (the
    /// delimiter's or newline's offset, or the end of `bytes`). `None` sends the field to the
    /// general path: a quote, a blank, an empty field, or anything after the number.
    ///
    /// Parsing as much of a number as there is, then finding the field's end right after it,
    /// reads the same value as [`Layout::number`] on the whole field.
    ///
    /// `plain_decimal` reads the common number faster where the CPU allows
    /// ([`decimal::read`]); `None` leaves it to `fast_float2`.
    #[inline(always)]
    fn plain_number(
        &self,
        bytes: &[u8],
        at: usize,
        plain_decimal: impl Fn(&[u8]) -> Option<(f64, usize)>,
    ) -> Option<(f64, usize)> {
        let rest = bytes.get(at..)?;
        let &first = rest.first()?;
        if first == QUOTE || first == self.delimiter || first <= b' ' {
            return None;
        }
        let (value, used) = match plain_decimal(rest) {
            Some(read) => read,
            None => fast_float2::parse_partial::<f64, _>(rest).ok()?,
        };
        let mut end = at + used;
        // polars drops a field's trailing `\r`.
        if bytes.get(end) == Some(&b'\r') {
            end += 1;
        }
        match bytes.get(end) {
            None => Some((value, end)),
            Some(&b) if b == self.delimiter || b == b'\n' => Some((value, end)),
            Some(_) => None,
        }
    }

    /// Reads a number field: the CSV syntax (outer quotes, the file's null values) here, the
    /// text itself by the rule every front end shares ([`matching::parse_number_bytes`]).
    fn number(&self, raw: &[u8]) -> Number {
        let content = unquote(raw);
        if self.null_values.iter().any(|null| **null == *content) {
            return Number::Null;
        }
        match matching::parse_number_bytes(content) {
            Ok(Some(value)) => Number::Value(value),
            Ok(None) => Number::Null,
            Err(_) => Number::Invalid,
        }
    }

    /// The error for a bad record, with its place in the file.
    fn explain(&self, bad: BadRecord, first_row: u64, path: &Path) -> Error {
        let location = |row: usize| Location {
            row: first_row + row as u64,
            file: Some(path.to_owned()),
        };
        match bad {
            BadRecord::NotANumber { row, column, value } => Error::NotANumber {
                column: self
                    .schema
                    .get_at_index(column)
                    .map_or_else(String::new, |(name, _)| name.to_string()),
                location: location(row),
                value,
            },
            BadRecord::TooManyFields { row } => Error::TooManyFields {
                location: location(row),
                expected: self.schema.len(),
            },
        }
    }
}

/// A field without its outer quotes, as polars strips them from a quoted number.
fn unquote(raw: &[u8]) -> &[u8] {
    match raw {
        [QUOTE, inner @ .., _] => inner,
        _ => raw,
    }
}

/// One job per piece, each holding the piece's rows of every numeric column.
fn jobs<'a>(block: &'a [u8], pieces: &[Piece], values: &'a mut [Vec<f64>]) -> Vec<Job<'a>> {
    let mut tails: Vec<&mut [f64]> = values.iter_mut().map(Vec::as_mut_slice).collect();
    let mut jobs = Vec::with_capacity(pieces.len());
    let mut start = 0;
    let mut first_row = 0;
    for piece in pieces {
        let numbers = tails
            .iter_mut()
            .map(|tail| {
                let (head, rest) = std::mem::take(tail).split_at_mut(piece.rows);
                *tail = rest;
                head
            })
            .collect();
        jobs.push(Job {
            bytes: &block[start..piece.end],
            first_row,
            rows: piece.rows,
            numbers,
        });
        start = piece.end;
        first_row += piece.rows;
    }
    jobs
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn schema(columns: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(
            columns
                .iter()
                .map(|(name, dtype)| Field::new((*name).into(), dtype.clone()))
                .collect(),
        )
    }

    /// `block` cut into pieces of `piece_rows` records, as the block reader cuts it.
    fn pieces(block: &str, piece_rows: usize) -> Vec<Piece> {
        let mut records = crate::io::records::Records::new(block.as_bytes(), Some(QUOTE));
        let mut pieces = Vec::new();
        let mut bytes = Vec::new();
        loop {
            let rows = records.read(piece_rows as u64, &mut bytes).unwrap();
            if rows == 0 {
                return pieces;
            }
            pieces.push(Piece {
                end: bytes.len(),
                rows: rows as usize,
            });
        }
    }

    fn parse(
        block: &str,
        schema: &SchemaRef,
        csv: &CsvOptions,
        piece_rows: usize,
    ) -> Result<DataFrame> {
        let numeric: Vec<String> = schema
            .iter()
            .filter(|(_, dtype)| **dtype == DataType::Float64)
            .map(|(name, _)| name.to_string())
            .collect();
        let layout = Layout::new(schema.clone(), &numeric, csv);
        layout.parse(
            block.as_bytes(),
            &pieces(block, piece_rows),
            1,
            Path::new("in.csv"),
        )
    }

    /// polars' own parse of `block`: what Verdict's must equal.
    fn polars_parse(block: &str, schema: &SchemaRef, csv: &CsvOptions) -> DataFrame {
        let mut options = CsvParseOptions::default()
            .with_separator(csv.delimiter)
            .with_quote_char(Some(QUOTE));
        if !csv.null_values.is_empty() {
            options = options.with_null_values(Some(NullValues::AllColumns(
                csv.null_values.iter().map(|v| v.as_str().into()).collect(),
            )));
        }
        CsvReadOptions::default()
            .with_has_header(false)
            .with_schema(Some(schema.clone()))
            .with_parse_options(options)
            .with_raise_if_empty(false)
            .into_reader_with_file_handle(Cursor::new(block.as_bytes().to_vec()))
            .finish()
            .unwrap()
    }

    fn assert_parses_like_polars(block: &str, schema: &SchemaRef, csv: &CsvOptions) {
        let expected = polars_parse(block, schema, csv);
        for piece_rows in [1, 2, 1000] {
            let ours = parse(block, schema, csv, piece_rows).unwrap();
            assert!(
                ours.equals_missing(&expected),
                "pieces of {piece_rows} rows:\n{ours:?}\npolars:\n{expected:?}"
            );
        }
    }

    #[test]
    fn numbers_and_their_spellings_parse_as_polars_parses_them() {
        let schema = schema(&[
            ("id", DataType::Int64),
            ("x", DataType::Float64),
            ("y", DataType::Float64),
        ]);
        let block = "1,0.5,-2\n\
                     2,1e3,+7.25\n\
                     3,\"4.5\",  6\n\
                     4,,\t8\n\
                     5,NaN,inf\n\
                     6,-Infinity,1.7976931348623157e308\n\
                     11,.5,5.\n\
                     12,-.5e-3\r,1E5\n\
                     13,+inf,0.1\r\n\
                     7,0.18905338179353307,-0\r\n\
                     8,3\n\
                     9\n\
                     10,\"\",\n";
        assert_parses_like_polars(block, &schema, &CsvOptions::default());
    }

    #[test]
    fn null_values_match_whole_fields_quoted_or_not() {
        let schema = schema(&[("x", DataType::Float64), ("label", DataType::String)]);
        let csv = CsvOptions {
            null_values: vec!["NA".into(), "-".into()],
            ..CsvOptions::default()
        };
        let block = "NA,a\n\"NA\",NA\n-,-\n1.5,\"b,c\"\n2.5,\"say \"\"hi\"\"\nthere\"\n";
        assert_parses_like_polars(block, &schema, &csv);
    }

    #[test]
    fn other_columns_keep_polars_quoting_and_types_in_any_order() {
        let schema = schema(&[
            ("name", DataType::String),
            ("x", DataType::Float64),
            ("flag", DataType::Boolean),
            ("y", DataType::Float64),
            ("count", DataType::Int64),
        ]);
        let block = "\"a;b\";1;true;2;3\n;4;false;5;\nc;;;;7\n\"multi\nline\";8;true;9;10";
        let csv = CsvOptions {
            delimiter: b';',
            ..CsvOptions::default()
        };
        assert_parses_like_polars(block, &schema, &csv);
    }

    #[test]
    fn a_block_of_numbers_only_needs_no_other_columns() {
        let schema = schema(&[("x", DataType::Float64), ("y", DataType::Float64)]);
        assert_parses_like_polars("1,2\n3,4\n", &schema, &CsvOptions::default());
        assert_parses_like_polars("", &schema, &CsvOptions::default());
    }

    #[test]
    fn a_value_that_is_not_a_number_is_named_with_its_row_and_column() {
        let schema = schema(&[
            ("id", DataType::Int64),
            ("x", DataType::Float64),
            ("y", DataType::Float64),
        ]);
        let block = "1,2,3\n2,4,5\n3,6,1.5x\n4,abc,1\n";
        for piece_rows in [1, 3, 1000] {
            let error = parse(block, &schema, &CsvOptions::default(), piece_rows).unwrap_err();
            match error {
                Error::NotANumber {
                    column,
                    location,
                    value,
                } => {
                    assert_eq!(
                        (column.as_str(), location.row, value.as_str()),
                        ("y", 3, "1.5x")
                    );
                    assert_eq!(location.file.as_deref(), Some(Path::new("in.csv")));
                }
                other => panic!("expected NotANumber, got {other}"),
            }
        }
    }

    #[test]
    fn a_record_with_too_many_fields_is_an_error_naming_its_row() {
        let schema = schema(&[("x", DataType::Float64), ("y", DataType::Float64)]);
        let error = parse("1,2\n3,4,5\n", &schema, &CsvOptions::default(), 1).unwrap_err();
        assert!(
            matches!(error, Error::TooManyFields { ref location, expected: 2 } if location.row == 2),
            "{error}"
        );
    }

    #[test]
    fn a_value_of_another_column_that_does_not_fit_its_type_is_named_with_its_row() {
        let schema = schema(&[("id", DataType::Int64), ("x", DataType::Float64)]);
        let block = "1,0.5\n2,0.5\nA17,0.5\n4,0.5\n";
        for piece_rows in [1, 1000] {
            match parse(block, &schema, &CsvOptions::default(), piece_rows).unwrap_err() {
                Error::UnexpectedType {
                    column,
                    location,
                    value,
                    dtype,
                    ..
                } => {
                    assert_eq!(
                        (
                            column.as_str(),
                            location.row,
                            value.as_str(),
                            dtype.as_str()
                        ),
                        ("id", 3, "A17", "i64")
                    );
                }
                other => panic!("expected UnexpectedType, got {other}"),
            }
        }
    }

    #[test]
    fn fields_read_as_the_shared_rule_says() {
        use verdict_model::matching::{NUMBER_TEXTS, NotANumber};
        let schema = schema(&[("x", DataType::Float64), ("y", DataType::Float64)]);
        for &(text, expected) in NUMBER_TEXTS {
            // Quotes and commas are CSV syntax, not part of a field's text.
            if text.contains(['"', ',', '\n']) {
                continue;
            }
            // Alone on its record (the whole-field path) and followed by a delimiter (where a
            // plain number takes the fast path).
            for block in [format!("{text}\n"), format!("{text},1\n")] {
                let read = match parse(&block, &schema, &CsvOptions::default(), 1) {
                    Ok(frame) => Ok(frame.column("x").unwrap().f64().unwrap().get(0)),
                    Err(Error::NotANumber { .. }) => Err(NotANumber),
                    Err(other) => panic!("{block:?}: {other}"),
                };
                assert!(
                    expected.matches(read),
                    "{block:?}: expected {expected:?}, read {read:?}"
                );
            }
        }
    }
}
