//! Arrow columns as the model's features: one contiguous `f64` column per feature, `NaN`
//! for a missing value.
//!
//! A [`FeaturePlan`] is settled once per call from the schema: which column feeds each
//! feature ([`verdict_model::matching::match_columns`]: by name, or by position for models
//! without names) and whether its values are numbers or category names. [`FeaturePlan::read`]
//! then reads a batch. A `float64` column without nulls is used where it lies, in the
//! caller's buffer; any other column (integers, `float32`, booleans, text, dictionaries,
//! nulls) is converted into a new column, as `verdict predict` converts it.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Schema};
use verdict_model::matching::{self, CategoryCodes, Reading};
use verdict_model::{Signature, UNKNOWN_CATEGORY};

use crate::errors::{Error, InputError};

/// A feature's values: the caller's own buffer, or a converted copy.
#[derive(Debug)]
pub(crate) enum Values<'a> {
    /// A `float64` column without nulls, read where it lies.
    Borrowed(&'a [f64]),
    /// Anything else, converted.
    Owned(Vec<f64>),
}

impl Values<'_> {
    /// The values.
    pub(crate) fn as_slice(&self) -> &[f64] {
        match self {
            Values::Borrowed(values) => values,
            Values::Owned(values) => values,
        }
    }
}

/// Which column feeds each feature, and how its values are read.
#[derive(Debug)]
pub(crate) struct FeaturePlan {
    bindings: Vec<Binding>,
}

#[derive(Debug)]
struct Binding {
    /// The column's position in the schema.
    position: usize,
    /// The column's name.
    column: String,
    /// The model's name for the feature.
    feature: String,
    /// How its cells are read.
    reading: Reading,
}

/// How a cell is read: which column, from which row on, and whether a missing value is an
/// error.
struct Cells<'a> {
    column: &'a str,
    first_row: usize,
    strict: bool,
}

impl Cells<'_> {
    /// The value of a missing cell at `index`: `NaN`, or an error with `strict`.
    fn missing(&self, index: usize) -> Result<f64, InputError> {
        if self.strict {
            Err(InputError::Missing {
                column: self.column.to_owned(),
                row: self.first_row + index,
            })
        } else {
            Ok(f64::NAN)
        }
    }

    /// The code of the category called `name` at `index`.
    fn category(&self, codes: &CategoryCodes, name: &str, index: usize) -> Result<f64, InputError> {
        match codes.code(name) {
            Some(code) => Ok(code),
            None if self.strict => Err(InputError::UnknownCategory {
                column: self.column.to_owned(),
                row: self.first_row + index,
                value: name.to_owned(),
            }),
            None => Ok(UNKNOWN_CATEGORY),
        }
    }
}

impl FeaturePlan {
    /// Matches the model's features to the columns of `schema` and checks that each column's
    /// type can feed its feature.
    pub(crate) fn new(signature: &Signature, schema: &Schema) -> Result<Self, Error> {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let (positions, _) = matching::match_columns(signature, &names, &[])?;
        let bindings = positions
            .into_iter()
            .enumerate()
            .map(|(index, position)| {
                let binding = Binding {
                    position,
                    column: names[position].to_owned(),
                    feature: signature.features[index].name.clone(),
                    reading: Reading::of(signature, index),
                };
                binding.check_type(schema.field(position).data_type())?;
                Ok(binding)
            })
            .collect::<Result<_, InputError>>()?;
        Ok(FeaturePlan { bindings })
    }

    /// The feature columns of `batch`, whose first row is row `first_row` of the input.
    pub(crate) fn read<'a>(
        &self,
        batch: &'a RecordBatch,
        first_row: usize,
        strict: bool,
    ) -> Result<Vec<Values<'a>>, InputError> {
        self.bindings
            .iter()
            .map(|binding| {
                let cells = Cells {
                    column: &binding.column,
                    first_row,
                    strict,
                };
                let array = batch.column(binding.position).as_ref();
                binding.check_type(array.data_type())?;
                match &binding.reading {
                    Reading::Number => numbers(array, &cells),
                    Reading::Category(codes) => categories(array, codes, &cells).map(Values::Owned),
                    Reading::Skipped => Ok(Values::Owned(vec![f64::NAN; array.len()])),
                    Reading::Hashed => hashed(array, &cells).map(Values::Owned),
                }
            })
            .collect()
    }
}

