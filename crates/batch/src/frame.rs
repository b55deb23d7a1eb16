//! From input columns to the rows of `f64` a model takes.
//!
//! A [`FeatureMap`] is settled once per run from the input's schema: which input column feeds
//! each of the model's features, matched by name (column order in the file does not matter),
//! or by position for models that have no feature names. Each chunk is then read column by
//! column into contiguous `f64` columns ([`FeatureMap::columns`]), and [`copy_block`] copies any
//! range of rows into the column-major block that [`Model::predict_into`] reads, so that the
//! copy and the prediction of one range of rows run on the same core, one cache away.
//!
//! [`Model::predict_into`]: verdict_model::Model::predict_into

use std::path::PathBuf;

use polars::prelude::*;
pub use verdict_model::matching::Matching;
use verdict_model::matching::{self, Reading};
use verdict_model::{Signature, UNKNOWN_CATEGORY};

use crate::error::{Error, Location, Result};

/// Where the rows of a chunk come from, so errors can name a row of the user's input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The file, when the input is one of many files (or one file).
    pub file: Option<PathBuf>,
    /// The 1-based row number of the chunk's first row within its file, table or frame.
    pub first_row: u64,
}

impl Origin {
    /// The location of row `index` of the chunk.
    pub fn at(&self, index: usize) -> Location {
        Location {
            row: self.first_row + index as u64,
            file: self.file.clone(),
        }
    }
}

/// Which input column feeds each of the model's features, and how its values become `f64`.
#[derive(Debug, Clone)]
pub struct FeatureMap {
    bindings: Vec<Binding>,
    matching: Matching,
}

#[derive(Debug, Clone)]
struct Binding {
    /// The input column.
    column: String,
    /// The model's name for the feature.
    feature: String,
    /// How its cells are read.
    how: Reading,
}

impl FeatureMap {
    /// Matches the model's features to the columns of `schema`, by the rules of
    /// [`matching::match_columns`]: by name (or LightGBM's spelling of it), or by position
    /// for models without feature names, leaving out `exclude` (the columns passed through).
    pub fn new(signature: &Signature, schema: &Schema, exclude: &[String]) -> Result<Self> {
        let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        let (columns, matching) = matching::match_columns(signature, &names, exclude)?;
        let mut bindings = Vec::with_capacity(columns.len());
        for (index, (feature, column)) in signature.features.iter().zip(columns).enumerate() {
            let column = names[column].to_owned();
            let dtype = schema.get(column.as_str()).unwrap_or(&DataType::Null);
            // A categorical feature without names takes its codes as numbers.
            let how = Reading::of(signature, index);
            let binding = Binding {
                column,
                feature: feature.name.clone(),
                how,
            };
            binding.check_type(dtype)?;
            bindings.push(binding);
        }
        Ok(FeatureMap { bindings, matching })
    }

    /// How the features were matched.
    pub fn matching(&self) -> &Matching {
        &self.matching
    }

    /// The input column of each feature, in feature order.
    pub fn input_columns(&self) -> impl Iterator<Item = &str> {
        self.bindings.iter().map(|b| b.column.as_str())
    }

    /// The names of the input columns that feed numeric features (the ones a CSV reader must
    /// read as numbers) and the others (categorical or unused features, which it reads as
    /// text).
    pub(crate) fn column_kinds(&self) -> (Vec<&str>, Vec<&str>) {
        let mut numeric = Vec::new();
        let mut categorical = Vec::new();
        for binding in &self.bindings {
            match binding.how {
                Reading::Number => numeric.push(binding.column.as_str()),
                Reading::Category(_) | Reading::Skipped | Reading::Hashed => {
                    categorical.push(binding.column.as_str())
                }
            }
        }
        (numeric, categorical)
    }

    /// Reads the feature columns of `chunk` as contiguous `f64` columns with `NaN` for
    /// missing values, in feature order.
    ///
    /// With `strict`, a null or an unknown category is an error instead.
    pub fn columns(&self, chunk: &DataFrame, origin: &Origin, strict: bool) -> Result<Columns> {
        let mut data = Vec::with_capacity(self.bindings.len());
        for binding in &self.bindings {
            let column = chunk
                .column(&binding.column)
                .map_err(Error::polars(format!(
                    "cannot read column `{}`",
                    binding.column
                )))?;
            let values = binding.read(column, origin, strict)?;
            // One buffer per column, so the transposition can index rows directly.
            let values = match values.rechunk() {
                std::borrow::Cow::Borrowed(_) => values,
                std::borrow::Cow::Owned(contiguous) => contiguous,
            };
            data.push(values);
        }
        Ok(Columns { data })
    }
}

