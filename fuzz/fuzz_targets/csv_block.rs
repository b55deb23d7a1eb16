//! The CSV block parser of verdict-batch against polars' own CSV parse of the same bytes.
//!
//! Input: two bytes of layout, then the records (no header line). Byte 0: bits 0-1 the
//! delimiter (`,` `;` tab `|`), bit 2 whether `NA` is a null value, bits 3-4 the records per
//! piece (1, 2, 3, 1024). Byte 1: bits 0-1 the number of columns less one, then two bits per
//! column (of the first three; a fourth is a number): 0 a feature (`f64`, parsed by Verdict),
//! 1 an `f64` column that is no feature (parsed by polars), 2 text, 3 an integer.
//!
//! Agreement, as README.md states it: where both parses accept the block, the frames are
//! equal (the same nulls, the same `f64` bits up to NaN's payload, the same other values);
//! where one rejects it, so must the other, except when the block ends inside a quoted field
//! (an odd number of quotes): polars then reads the rest as the field, Verdict refuses the
//! block, and either is fine for a malformed file; or when Verdict finds a record with more
//! fields than the file has columns, which it refuses by design (naming the row) where polars
//! sometimes drops the extra fields.
#![no_main]

use std::io::Cursor;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use verdict_batch::CsvOptions;
use verdict_batch::polars::prelude::*;

const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
const PIECE_ROWS: [u64; 4] = [1, 2, 3, 1024];

fuzz_target!(|data: &[u8]| {
    let Some((&[options, layout], block)) = data.split_first_chunk::<2>().map(|(h, b)| (h, b))
    else {
        return;
    };
    let csv = CsvOptions {
        delimiter: DELIMITERS[usize::from(options & 3)],
        has_header: false,
        null_values: if options & 4 != 0 {
            vec!["NA".to_owned()]
        } else {
            Vec::new()
        },
    };
    let piece_rows = PIECE_ROWS[usize::from((options >> 3) & 3)];
    let columns = 1 + usize::from(layout & 3);
    let mut fields = Vec::with_capacity(columns);
    let mut numeric = Vec::new();
    for column in 0..columns {
        let name = format!("c{column}");
        let kind = if column < 3 {
            (layout >> (2 + 2 * column)) & 3
        } else {
            0
        };
        let dtype = match kind {
            0 => {
                numeric.push(name.clone());
                DataType::Float64
            }
            1 => DataType::Float64,
            2 => DataType::String,
            _ => DataType::Int64,
        };
        fields.push(Field::new(name.into(), dtype));
    }
    let schema: SchemaRef = Arc::new(fields.into_iter().collect());

    let ours = verdict_batch::fuzzing::csv_block(block, schema.clone(), &numeric, &csv, piece_rows);
    // polars' reader itself panics on some malformed blocks (a lone `"`: "slice index starts
    // at 1 but ends at 0" in polars-io 0.55.2's csv/read/builder.rs): then there is no
    // reference to compare with, and only Verdict's own parse must not have panicked.
    // libfuzzer-sys's panic hook aborts, so it is set aside around the reference parse.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let theirs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        polars_parse(block, &schema, &csv)
    }));
    std::panic::set_hook(hook);
    let Ok(theirs) = theirs else {
        return;
    };
    let unterminated = block.iter().filter(|&&b| b == b'"').count() % 2 == 1;
    match (&ours, &theirs) {
        (Ok(ours), Ok(theirs)) => assert!(
            ours.equals_missing(theirs),
            "the parses differ\nVerdict: {ours:?}\npolars: {theirs:?}"
        ),
        (Err(_), Err(_)) => {}
        (Err(_), Ok(_)) if unterminated => {}
        (Err(error), Ok(_)) if error.to_string().contains("more fields than") => {}
        (Ok(ours), Err(error)) => {
            panic!("Verdict accepts what polars rejects ({error}):\n{ours:?}")
        }
        (Err(error), Ok(theirs)) => {
            panic!("Verdict rejects what polars accepts ({error}):\n{theirs:?}")
        }
    }
});

/// polars' parse of `block` with the file's options, as the batch job would have it parse
/// the whole file.
fn polars_parse(block: &[u8], schema: &SchemaRef, csv: &CsvOptions) -> PolarsResult<DataFrame> {
    let mut options = CsvParseOptions::default()
        .with_separator(csv.delimiter)
        .with_quote_char(Some(b'"'));
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
        .into_reader_with_file_handle(Cursor::new(block.to_vec()))
        .finish()
}
