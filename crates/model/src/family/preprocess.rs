//! Preprocessing steps: scaling, imputation, categorical encoding and column selection, as
//! scikit-learn's transformers compute them.
//!
//! Every step maps one row to one row. Categorical inputs arrive as category codes (see
//! [`Signature::encode_category`](crate::Signature::encode_category)).

use serde::{Deserialize, Serialize};

use crate::error::{InvalidModel, PredictError};

/// What an encoder does with a category it did not see in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCategory {
    /// Reject the row.
    Error,
    /// Encode it as all zeros (one-hot) .
    Ignore,
}

/// One input column of a one-hot encoder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneHotColumn {
    /// The number of categories; codes are `0..categories`.
    pub categories: u32,
    /// A category whose indicator is dropped (scikit-learn's `drop`), if any.
    pub drop: Option<u32>,
    /// What an unknown code (or `NaN`) does.
    pub unknown: UnknownCategory,
}

impl OneHotColumn {
    fn width(&self) -> usize {
        self.categories as usize - usize::from(self.drop.is_some())
    }
}

/// One input column of an ordinal encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrdinalColumn {
    /// The encoded value of each input code.
    pub values: Vec<f64>,
    /// The value of an unknown code; `None` rejects it.
    pub unknown: Option<f64>,
    /// The value of a missing input (`NaN` by default in scikit-learn).
    pub missing: f64,
}

/// One branch of a [`Step::Columns`] step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    /// The input columns the branch takes, in order.
    pub columns: Vec<u32>,
    /// The steps applied to them.
    pub steps: Vec<Step>,
}

/// One preprocessing step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Keeps the given input columns, in the given order.
    Select {
        /// The columns.
        columns: Vec<u32>,
    },
    /// `(x - mean) / scale` per column (scikit-learn's `StandardScaler`).
    Standardize {
        /// The mean of each column (0 without centring).
        mean: Vec<f64>,
        /// The scale of each column (1 without scaling).
        scale: Vec<f64>,
    },
    /// `x * scale + min` per column, then clipped to `clip` if set (`MinMaxScaler`).
    MinMax {
        /// The multiplier of each column.
        scale: Vec<f64>,
        /// The offset of each column.
        min: Vec<f64>,
        /// The feature range to clip to.
        clip: Option<(f64, f64)>,
    },
    /// Replaces `NaN` in column `j` with `fill[j]` (`SimpleImputer`).
    Impute {
        /// The fill value of each column.
        fill: Vec<f64>,
    },
    /// One indicator column per category of each input column (`OneHotEncoder`).
    OneHot {
        /// The input columns.
        columns: Vec<OneHotColumn>,
    },
    /// Maps each input code to a number (`OrdinalEncoder`).
    Ordinal {
        /// The input columns.
        columns: Vec<OrdinalColumn>,
    },
    /// Branches over subsets of the columns, concatenated, followed by the `remainder`
    /// columns passed through (`ColumnTransformer`).
    Columns {
        /// The branches, in output order.
        branches: Vec<Branch>,
        /// Input columns appended unchanged after the branches.
        remainder: Vec<u32>,
    },
}

/// Reusable buffers for nested steps, so a warmed-up thread does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Buffers(Vec<Vec<f64>>);

impl Buffers {
    fn take(&mut self, len: usize) -> Vec<f64> {
        let mut buffer = self.0.pop().unwrap_or_default();
        buffer.clear();
        buffer.resize(len, 0.0);
        buffer
    }

    pub(crate) fn take_empty(&mut self) -> Vec<f64> {
        let mut buffer = self.0.pop().unwrap_or_default();
        buffer.clear();
        buffer
    }

    pub(crate) fn give(&mut self, buffer: Vec<f64>) {
        self.0.push(buffer);
    }
}

