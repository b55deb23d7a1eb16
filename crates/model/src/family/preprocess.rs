//! Preprocessing steps: scaling, imputation, categorical encoding and column selection, as
//! scikit-learn's transformers compute them.
//!
//! Every step maps one row to one row. Categorical inputs arrive as category codes (see
//! [`Signature::encode_category`](crate::Signature::encode_category)).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::ctr::Categorical;
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

/// What a [`Step::Lookup`] column outputs for a value its table does not decide.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// This value.
    Value(f64),
    /// The input value, unchanged.
    Keep,
    /// Reject the row.
    Error,
}

/// One input column of a [`Step::Lookup`]: a table from input values to output values,
/// matched by `f64` equality (so `-0.0` matches `0.0`).
///
/// Input values are numbers or category codes alike, which is what lets one step encode
/// scikit-learn's categories whether they are strings (codes, see
/// [`Signature::encode_category`](crate::Signature::encode_category)) or numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupColumn {
    /// The values the table knows, strictly increasing, without `NaN`.
    pub keys: Vec<f64>,
    /// The output for each key.
    pub values: Vec<f64>,
    /// The output for `NaN`.
    pub missing: Fallback,
    /// The output for any other value.
    pub unknown: Fallback,
}

/// Where a [`Step::Indicators`] column puts its `1.0` for a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// In this output column.
    Column(u32),
    /// Nowhere: every output stays `0.0`.
    Nothing,
    /// Reject the row.
    Error,
}

/// One input column of a [`Step::Indicators`]: which output column each known value sets.
///
/// Several keys may share an output column (scikit-learn's infrequent categories), and a key
/// may set none (a dropped category).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorColumn {
    /// The values the column knows, strictly increasing, without `NaN`.
    pub keys: Vec<f64>,
    /// The output column for each key, within the step's output.
    pub outputs: Vec<Indicator>,
    /// What `NaN` sets.
    pub missing: Indicator,
    /// What any other value sets.
    pub unknown: Indicator,
}

