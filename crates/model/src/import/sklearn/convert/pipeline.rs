//! Composition: pipelines and `ColumnTransformer`s, and the dispatch from an estimator's
//! type to its converter.

use super::check::{check_inputs, index, reads_no_ignored};
use super::{Context, Converted, Domain, malformed, unsupported};
use crate::error::ImportError;
use crate::family::preprocess::{Branch, Step};
use crate::import::sklearn::schema::{self, Estimator, Typed};

impl Context {
    /// A transformer: its steps, and the domains of its output columns.
    pub(super) fn transformer(
        &mut self,
        typed: &Typed,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        let kind = typed.kind.as_str();
        if !matches!(
            typed.estimator,
            Estimator::Pipeline(_) | Estimator::ColumnTransformer(_)
        ) {
            reads_no_ignored(input, at, kind)?;
        }
        match &typed.estimator {
            Estimator::Pipeline(p) => {
                check_inputs(p.n_features_in, input.len(), at)?;
                if p.steps.is_empty() {
                    return Err(malformed(format!("{at}.steps"), "a pipeline needs a step"));
                }
                let mut steps = Vec::new();
                let mut domains = input.to_vec();
                for (s, step) in p.steps.iter().enumerate() {
                    let (more, next) = self.transformer(
                        &step.estimator,
                        &format!("{at}.steps[{s}].estimator"),
                        &domains,
                    )?;
                    steps.extend(more);
                    domains = next;
                }
                Ok((steps, domains))
            }
            Estimator::ColumnTransformer(ct) => self.column_transformer(ct, at, input),
            Estimator::StandardScaler(s) => self.standard_scaler(s, at, kind, input),
            Estimator::MinMaxScaler(s) => self.min_max_scaler(s, at, kind, input),
            Estimator::SimpleImputer(s) => self.imputer(s, at, input),
            Estimator::OneHotEncoder(e) => self.one_hot(e, at, input),
            Estimator::OrdinalEncoder(e) => self.ordinal(e, at, input),
            Estimator::Unknown => Err(unsupported(format!("estimator type `{kind}` at {at}"))),
            _ => Err(unsupported(format!(
                "{kind} at {at} is a model, but a transformer is expected here"
            ))),
        }
    }

    pub(super) fn column_transformer(
        &mut self,
        ct: &schema::ColumnTransformer,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(ct.n_features_in, input.len(), at)?;
        let mut branches = Vec::new();
        let mut domains = Vec::new();
        for (e, entry) in ct.transformers.iter().enumerate() {
            let at = format!("{at}.transformers[{e}]");
            let columns = entry
                .columns
                .iter()
                .enumerate()
                .map(|(i, &c)| index(c, input.len(), &format!("{at}.columns[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let selected: Vec<Domain> = columns.iter().map(|&c| input[c]).collect();
            let (steps, out) = match entry.kind.as_str() {
                "drop" => continue,
                "passthrough" => (Vec::new(), selected),
                "transformer" => {
                    let Some(estimator) = &entry.estimator else {
                        return Err(malformed(
                            format!("{at}.estimator"),
                            "a `transformer` entry needs an estimator",
                        ));
                    };
                    self.transformer(estimator, &format!("{at}.estimator"), &selected)?
                }
                other => {
                    return Err(malformed(
                        format!("{at}.kind"),
                        format!(
                            "unknown kind `{other}` (expected transformer, passthrough or drop)"
                        ),
                    ));
                }
            };
            if usize::try_from(entry.output_width).ok() != Some(out.len()) {
                return Err(malformed(
                    format!("{at}.output_width"),
                    format!(
                        "says {} but the entry produces {} columns",
                        entry.output_width,
                        out.len()
                    ),
                ));
            }
            if entry.output_start.and_then(|s| usize::try_from(s).ok()) != Some(domains.len()) {
                return Err(malformed(
                    format!("{at}.output_start"),
                    format!("expected {}, the columns before this entry", domains.len()),
                ));
            }
            branches.push(Branch {
                columns: columns.iter().map(|&c| c as u32).collect(),
                steps,
            });
            domains.extend(out);
        }
        if usize::try_from(ct.n_output_features).ok() != Some(domains.len()) {
            return Err(malformed(
                format!("{at}.n_output_features"),
                format!(
                    "says {} but the entries produce {} columns",
                    ct.n_output_features,
                    domains.len()
                ),
            ));
        }
        Ok((
            vec![Step::Columns {
                branches,
                remainder: Vec::new(),
            }],
            domains,
        ))
    }

    /// A model, with the steps it needs before it.
    pub(super) fn model(
        &mut self,
        typed: &Typed,
        at: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let kind = typed.kind.as_str();
        let n = input.len();
        if !matches!(typed.estimator, Estimator::Pipeline(_)) {
            reads_no_ignored(input, at, kind)?;
        }
        match &typed.estimator {
            Estimator::Pipeline(p) => {
                check_inputs(p.n_features_in, n, at)?;
                let Some((last, before)) = p.steps.split_last() else {
                    return Err(malformed(format!("{at}.steps"), "a pipeline needs a step"));
                };
                let mut steps = Vec::new();
                let mut domains = input.to_vec();
                for (s, step) in before.iter().enumerate() {
                    let (more, next) = self.transformer(
                        &step.estimator,
                        &format!("{at}.steps[{s}].estimator"),
                        &domains,
                    )?;
                    steps.extend(more);
                    domains = next;
                }
                let mut converted = self.model(
                    &last.estimator,
                    &format!("{at}.steps[{}].estimator", before.len()),
                    &domains,
                )?;
                steps.append(&mut converted.steps);
                converted.steps = steps;
                Ok(converted)
            }
            Estimator::LinearRegressor(m) => self.linear_regressor(m, at, kind, input),
            Estimator::LinearClassifier(m) => self.linear_classifier(m, at, kind, input),
            Estimator::OneVsRest(o) => self.one_vs_rest(o, at, input),
            Estimator::DecisionTree(m) => self.decision_tree(m, at, kind, input),
            Estimator::Forest(m) => self.forest(m, at, kind, input),
            Estimator::GradientBoosting(m) => self.gradient_boosting(m, at, kind, input),
            Estimator::HistGradientBoosting(m) => self.hist_gradient_boosting(m, at, input),
            Estimator::Unknown => Err(unsupported(format!("estimator type `{kind}` at {at}"))),
            Estimator::ColumnTransformer(_)
            | Estimator::StandardScaler(_)
            | Estimator::MinMaxScaler(_)
            | Estimator::SimpleImputer(_)
            | Estimator::OneHotEncoder(_)
            | Estimator::OrdinalEncoder(_) => Err(unsupported(format!(
                "{kind} at {at} is a transformer; the model must end in an estimator that predicts"
            ))),
        }
    }
}