impl Step {
    /// The number of output columns for `input` input columns, or why the step cannot take
    /// that many.
    pub fn output_width(&self, input: usize) -> Result<usize, InvalidModel> {
        let per_column = |len: usize, what: &str| {
            if len == input {
                Ok(())
            } else {
                Err(InvalidModel::Mismatch {
                    what: format!("{what} step columns"),
                    expected: input,
                    found: len,
                })
            }
        };
        let check_columns =
            |columns: &[u32], what: &str| match columns.iter().find(|&&c| c as usize >= input) {
                Some(&c) => Err(InvalidModel::Mismatch {
                    what: format!("{what} selects column {c}; input columns"),
                    expected: c as usize + 1,
                    found: input,
                }),
                None => Ok(()),
            };
        match self {
            Step::Select { columns } => {
                check_columns(columns, "a select")?;
                Ok(columns.len())
            }
            Step::Standardize { mean, scale } => {
                per_column(mean.len(), "standardize")?;
                per_column(scale.len(), "standardize")?;
                Ok(input)
            }
            Step::MinMax { scale, min, .. } => {
                per_column(scale.len(), "min-max")?;
                per_column(min.len(), "min-max")?;
                Ok(input)
            }
            Step::Impute { fill } => {
                per_column(fill.len(), "impute")?;
                Ok(input)
            }
            Step::OneHot { columns } => {
                per_column(columns.len(), "one-hot")?;
                for column in columns {
                    if column.categories == 0 || column.drop.is_some_and(|d| d >= column.categories)
                    {
                        return Err(InvalidModel::Mismatch {
                            what: "one-hot categories (at least 1, and above the dropped one)"
                                .into(),
                            expected: column.drop.map_or(1, |d| d as usize + 1),
                            found: column.categories as usize,
                        });
                    }
                }
                Ok(columns.iter().map(OneHotColumn::width).sum())
            }
            Step::Ordinal { columns } => {
                per_column(columns.len(), "ordinal")?;
                Ok(input)
            }
            Step::Columns {
                branches,
                remainder,
            } => {
                let mut width = 0;
                for branch in branches {
                    check_columns(&branch.columns, "a column-transformer branch")?;
                    width += steps_output_width(&branch.steps, branch.columns.len())?;
                }
                check_columns(remainder, "the column-transformer remainder")?;
                Ok(width + remainder.len())
            }
        }
    }

    /// Transforms one row; `out` has [`output_width`](Self::output_width) columns.
    pub(crate) fn apply(
        &self,
        input: &[f64],
        out: &mut [f64],
        row: usize,
        buffers: &mut Buffers,
    ) -> Result<(), PredictError> {
        match self {
            Step::Select { columns } => {
                for (o, &c) in out.iter_mut().zip(columns) {
                    *o = input[c as usize];
                }
            }
            Step::Standardize { mean, scale } => {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = (input[j] - mean[j]) / scale[j];
                }
            }
            Step::MinMax { scale, min, clip } => {
                for (j, o) in out.iter_mut().enumerate() {
                    let mut v = input[j] * scale[j] + min[j];
                    if let Some((lo, hi)) = clip {
                        v = v.clamp(*lo, *hi);
                    }
                    *o = v;
                }
            }
            Step::Impute { fill } => {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = if input[j].is_nan() { fill[j] } else { input[j] };
                }
            }
            Step::OneHot { columns } => {
                out.fill(0.0);
                let mut at = 0;
                for (j, column) in columns.iter().enumerate() {
                    let x = input[j];
                    let known = x >= 0.0 && x < f64::from(column.categories) && x.fract() == 0.0;
                    if known {
                        let code = x as u32;
                        match column.drop {
                            Some(d) if code == d => {}
                            Some(d) if code > d => out[at + code as usize - 1] = 1.0,
                            _ => out[at + code as usize] = 1.0,
                        }
                    } else if column.unknown == UnknownCategory::Error {
                        return Err(unknown_category(row, j, x));
                    }
                    at += column.width();
                }
            }
            Step::Ordinal { columns } => {
                for (j, (o, column)) in out.iter_mut().zip(columns).enumerate() {
                    let x = input[j];
                    *o = if x.is_nan() {
                        column.missing
                    } else if x >= 0.0 && x.fract() == 0.0 && (x as usize) < column.values.len() {
                        column.values[x as usize]
                    } else {
                        column.unknown.ok_or_else(|| unknown_category(row, j, x))?
                    };
                }
            }
            Step::Columns {
                branches,
                remainder,
            } => {
                let mut at = 0;
                for branch in branches {
                    let mut selected = buffers.take(branch.columns.len());
                    for (s, &c) in selected.iter_mut().zip(&branch.columns) {
                        *s = input[c as usize];
                    }
                    let result = run_steps(&branch.steps, selected, row, buffers)?;
                    out[at..at + result.len()].copy_from_slice(&result);
                    at += result.len();
                    buffers.give(result);
                }
                for (o, &c) in out[at..].iter_mut().zip(remainder) {
                    *o = input[c as usize];
                }
            }
        }
        Ok(())
    }
}