impl Binding {
    /// Rejects column types that cannot feed the feature, before any row is read.
    fn check_type(&self, dtype: &DataType) -> Result<()> {
        let ok = match self.how {
            Reading::Number => dtype.is_primitive_numeric() || is_text_or_flag(dtype),
            Reading::Category(_) => {
                dtype.is_integer() || is_text_or_flag(dtype) || dtype.is_categorical()
            }
            // Whole numbers in a float column are CatBoost categories too.
            Reading::Hashed => {
                dtype.is_primitive_numeric() || is_text_or_flag(dtype) || dtype.is_categorical()
            }
            Reading::Skipped => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::UnsupportedType {
                column: self.column.clone(),
                feature: self.feature.clone(),
                kind: self.how.name(),
                dtype: dtype.to_string(),
            })
        }
    }

    fn read(&self, column: &Column, origin: &Origin, strict: bool) -> Result<Float64Chunked> {
        self.check_type(column.dtype())?;
        let name = column.name().clone();
        match &self.how {
            Reading::Skipped => Ok(Float64Chunked::full(name, f64::NAN, column.len())),
            Reading::Number if column.dtype() == &DataType::String => {
                let text = column.str().map_err(self.polars_error())?;
                let mut values = Vec::with_capacity(text.len());
                for (index, value) in text.iter().enumerate() {
                    let number = value.map_or(Ok(None), matching::parse_number);
                    values.push(match number {
                        Ok(Some(number)) => number,
                        Ok(None) => self.missing(origin, index, strict)?,
                        Err(_) => {
                            return Err(Error::NotANumber {
                                column: self.column.clone(),
                                location: origin.at(index),
                                value: value.unwrap_or_default().trim().to_owned(),
                            });
                        }
                    });
                }
                Ok(Float64Chunked::from_vec(name, values))
            }
            Reading::Number => {
                let numbers = column
                    .cast(&DataType::Float64)
                    .map_err(self.polars_error())?;
                let numbers = numbers.f64().map_err(self.polars_error())?;
                if numbers.null_count() == 0 {
                    return Ok(numbers.clone());
                }
                if strict && let Some(index) = numbers.iter().position(|v| v.is_none()) {
                    return Err(Error::NullValue {
                        column: self.column.clone(),
                        location: origin.at(index),
                    });
                }
                if nulls_hold_nan(numbers) {
                    return Ok(
                        numbers.apply_kernel(&|array| array.clone().with_validity(None).boxed())
                    );
                }
                numbers
                    .fill_null_with_values(f64::NAN)
                    .map_err(self.polars_error())
            }
            // Numbers hash as their integer's decimal text, as CatBoost's Python package hashes
            // an integer; a fraction has no category (the model refuses it).
            Reading::Hashed
                if column.dtype().is_primitive_numeric()
                    || column.dtype() == &DataType::Boolean =>
            {
                let numbers = column
                    .cast(&DataType::Float64)
                    .map_err(self.polars_error())?;
                let numbers = numbers.f64().map_err(self.polars_error())?;
                let mut values = Vec::with_capacity(numbers.len());
                for (index, value) in numbers.iter().enumerate() {
                    values.push(match value {
                        None => self.missing(origin, index, strict)?,
                        Some(x) => matching::hashed_number(x),
                    });
                }
                Ok(Float64Chunked::from_vec(name, values))
            }
            Reading::Hashed => self.texts(column, origin, strict, |value, _| {
                Ok(matching::hashed_text(value))
            }),
            Reading::Category(codes) => self.texts(column, origin, strict, |value, index| {
                match codes.code(value) {
                    Some(code) => Ok(code),
                    None if strict => Err(Error::UnknownCategory {
                        column: self.column.clone(),
                        location: origin.at(index),
                        value: value.to_owned(),
                    }),
                    None => Ok(UNKNOWN_CATEGORY),
                }
            }),
        }
    }

    /// Reads `column` as text (other types cast to it), each value through `read` with its
    /// index; a missing one as [`missing`](Self::missing) says.
    fn texts(
        &self,
        column: &Column,
        origin: &Origin,
        strict: bool,
        mut read: impl FnMut(&str, usize) -> Result<f64>,
    ) -> Result<Float64Chunked> {
        let cast;
        let text = if column.dtype() == &DataType::String {
            column.str().map_err(self.polars_error())?
        } else {
            cast = column
                .cast(&DataType::String)
                .map_err(self.polars_error())?;
            cast.str().map_err(self.polars_error())?
        };
        let mut values = Vec::with_capacity(text.len());
        for (index, value) in text.iter().enumerate() {
            values.push(match value {
                None => self.missing(origin, index, strict)?,
                Some(value) => read(value, index)?,
            });
        }
        Ok(Float64Chunked::from_vec(column.name().clone(), values))
    }

    /// The value of a missing entry: `NaN`, or an error in strict mode.
    fn missing(&self, origin: &Origin, index: usize, strict: bool) -> Result<f64> {
        if strict {
            Err(Error::NullValue {
                column: self.column.clone(),
                location: origin.at(index),
            })
        } else {
            Ok(f64::NAN)
        }
    }

    fn polars_error(&self) -> impl FnOnce(PolarsError) -> Error {
        Error::polars(format!("cannot read column `{}`", self.column))
    }
}

