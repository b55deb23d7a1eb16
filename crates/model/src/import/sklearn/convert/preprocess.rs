//! Transformers that become preprocessing steps: scalers, the imputer and the encoders, and
//! the category keys they match cells against.

use std::cmp::Ordering;

use super::check::{check_inputs, count, floats, index, length, numbers_only};
use super::{Context, Domain, Keyed, malformed, unsupported};
use crate::error::ImportError;
use crate::family::preprocess::{
    Fallback, Indicator, IndicatorColumn, LookupColumn, MAX_INDICATORS, Step,
};
use crate::import::sklearn::schema::{self, Float, OneHotUnknown, OrdinalUnknown, Value};

impl Context {
    /// A `StandardScaler`.
    pub(super) fn standard_scaler(
        &mut self,
        s: &schema::StandardScaler,
        at: &str,
        kind: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(s.n_features_in, input.len(), at)?;
        numbers_only(input, at, kind)?;
        let n = input.len();
        // Without centring or scaling, `x - 0.0` and `x / 1.0` are `x` exactly.
        let mean = scaler_part(
            s.mean.as_deref(),
            s.with_mean,
            n,
            0.0,
            &format!("{at}.mean"),
            "with_mean",
        )?;
        let scale = scaler_part(
            s.scale.as_deref(),
            s.with_std,
            n,
            1.0,
            &format!("{at}.scale"),
            "with_std",
        )?;
        Ok((vec![Step::Standardize { mean, scale }], input.to_vec()))
    }

    /// A `MinMaxScaler`.
    pub(super) fn min_max_scaler(
        &mut self,
        s: &schema::MinMaxScaler,
        at: &str,
        kind: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(s.n_features_in, input.len(), at)?;
        numbers_only(input, at, kind)?;
        length(&s.scale, input.len(), &format!("{at}.scale"))?;
        length(&s.min, input.len(), &format!("{at}.min"))?;
        length(&s.feature_range, 2, &format!("{at}.feature_range"))?;
        let (lo, hi) = (s.feature_range[0].0, s.feature_range[1].0);
        if !matches!(lo.partial_cmp(&hi), Some(Ordering::Less | Ordering::Equal)) {
            return Err(malformed(
                format!("{at}.feature_range"),
                format!("({lo}, {hi}) is not a range"),
            ));
        }
        Ok((
            vec![Step::MinMax {
                scale: floats(&s.scale),
                min: floats(&s.min),
                clip: s.clip.then_some((lo, hi)),
            }],
            input.to_vec(),
        ))
    }

    /// The domain of each input column, and the first entries of the category lists.
    pub(super) fn input_domains(
        &mut self,
        input: &schema::Input,
    ) -> Result<Vec<Domain>, ImportError> {
        input
            .columns
            .iter()
            .enumerate()
            .map(|(j, column)| match column.kind.as_str() {
                "numeric" => Ok(Domain::Number),
                // Dropped by a ColumnTransformer: nothing reads it, so any value is accepted.
                "ignored" => Ok(Domain::Unused),
                "categorical" => {
                    let categories = column.categories.as_deref().unwrap_or_default();
                    let strings = categories.iter().any(|c| matches!(c, Value::Text(_)));
                    let numbers = categories.iter().any(|c| matches!(c, Value::Number(_)));
                    if strings && numbers {
                        return Err(unsupported(format!(
                            "input column {j} mixes string and number categories"
                        )));
                    }
                    if numbers {
                        // Numeric categories arrive as the numbers themselves.
                        return Ok(Domain::Number);
                    }
                    for category in categories {
                        if let Value::Text(name) = category {
                            self.lists[j].code(name);
                        }
                    }
                    Ok(Domain::Category(j))
                }
                other => Err(malformed(
                    format!("input.columns[{j}].kind"),
                    format!("unknown kind `{other}` (expected numeric, categorical or ignored)"),
                )),
            })
            .collect()
    }

    /// The keys a cell of `domain` is matched against for each category, with `payloads`
    /// in category order. Categories a cell of this domain can never equal (a string in a
    /// numeric column) are left out; the first of equal categories wins.
    pub(super) fn keyed<T: Copy>(
        &mut self,
        categories: &[Value],
        domain: Domain,
        payloads: impl IntoIterator<Item = T>,
    ) -> Keyed<T> {
        let mut missing = None;
        let mut pairs = Vec::with_capacity(categories.len());
        for (category, payload) in categories.iter().zip(payloads) {
            match (category, domain) {
                (Value::Missing, _) => {
                    missing = missing.or(Some(payload));
                }
                (Value::Number(x), Domain::Number) if !x.is_nan() => pairs.push((*x, payload)),
                (Value::Text(name), Domain::Category(list)) => {
                    pairs.push((self.lists[list].code(name), payload));
                }
                _ => {}
            }
        }
        // Stable: among equal keys the first category stays first, and is kept.
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        Keyed {
            keys: pairs.iter().map(|p| p.0).collect(),
            payloads: pairs.into_iter().map(|p| p.1).collect(),
            missing,
        }
    }

    /// The value `statistic` takes in a column of `domain` (an imputer's fill value).
    pub(super) fn cell(
        &mut self,
        value: &Value,
        domain: Domain,
        at: &str,
    ) -> Result<Option<f64>, ImportError> {
        Ok(match (value, domain) {
            (Value::Missing, _) => Some(f64::NAN),
            (Value::Number(x), Domain::Number) => Some(*x),
            (Value::Text(name), Domain::Category(list)) => Some(self.lists[list].code(name)),
            (Value::Text(name), Domain::Number) => {
                return Err(unsupported(format!(
                    "{at}: the string `{name}` cannot fill a numeric column"
                )));
            }
            (Value::Number(x), Domain::Category(_)) => {
                return Err(unsupported(format!(
                    "{at}: the number {x} cannot fill a column of string categories"
                )));
            }
            // `reads_no_ignored` keeps ignored columns from every step that reads cells.
            (_, Domain::Unused) => {
                return Err(malformed(at, "fills a column the export marks `ignored`"));
            }
        })
    }