fn unknown_category(row: usize, column: usize, value: f64) -> PredictError {
    PredictError::UnknownCategory {
        row,
        feature: format!("encoder input column {column}"),
        value,
    }
}

/// The output width of `steps` applied in order to `input` columns.
pub(crate) fn steps_output_width(steps: &[Step], input: usize) -> Result<usize, InvalidModel> {
    steps
        .iter()
        .try_fold(input, |width, step| step.output_width(width))
}

/// Applies `steps` in order to `row`, returning the final row in a buffer from `buffers`.
/// The steps must have been validated for `row.len()` columns.
pub(crate) fn run_steps(
    steps: &[Step],
    mut current: Vec<f64>,
    row: usize,
    buffers: &mut Buffers,
) -> Result<Vec<f64>, PredictError> {
    for step in steps {
        let width = step
            .output_width(current.len())
            .expect("steps are validated when the model is built");
        let mut next = buffers.take(width);
        let applied = step.apply(&current, &mut next, row, buffers);
        buffers.give(std::mem::replace(&mut current, next));
        applied?;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(step: &Step, input: &[f64]) -> Result<Vec<f64>, PredictError> {
        let mut buffers = Buffers::default();
        run_steps(std::slice::from_ref(step), input.to_vec(), 0, &mut buffers)
    }

    #[test]
    fn one_hot_with_drop_and_ignore() {
        let step = Step::OneHot {
            columns: vec![
                OneHotColumn {
                    categories: 3,
                    drop: Some(0),
                    unknown: UnknownCategory::Ignore,
                },
                OneHotColumn {
                    categories: 2,
                    drop: None,
                    unknown: UnknownCategory::Ignore,
                },
            ],
        };
        assert_eq!(apply(&step, &[2.0, 0.0]).unwrap(), [0.0, 1.0, 1.0, 0.0]);
        assert_eq!(
            apply(&step, &[0.0, f64::NAN]).unwrap(),
            [0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(apply(&step, &[7.0, 1.0]).unwrap(), [0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn one_hot_rejects_unknown_when_told_to() {
        let step = Step::OneHot {
            columns: vec![OneHotColumn {
                categories: 2,
                drop: None,
                unknown: UnknownCategory::Error,
            }],
        };
        let err = apply(&step, &[f64::NAN]).unwrap_err();
        assert!(matches!(err, PredictError::UnknownCategory { .. }));
    }

    #[test]
    fn column_transformer_concatenates_branches_then_remainder() {
        let step = Step::Columns {
            branches: vec![Branch {
                columns: vec![2],
                steps: vec![Step::Standardize {
                    mean: vec![1.0],
                    scale: vec![2.0],
                }],
            }],
            remainder: vec![0],
        };
        assert_eq!(step.output_width(3).unwrap(), 2);
        assert_eq!(apply(&step, &[5.0, 6.0, 7.0]).unwrap(), [3.0, 5.0]);
    }
}