/// Whether every null of `numbers` already holds `NaN` beneath its mask, as the CSV parse
/// leaves them: then dropping the masks reads the same, without the copy that filling them
/// makes (every column of a chunk, on the thread that feeds the cores).
fn nulls_hold_nan(numbers: &Float64Chunked) -> bool {
    numbers.downcast_iter().all(|array| {
        array.validity().is_none_or(|validity| {
            (!validity)
                .true_idx_iter()
                .all(|index| array.values()[index].is_nan())
        })
    })
}

fn is_text_or_flag(dtype: &DataType) -> bool {
    matches!(dtype, DataType::String | DataType::Boolean | DataType::Null)
}

/// A chunk's feature columns as contiguous `f64`, in feature order.
#[derive(Debug)]
pub struct Columns {
    data: Vec<Float64Chunked>,
}

impl Columns {
    /// The columns as slices.
    pub fn slices(&self) -> Result<Vec<&[f64]>> {
        self.data
            .iter()
            .map(|c| {
                c.cont_slice().map_err(Error::polars(format!(
                    "column `{}` is not contiguous",
                    c.name()
                )))
            })
            .collect()
    }
}

/// Copies rows `start .. start + rows` of `columns` into `block`, column-major: value `j` of
/// row `i` goes to `block[j * rows + i]`, so each column's run is one contiguous copy (a
/// row-major block would take every value to another cache line). The model reads the rows
/// through a view with those strides (`ArrayView2::from_shape((rows, width).f(), block)`).
///
/// `block` must hold `rows * columns.len()` values and every column at least `start + rows`.
pub fn copy_block(columns: &[&[f64]], start: usize, block: &mut [f64]) {
    let width = columns.len();
    if width == 0 {
        return;
    }
    let rows = block.len() / width;
    for (column, run) in columns.iter().zip(block.chunks_exact_mut(rows.max(1))) {
        if let Some(source) = column.get(start..start + rows) {
            run.copy_from_slice(source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_model::{Feature, Task};

    fn signature() -> Signature {
        Signature::new(
            vec![
                Feature::numeric("a"),
                Feature::categorical("colour", vec!["red".into(), "green".into()]),
            ],
            Task::Regression,
        )
    }

    #[test]
    fn matches_by_name_whatever_the_column_order() {
        let df =
            df!("colour" => ["green", "blue", "red"], "id" => [1, 2, 3], "a" => [1.5, 2.5, 3.5])
                .unwrap();
        let map = FeatureMap::new(&signature(), df.schema(), &[]).unwrap();
        assert_eq!(map.matching(), &Matching::ByName);
        let columns = map.columns(&df, &Origin::default(), false).unwrap();
        let slices = columns.slices().unwrap();
        let mut block = vec![0.0; 6];
        copy_block(&slices, 0, &mut block);
        // Column-major; `blue` is not one of the model's categories.
        let expected = [1.5, 2.5, 3.5, 1.0, UNKNOWN_CATEGORY, 0.0];
        assert!(
            block
                .iter()
                .zip(expected)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );

        let mut tail = vec![0.0; 2];
        copy_block(&slices, 2, &mut tail);
        assert_eq!(tail, [3.5, 0.0]);
    }

    #[test]
    fn names_every_missing_feature_with_suggestions() {
        let df = df!("A" => [1.0], "color" => ["red"]).unwrap();
        let error = FeatureMap::new(&signature(), df.schema(), &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the input has no column for 2 of the model's 2 features: `a` (did you mean `A`?), \
             `colour` (did you mean `color`?)"
        );
    }

    #[test]
    fn text_in_a_numeric_column_names_column_row_and_value() {
        let df = df!("a" => ["1", " 2.5 ", "x1"], "colour" => ["red", "red", "red"]).unwrap();
        let map = FeatureMap::new(&signature(), df.schema(), &[]).unwrap();
        let origin = Origin {
            file: Some("in.parquet".into()),
            first_row: 11,
        };
        let error = map.columns(&df, &origin, false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "column `a`, row 13 of in.parquet: `x1` is not a number"
        );
    }

    #[test]
    fn a_null_reads_as_nan_whatever_its_mask_hides() {
        // The CSV parse leaves NaN beneath a null; Parquet and Arrow leave anything (0 here).
        let masked = |hidden: f64| {
            let values = polars_arrow::array::PrimitiveArray::from_vec(vec![1.0, hidden, 3.0])
                .with_validity(Some([true, false, true].into_iter().collect()));
            Float64Chunked::with_chunk("a".into(), values).into_column()
        };
        let signature = Signature::new(vec![Feature::numeric("a")], Task::Regression);
        for hidden in [f64::NAN, 0.0] {
            let df = DataFrame::new(3, vec![masked(hidden)]).unwrap();
            let map = FeatureMap::new(&signature, df.schema(), &[]).unwrap();
            let columns = map.columns(&df, &Origin::default(), false).unwrap();
            let values = columns.slices().unwrap()[0].to_vec();
            assert_eq!(values[0], 1.0);
            assert!(
                values[1].is_nan(),
                "{hidden} beneath the null read as {}",
                values[1]
            );
            assert_eq!(values[2], 3.0);
        }
    }
}