    pub(super) fn imputer(
        &mut self,
        s: &schema::SimpleImputer,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(s.n_features_in, input.len(), at)?;
        length(&s.statistics, input.len(), &format!("{at}.statistics"))?;
        let kept = s
            .output_columns
            .iter()
            .enumerate()
            .map(|(i, &c)| index(c, input.len(), &format!("{at}.output_columns[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let domains: Vec<Domain> = kept.iter().map(|&c| input[c]).collect();
        let mut steps = Vec::new();
        if !kept.iter().copied().eq(0..input.len()) {
            steps.push(Step::Select {
                columns: kept.iter().map(|&c| c as u32).collect(),
            });
        }
        let mut fill = Vec::with_capacity(kept.len());
        for (&c, &domain) in kept.iter().zip(&domains) {
            let value = self.cell(&s.statistics[c], domain, &format!("{at}.statistics[{c}]"))?;
            fill.push(value.unwrap_or(f64::NAN));
        }
        if s.missing_values == Value::Missing {
            steps.push(Step::Impute { fill });
            return Ok((steps, domains));
        }
        // A marker value: cells equal to it are replaced; missing cells stay missing. A
        // marker of the other type (a string in a numeric column) never matches.
        let mut columns = Vec::with_capacity(kept.len());
        for (&domain, fill) in domains.iter().zip(fill) {
            let keyed = self.keyed(std::slice::from_ref(&s.missing_values), domain, [fill]);
            columns.push(LookupColumn {
                keys: keyed.keys,
                values: keyed.payloads,
                missing: Fallback::Keep,
                unknown: Fallback::Keep,
            });
        }
        steps.push(Step::Lookup { columns });
        Ok((steps, domains))
    }

    pub(super) fn one_hot(
        &mut self,
        e: &schema::OneHotEncoder,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(e.n_features_in, input.len(), at)?;
        length(&e.features, input.len(), &format!("{at}.features"))?;
        let width = count(
            e.n_output_features,
            &format!("{at}.n_output_features"),
            MAX_INDICATORS as usize,
        )?;
        let target = |column: i64, at: &str| -> Result<Indicator, ImportError> {
            if column == -1 {
                return Ok(Indicator::Nothing);
            }
            index(column, width, at).map(|c| Indicator::Column(c as u32))
        };
        let mut columns = Vec::with_capacity(input.len());
        for (j, (feature, &domain)) in e.features.iter().zip(input).enumerate() {
            let at = format!("{at}.features[{j}]");
            length(
                &feature.output_index,
                feature.categories.len(),
                &format!("{at}.output_index"),
            )?;
            let outputs = feature
                .output_index
                .iter()
                .enumerate()
                .map(|(i, &o)| target(o, &format!("{at}.output_index[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let unknown = match feature.unknown {
                OneHotUnknown::Error => Indicator::Error,
                OneHotUnknown::Zeros => Indicator::Nothing,
                OneHotUnknown::Column(c) => target(c, &format!("{at}.unknown"))?,
            };
            let keyed = self.keyed(&feature.categories, domain, outputs);
            columns.push(IndicatorColumn {
                keys: keyed.keys,
                outputs: keyed.payloads,
                // Without a missing category, a missing cell is an unknown one.
                missing: keyed.missing.unwrap_or(unknown),
                unknown,
            });
        }
        Ok((
            vec![Step::Indicators {
                width: width as u32,
                columns,
            }],
            vec![Domain::Number; width],
        ))
    }

    pub(super) fn ordinal(
        &mut self,
        e: &schema::OrdinalEncoder,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(e.n_features_in, input.len(), at)?;
        length(&e.features, input.len(), &format!("{at}.features"))?;
        let mut columns = Vec::with_capacity(input.len());
        for (j, (feature, &domain)) in e.features.iter().zip(input).enumerate() {
            length(
                &feature.codes,
                feature.categories.len(),
                &format!("{at}.features[{j}].codes"),
            )?;
            let unknown = match feature.unknown {
                OrdinalUnknown::Error => Fallback::Error,
                OrdinalUnknown::Value(v) => Fallback::Value(v),
            };
            let keyed = self.keyed(&feature.categories, domain, floats(&feature.codes));
            columns.push(LookupColumn {
                keys: keyed.keys,
                values: keyed.payloads,
                missing: keyed.missing.map_or(unknown, Fallback::Value),
                unknown,
            });
        }
        Ok((
            vec![Step::Lookup { columns }],
            vec![Domain::Number; input.len()],
        ))
    }
}

/// A `StandardScaler`'s `mean` or `scale`: given exactly when its parameter is set, and
/// `neutral` for every column otherwise.
pub(super) fn scaler_part(
    values: Option<&[Float]>,
    wanted: bool,
    columns: usize,
    neutral: f64,
    at: &str,
    parameter: &str,
) -> Result<Vec<f64>, ImportError> {
    match (values, wanted) {
        (Some(values), true) => {
            length(values, columns, at)?;
            Ok(floats(values))
        }
        (None, false) => Ok(vec![neutral; columns]),
        (Some(_), false) | (None, true) => Err(malformed(
            at,
            format!("must be given exactly when {parameter} is true"),
        )),
    }
}