/// The most output columns of one [`Step::Indicators`], so a hostile file cannot make every
/// row allocate gigabytes.
pub const MAX_INDICATORS: u32 = 1 << 24;

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
    /// Maps each input column through a table of values (scikit-learn's `OrdinalEncoder`,
    /// numeric category codes, imputation of a marker value).
    Lookup {
        /// The input columns.
        columns: Vec<LookupColumn>,
    },
    /// `width` indicator columns, zero but for the `1.0` each input column sets
    /// (scikit-learn's `OneHotEncoder`, with dropped and infrequent categories).
    Indicators {
        /// The number of output columns.
        width: u32,
        /// The input columns.
        columns: Vec<IndicatorColumn>,
    },
    /// Branches over subsets of the columns, concatenated, followed by the `remainder`
    /// columns passed through (`ColumnTransformer`).
    Columns {
        /// The branches, in output order.
        branches: Vec<Branch>,
        /// Input columns appended unchanged after the branches.
        remainder: Vec<u32>,
    },
    /// CatBoost's categorical features: float values and category hashes in; the float
    /// values, one-hot and CTR columns out. Appended last: the bincode tags of the others
    /// stay put.
    CatBoostCategorical(Categorical),
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
            Step::MinMax { scale, min, clip } => {
                per_column(scale.len(), "min-max")?;
                per_column(min.len(), "min-max")?;
                // `f64::clamp` panics on such bounds.
                if let Some((lo, hi)) = clip
                    && !matches!(lo.partial_cmp(hi), Some(Ordering::Less | Ordering::Equal))
                {
                    return Err(InvalidModel::BadValue {
                        what: format!("the min-max clip range ({lo}, {hi}): its low end"),
                        requirement: "at most its high end, and not NaN",
                        value: *lo,
                    });
                }
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
            Step::Lookup { columns } => {
                per_column(columns.len(), "lookup")?;
                for (j, column) in columns.iter().enumerate() {
                    check_keys(&column.keys, column.values.len(), j, "lookup")?;
                }
                Ok(input)
            }
            Step::Indicators { width, columns } => {
                per_column(columns.len(), "indicator")?;
                if *width > MAX_INDICATORS {
                    return Err(InvalidModel::TooLarge {
                        what: "the output columns of an indicator step".into(),
                        found: u64::from(*width),
                        limit: u64::from(MAX_INDICATORS),
                    });
                }
                for (j, column) in columns.iter().enumerate() {
                    check_keys(&column.keys, column.outputs.len(), j, "indicator")?;
                    let targets = column
                        .outputs
                        .iter()
                        .chain([&column.missing, &column.unknown]);
                    for target in targets {
                        if let Indicator::Column(c) = *target
                            && c >= *width
                        {
                            return Err(InvalidModel::Mismatch {
                                what: format!(
                                    "indicator step column {j} sets output {c}; output columns"
                                ),
                                expected: c as usize + 1,
                                found: *width as usize,
                            });
                        }
                    }
                }
                Ok(*width as usize)
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
            // The tables are checked once, by `Family::validate`: this runs for every row.
            Step::CatBoostCategorical(step) => {
                check_columns(&step.floats, "a CatBoost float feature")?;
                check_columns(&step.categories, "a CatBoost categorical feature")?;
                Ok(step.output_width())
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
            Step::Lookup { columns } => {
                for (j, (o, column)) in out.iter_mut().zip(columns).enumerate() {
                    let x = input[j];
                    let fallback = if x.is_nan() {
                        column.missing
                    } else if let Some(k) = find_key(&column.keys, x) {
                        Fallback::Value(column.values[k])
                    } else {
                        column.unknown
                    };
                    *o = match fallback {
                        Fallback::Value(v) => v,
                        Fallback::Keep => x,
                        Fallback::Error => return Err(unknown_category(row, j, x)),
                    };
                }
            }
            Step::Indicators { columns, .. } => {
                out.fill(0.0);
                for (j, column) in columns.iter().enumerate() {
                    let x = input[j];
                    let target = if x.is_nan() {
                        column.missing
                    } else if let Some(k) = find_key(&column.keys, x) {
                        column.outputs[k]
                    } else {
                        column.unknown
                    };
                    match target {
                        Indicator::Column(c) => out[c as usize] = 1.0,
                        Indicator::Nothing => {}
                        Indicator::Error => return Err(unknown_category(row, j, x)),
                    }
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
            Step::CatBoostCategorical(step) => step.apply(input, out, row)?,
        }
        Ok(())
    }
}

/// The position of `x` (not `NaN`) among `keys` (strictly increasing), by `f64` equality.
fn find_key(keys: &[f64], x: f64) -> Option<usize> {
    // Keys are not NaN and neither is `x`, so the comparison always has an answer.
    keys.binary_search_by(|k| k.partial_cmp(&x).unwrap_or(Ordering::Less))
        .ok()
}

/// Checks that `keys` can be binary-searched and that there is one entry per key.
fn check_keys(keys: &[f64], entries: usize, column: usize, what: &str) -> Result<(), InvalidModel> {
    if keys.len() != entries {
        return Err(InvalidModel::Mismatch {
            what: format!("{what} step column {column}: entries per key"),
            expected: keys.len(),
            found: entries,
        });
    }
    if let Some(bad) = keys
        .windows(2)
        .find(|w| w[0].partial_cmp(&w[1]) != Some(Ordering::Less))
    {
        return Err(InvalidModel::BadValue {
            what: format!("{what} step column {column}: key {}", bad[1]),
            requirement: "greater than the key before it (keys are sorted, unique, not NaN)",
            value: bad[1],
        });
    }
    if let Some(&bad) = keys.iter().find(|k| k.is_nan()) {
        return Err(InvalidModel::BadValue {
            what: format!("{what} step column {column}: a key"),
            requirement: "not NaN",
            value: bad,
        });
    }
    Ok(())
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
    fn lookup_tells_missing_from_unknown_and_matches_negative_zero() {
        let step = Step::Lookup {
            columns: vec![
                LookupColumn {
                    keys: vec![0.0, 2.0, 7.5],
                    values: vec![10.0, 20.0, 30.0],
                    missing: Fallback::Value(-2.0),
                    unknown: Fallback::Value(-1.0),
                },
                LookupColumn {
                    keys: vec![3.0],
                    values: vec![99.0],
                    missing: Fallback::Keep,
                    unknown: Fallback::Keep,
                },
            ],
        };
        assert_eq!(apply(&step, &[7.5, 3.0]).unwrap(), [30.0, 99.0]);
        assert_eq!(apply(&step, &[-0.0, 4.0]).unwrap(), [10.0, 4.0]);
        assert_eq!(apply(&step, &[f64::NAN, 1.0]).unwrap(), [-2.0, 1.0]);
        assert_eq!(apply(&step, &[2.5, -3.0]).unwrap(), [-1.0, -3.0]);
        let out = apply(&step, &[1.0, f64::NAN]).unwrap();
        assert_eq!(out[0], -1.0);
        assert!(out[1].is_nan());
    }

    #[test]
    fn lookup_rejects_unknown_when_told_to() {
        let step = Step::Lookup {
            columns: vec![LookupColumn {
                keys: vec![1.0],
                values: vec![0.0],
                missing: Fallback::Value(f64::NAN),
                unknown: Fallback::Error,
            }],
        };
        assert!(apply(&step, &[f64::NAN]).unwrap()[0].is_nan());
        let err = apply(&step, &[2.0]).unwrap_err();
        assert!(matches!(err, PredictError::UnknownCategory { .. }));
    }

    #[test]
    fn indicators_share_columns_and_drop_categories() {
        // Column 0: keys 0..3 with key 0 dropped and keys 2, 3 grouped (infrequent); unknown
        // values join the group, NaN sets its own column. Column 1: unknown is an error.
        let step = Step::Indicators {
            width: 4,
            columns: vec![
                IndicatorColumn {
                    keys: vec![0.0, 1.0, 2.0, 3.0],
                    outputs: vec![
                        Indicator::Nothing,
                        Indicator::Column(0),
                        Indicator::Column(1),
                        Indicator::Column(1),
                    ],
                    missing: Indicator::Column(2),
                    unknown: Indicator::Column(1),
                },
                IndicatorColumn {
                    keys: vec![5.0],
                    outputs: vec![Indicator::Column(3)],
                    missing: Indicator::Nothing,
                    unknown: Indicator::Error,
                },
            ],
        };
        assert_eq!(step.output_width(2).unwrap(), 4);
        assert_eq!(apply(&step, &[0.0, 5.0]).unwrap(), [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(
            apply(&step, &[3.0, f64::NAN]).unwrap(),
            [0.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(apply(&step, &[9.0, 5.0]).unwrap(), [0.0, 1.0, 0.0, 1.0]);
        assert_eq!(
            apply(&step, &[f64::NAN, 5.0]).unwrap(),
            [0.0, 0.0, 1.0, 1.0]
        );
        let err = apply(&step, &[1.0, 4.0]).unwrap_err();
        assert!(matches!(err, PredictError::UnknownCategory { .. }));
    }

    #[test]
    fn validation_rejects_unsorted_keys_outputs_out_of_range_and_bad_clips() {
        let lookup = |keys: Vec<f64>| Step::Lookup {
            columns: vec![LookupColumn {
                values: vec![0.0; keys.len()],
                keys,
                missing: Fallback::Keep,
                unknown: Fallback::Keep,
            }],
        };
        assert!(lookup(vec![1.0, 2.0]).output_width(1).is_ok());
        assert!(lookup(vec![2.0, 1.0]).output_width(1).is_err());
        assert!(lookup(vec![1.0, 1.0]).output_width(1).is_err());
        assert!(lookup(vec![-0.0, 0.0]).output_width(1).is_err());
        assert!(lookup(vec![f64::NAN]).output_width(1).is_err());
        assert!(lookup(vec![1.0]).output_width(2).is_err());
        let indicators = |target| Step::Indicators {
            width: 2,
            columns: vec![IndicatorColumn {
                keys: vec![],
                outputs: vec![],
                missing: Indicator::Nothing,
                unknown: target,
            }],
        };
        assert!(indicators(Indicator::Column(1)).output_width(1).is_ok());
        assert!(indicators(Indicator::Column(2)).output_width(1).is_err());
        let min_max = |clip| Step::MinMax {
            scale: vec![1.0],
            min: vec![0.0],
            clip,
        };
        assert!(min_max(Some((0.0, 1.0))).output_width(1).is_ok());
        assert!(min_max(Some((1.0, 0.0))).output_width(1).is_err());
        assert!(min_max(Some((f64::NAN, 1.0))).output_width(1).is_err());
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