impl Binding {
    /// Rejects column types that cannot feed the feature, before any row is read: the same
    /// types `verdict predict` takes.
    fn check_type(&self, dtype: &DataType) -> Result<(), InputError> {
        let categorical = matches!(self.reading, Reading::Category(_));
        let ok = match dtype {
            _ if matches!(self.reading, Reading::Skipped) => true,
            // Whole numbers in a float column (pandas' integers with a missing value) are
            // CatBoost categories too.
            _ if matches!(self.reading, Reading::Hashed) => {
                dtype.is_integer()
                    || dtype.is_floating()
                    || is_text_or_flag(dtype)
                    || matches!(dtype, DataType::Dictionary(..))
            }
            DataType::Dictionary(_, values) => {
                is_text(values) || values.is_integer() || (!categorical && values.is_floating())
            }
            dtype if categorical => dtype.is_integer() || is_text_or_flag(dtype),
            dtype => dtype.is_integer() || dtype.is_floating() || is_text_or_flag(dtype),
        };
        if ok {
            return Ok(());
        }
        Err(InputError::UnsupportedType {
            column: self.column.clone(),
            feature: self.feature.clone(),
            kind: self.reading.name(),
            dtype: dtype.to_string(),
        })
    }
}

fn is_text(dtype: &DataType) -> bool {
    matches!(
        dtype,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_text_or_flag(dtype: &DataType) -> bool {
    is_text(dtype) || matches!(dtype, DataType::Boolean | DataType::Null)
}

/// Whether every null slot of `values` holds `NaN`, the value a missing feature takes. Arrow
/// leaves the value under a null unspecified, so this is checked, null by null (the 64-bit
/// words of the validity bitmap with no null are skipped whole).
fn nulls_hold_nan(values: &[f64], nulls: &NullBuffer) -> bool {
    let chunks = nulls.inner().bit_chunks();
    // The last, partial word, with the bits past the end set (valid). It has 0 to 63 bits.
    let tail_len = chunks.remainder_len();
    let tail = match tail_len {
        0 => u64::MAX,
        len => chunks.remainder_bits() | (u64::MAX << len),
    };
    let words = chunks.iter().chain(std::iter::once(tail));
    for (word, validity) in words.enumerate() {
        let mut missing = !validity;
        while missing != 0 {
            let index = word * 64 + missing.trailing_zeros() as usize;
            if !values[index].is_nan() {
                return false;
            }
            missing &= missing - 1;
        }
    }
    true
}

/// A numeric feature's values. A `NaN` is as missing as a null (pandas hands one over as a
/// null, pyarrow and polars as a value), so `strict` refuses either.
fn numbers<'a>(array: &'a dyn Array, cells: &Cells<'_>) -> Result<Values<'a>, InputError> {
    let values = number_values(array, cells)?;
    if cells.strict
        && let Some(index) = values.as_slice().iter().position(|value| value.is_nan())
    {
        // With `strict`, this is the error.
        cells.missing(index)?;
    }
    Ok(values)
}

/// [`numbers`], but for `NaN` values under `strict`.
fn number_values<'a>(array: &'a dyn Array, cells: &Cells<'_>) -> Result<Values<'a>, InputError> {
    let values = match array.data_type() {
        DataType::Float64 => {
            let floats = array.as_primitive::<Float64Type>();
            let values: &[f64] = floats.values();
            // pandas hands a NaN over as a null whose slot still holds the NaN: such a column
            // is read where it lies too, unless `strict` must refuse the nulls.
            let nulls_over_nan = floats
                .nulls()
                .is_none_or(|nulls| !cells.strict && nulls_hold_nan(values, nulls));
            if nulls_over_nan {
                return Ok(Values::Borrowed(values));
            }
            primitive(floats, cells)?
        }
        DataType::Float32 => primitive(array.as_primitive::<Float32Type>(), cells)?,
        DataType::Float16 => primitive(array.as_primitive::<Float16Type>(), cells)?,
        DataType::Int8 => primitive(array.as_primitive::<Int8Type>(), cells)?,
        DataType::Int16 => primitive(array.as_primitive::<Int16Type>(), cells)?,
        DataType::Int32 => primitive(array.as_primitive::<Int32Type>(), cells)?,
        DataType::Int64 => primitive(array.as_primitive::<Int64Type>(), cells)?,
        DataType::UInt8 => primitive(array.as_primitive::<UInt8Type>(), cells)?,
        DataType::UInt16 => primitive(array.as_primitive::<UInt16Type>(), cells)?,
        DataType::UInt32 => primitive(array.as_primitive::<UInt32Type>(), cells)?,
        DataType::UInt64 => primitive(array.as_primitive::<UInt64Type>(), cells)?,
        DataType::Boolean => {
            let flags = array.as_boolean();
            each(array, cells, |i| Ok(f64::from(u8::from(flags.value(i)))))?
        }
        DataType::Null => each(array, cells, |_| Ok(f64::NAN))?,
        DataType::Dictionary(..) => {
            let dictionary = array
                .as_any_dictionary_opt()
                .expect("a dictionary type is a dictionary array");
            // Each distinct value is read once; a value that is not a number is reported at
            // the first row that uses it.
            let lookup = Cells {
                column: cells.column,
                first_row: 0,
                strict: false,
            };
            let distinct = numbers(dictionary.values().as_ref(), &lookup);
            let keys = dictionary.normalized_keys();
            match distinct {
                Ok(distinct) => {
                    let distinct = distinct.as_slice();
                    each(array, cells, |i| Ok(distinct[keys[i]]))?
                }
                Err(InputError::NotANumber { row, value, .. }) => {
                    let first_use = keys
                        .iter()
                        .enumerate()
                        .position(|(i, &key)| key == row && array.is_valid(i))
                        .unwrap_or(0);
                    return Err(InputError::NotANumber {
                        column: cells.column.to_owned(),
                        row: cells.first_row + first_use,
                        value,
                    });
                }
                Err(other) => return Err(other),
            }
        }
        _ => text(array, cells, |value, index| {
            match matching::parse_number(value) {
                Ok(Some(number)) => Ok(number),
                Ok(None) => cells.missing(index),
                Err(_) => Err(InputError::NotANumber {
                    column: cells.column.to_owned(),
                    row: cells.first_row + index,
                    value: value.trim().to_owned(),
                }),
            }
        })?,
    };
    Ok(Values::Owned(values))
}

/// A categorical feature's codes.
fn categories(
    array: &dyn Array,
    codes: &CategoryCodes,
    cells: &Cells<'_>,
) -> Result<Vec<f64>, InputError> {
    match array.data_type() {
        DataType::Boolean => {
            let flags = array.as_boolean();
            each(array, cells, |i| {
                cells.category(codes, if flags.value(i) { "true" } else { "false" }, i)
            })
        }
        DataType::Null => each(array, cells, |_| Ok(f64::NAN)),
        DataType::Dictionary(..) => {
            let dictionary = array
                .as_any_dictionary_opt()
                .expect("a dictionary type is a dictionary array");
            // The names of the distinct values, each looked up once.
            let names = names(dictionary.values().as_ref());
            let distinct: Vec<Option<f64>> = names
                .iter()
                .map(|name| name.as_deref().and_then(|name| codes.code(name)))
                .collect();
            let keys = dictionary.normalized_keys();
            each(array, cells, |i| {
                match (distinct[keys[i]], &names[keys[i]]) {
                    (Some(code), _) => Ok(code),
                    (None, Some(name)) => cells.category(codes, name, i),
                    (None, None) => cells.missing(i),
                }
            })
        }
        dtype if dtype.is_integer() => {
            // Integers name their categories in decimal, as the CLI reads them.
            let mut name = String::new();
            let names = names_of_integers(array);
            each(array, cells, |i| {
                name.clear();
                let _ = write!(name, "{}", names[i]);
                cells.category(codes, &name, i)
            })
        }
        _ => text(array, cells, |value, index| {
            cells.category(codes, value, index)
        }),
    }
}

/// A CatBoost categorical feature's hashes: text as written, integers (and flags, as 1 and
/// 0) by their decimal text, as CatBoost's Python package hashes them.
fn hashed(array: &dyn Array, cells: &Cells<'_>) -> Result<Vec<f64>, InputError> {
    match array.data_type() {
        DataType::Boolean => {
            let flags = array.as_boolean();
            each(array, cells, |i| {
                Ok(matching::hashed_number(f64::from(u8::from(flags.value(i)))))
            })
        }
        DataType::Null => each(array, cells, |_| Ok(f64::NAN)),
        DataType::Dictionary(..) => {
            let dictionary = array
                .as_any_dictionary_opt()
                .expect("a dictionary type is a dictionary array");
            // Each distinct value hashed once.
            let distinct: Vec<Option<f64>> = names(dictionary.values().as_ref())
                .iter()
                .map(|name| name.as_deref().map(matching::hashed_text))
                .collect();
            let keys = dictionary.normalized_keys();
            each(array, cells, |i| match distinct[keys[i]] {
                Some(hash) => Ok(hash),
                None => cells.missing(i),
            })
        }
        dtype if dtype.is_integer() => {
            let mut name = String::new();
            let names = names_of_integers(array);
            each(array, cells, |i| {
                name.clear();
                let _ = write!(name, "{}", names[i]);
                Ok(matching::hashed_text(&name))
            })
        }
        dtype if dtype.is_floating() => {
            let numbers = numbers(array, cells)?;
            Ok(numbers
                .as_slice()
                .iter()
                .map(|&x| matching::hashed_number(x))
                .collect())
        }
        _ => text(array, cells, |value, _| Ok(matching::hashed_text(value))),
    }
}

/// The values of a primitive column as `f64`, with missing cells read by `cells`.
fn primitive<T>(
    array: &arrow_array::PrimitiveArray<T>,
    cells: &Cells<'_>,
) -> Result<Vec<f64>, InputError>
where
    T: ArrowPrimitiveType,
    T::Native: AsF64,
{
    let values = array.values();
    each(array, cells, |i| Ok(values[i].as_f64()))
}

/// `read(i)` for every valid cell `i` of `array`, and `cells.missing(i)` for the others.
fn each(
    array: &dyn Array,
    cells: &Cells<'_>,
    mut read: impl FnMut(usize) -> Result<f64, InputError>,
) -> Result<Vec<f64>, InputError> {
    let nulls = array.logical_nulls();
    (0..array.len())
        .map(|i| match &nulls {
            Some(nulls) if nulls.is_null(i) => cells.missing(i),
            _ => read(i),
        })
        .collect()
}

/// `read(text, i)` for every valid cell of a text column.
fn text(
    array: &dyn Array,
    cells: &Cells<'_>,
    mut read: impl FnMut(&str, usize) -> Result<f64, InputError>,
) -> Result<Vec<f64>, InputError> {
    match array.data_type() {
        DataType::Utf8 => {
            let strings = array.as_string::<i32>();
            each(array, cells, |i| read(strings.value(i), i))
        }
        DataType::LargeUtf8 => {
            let strings = array.as_string::<i64>();
            each(array, cells, |i| read(strings.value(i), i))
        }
        DataType::Utf8View => {
            let strings = array.as_string_view();
            each(array, cells, |i| read(strings.value(i), i))
        }
        other => unreachable!("check_type admits no {other} column here"),
    }
}

/// The name of each distinct value of a dictionary, `None` for a null.
fn names(values: &dyn Array) -> Vec<Option<String>> {
    let name = |i: usize| -> Option<String> {
        if values.is_null(i) {
            return None;
        }
        Some(match values.data_type() {
            DataType::Utf8 => values.as_string::<i32>().value(i).to_owned(),
            DataType::LargeUtf8 => values.as_string::<i64>().value(i).to_owned(),
            DataType::Utf8View => values.as_string_view().value(i).to_owned(),
            _ => names_of_integers(values)[i].to_string(),
        })
    };
    (0..values.len()).map(name).collect()
}

/// An integer column's values, widened so that any integer type prints as itself.
fn names_of_integers(array: &dyn Array) -> Vec<i128> {
    fn widen<T>(array: &dyn Array) -> Vec<i128>
    where
        T: ArrowPrimitiveType,
        T::Native: Into<i128>,
    {
        let values = array.as_primitive::<T>().values();
        values.iter().map(|&v| v.into()).collect()
    }
    match array.data_type() {
        DataType::Int8 => widen::<Int8Type>(array),
        DataType::Int16 => widen::<Int16Type>(array),
        DataType::Int32 => widen::<Int32Type>(array),
        DataType::Int64 => widen::<Int64Type>(array),
        DataType::UInt8 => widen::<UInt8Type>(array),
        DataType::UInt16 => widen::<UInt16Type>(array),
        DataType::UInt32 => widen::<UInt32Type>(array),
        DataType::UInt64 => widen::<UInt64Type>(array),
        _ => vec![0; array.len()],
    }
}

/// A number that widens to `f64` as `as` does: integers beyond 2^53 round to the nearest.
trait AsF64: Copy {
    fn as_f64(self) -> f64;
}

macro_rules! as_f64 {
    ($($t:ty),*) => {$(
        impl AsF64 for $t {
            fn as_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
as_f64!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

impl AsF64 for half::f16 {
    fn as_f64(self) -> f64 {
        self.to_f64()
    }
}
