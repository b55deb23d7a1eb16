//! Linear estimators: regressors, classifiers (logistic regression, linear SVMs) and
//! one-vs-rest ensembles of them.

use super::check::{check_inputs, class_labels, count, floats, length, numbers_only};
use super::{Context, Converted, Domain, MAX_CLASSES, malformed, unsupported};
use crate::error::ImportError;
use crate::family::Family;
use crate::family::linear::{LinearMissing, LinearModel};
use crate::family::link::{Link, Precision};
use crate::import::sklearn::schema::{self, Estimator, Float, Label};
use crate::signature::Task;

impl Context {
    /// `LinearRegression`, `Ridge`, `Lasso` and the other linear regressors.
    pub(super) fn linear_regressor(
        &mut self,
        m: &schema::LinearRegressor,
        at: &str,
        kind: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(m.n_features_in, n, at)?;
        numbers_only(input, at, kind)?;
        let outputs = count(m.n_outputs, &format!("{at}.n_outputs"), MAX_CLASSES)?;
        if outputs == 0 {
            return Err(malformed(format!("{at}.n_outputs"), "expected at least 1"));
        }
        let coefficients = matrix(&m.coef, outputs, n, &format!("{at}.coef"))?;
        length(&m.intercept, outputs, &format!("{at}.intercept"))?;
        let task = if outputs == 1 {
            Task::Regression
        } else {
            Task::MultiOutput {
                targets: (0..outputs).map(|k| format!("prediction_{k}")).collect(),
            }
        };
        Ok(Converted::plain(
            linear(n, coefficients, floats(&m.intercept), Link::Identity),
            task,
            outputs,
        ))
    }

    /// `LogisticRegression`, `LinearSVC` and the other linear classifiers.
    pub(super) fn linear_classifier(
        &mut self,
        m: &schema::LinearClassifier,
        at: &str,
        kind: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(m.n_features_in, n, at)?;
        numbers_only(input, at, kind)?;
        let classes = class_labels(&m.classes, at)?;
        let binary = classes.len() == 2;
        let rows = if binary { 1 } else { classes.len() };
        let coefficients = matrix(&m.coef, rows, n, &format!("{at}.coef"))?;
        length(&m.intercept, rows, &format!("{at}.intercept"))?;
        let link = match (m.proba.as_deref(), binary) {
            // LinearSVC has no predict_proba: its link serves only the label (the sign
            // or the arg-max of the decision function), and the model says it has none.
            (Some("sigmoid" | "ovr") | None, true) => margin_sigmoid(1.0, false),
            (Some("softmax") | None, false) => Link::Softmax,
            (Some("ovr"), false) => Link::NormalizedSigmoid,
            (Some(other), _) => {
                return Err(unsupported(format!(
                    "{kind} at {at}: probabilities `{other}` for {} classes",
                    classes.len()
                )));
            }
        };
        let converted = Converted::plain(
            linear(n, coefficients, floats(&m.intercept), link),
            Task::Classification { classes },
            rows,
        );
        Ok(if m.proba.is_some() {
            converted
        } else {
            converted.without_probabilities()
        })
    }

    pub(super) fn one_vs_rest(
        &mut self,
        o: &schema::OneVsRest,
        at: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(o.n_features_in, n, at)?;
        numbers_only(input, at, "OneVsRestClassifier")?;
        let classes = class_labels(&o.classes, at)?;
        if classes.len() < 3 {
            return Err(unsupported(format!(
                "OneVsRestClassifier at {at} with {} classes (export the binary estimator itself)",
                classes.len()
            )));
        }
        length(&o.estimators, classes.len(), &format!("{at}.estimators"))?;
        let mut coefficients = Vec::with_capacity(classes.len() * n);
        let mut intercepts = Vec::with_capacity(classes.len());
        for (k, member) in o.estimators.iter().enumerate() {
            let at = format!("{at}.estimators[{k}]");
            let kind = member.estimator.kind.as_str();
            let Estimator::LinearClassifier(m) = &member.estimator.estimator else {
                return Err(unsupported(format!(
                    "{kind} at {at}.estimator as a one-vs-rest member (Verdict supports \
                     LogisticRegression and LinearSVC members)"
                )));
            };
            let at = format!("{at}.estimator");
            check_inputs(m.n_features_in, n, &at)?;
            if m.classes != [Label::Int(0), Label::Int(1)] {
                return Err(malformed(
                    format!("{at}.classes"),
                    "a one-vs-rest member must separate the classes [0, 1]",
                ));
            }
            if member.score != "decision_function" {
                return Err(unsupported(format!(
                    "{kind} at {at} scored by `{}` (linear members score by their decision function)",
                    member.score
                )));
            }
            if o.has_predict_proba && !matches!(m.proba.as_deref(), Some("sigmoid" | "ovr")) {
                return Err(malformed(
                    format!("{at}.proba"),
                    "has_predict_proba is set but this member has no sigmoid probabilities",
                ));
            }
            coefficients.extend(matrix(&m.coef, 1, n, &format!("{at}.coef"))?);
            length(&m.intercept, 1, &format!("{at}.intercept"))?;
            intercepts.push(m.intercept[0].0);
        }
        // predict is the arg-max of the decision values; predict_proba normalizes the
        // members' sigmoids. Without member probabilities there is no predict_proba, and the
        // softmax link serves only the arg-max.
        let link = if o.has_predict_proba {
            Link::NormalizedSigmoid
        } else {
            Link::Softmax
        };
        let width = classes.len();
        let converted = Converted::plain(
            linear(n, coefficients, intercepts, link),
            Task::Classification { classes },
            width,
        );
        Ok(if o.has_predict_proba {
            converted
        } else {
            converted.without_probabilities()
        })
    }
}

/// The row-major `rows x cols` matrix of `coef`.
pub(super) fn matrix(
    coef: &[Vec<Float>],
    rows: usize,
    cols: usize,
    at: &str,
) -> Result<Vec<f64>, ImportError> {
    length(coef, rows, at)?;
    let mut out = Vec::with_capacity(rows * cols);
    for (r, row) in coef.iter().enumerate() {
        length(row, cols, &format!("{at}[{r}]"))?;
        out.extend(row.iter().map(|f| f.0));
    }
    Ok(out)
}

pub(super) fn margin_sigmoid(scale: f64, positive_at_zero: bool) -> Link {
    Link::MarginSigmoid {
        scale,
        positive_at_zero,
    }
}

pub(super) fn linear(
    num_features: usize,
    coefficients: Vec<f64>,
    intercepts: Vec<f64>,
    link: Link,
) -> Family {
    Family::Linear(LinearModel {
        num_features,
        coefficients,
        intercepts,
        precision: Precision::Double,
        // scikit-learn raises on NaN input to its linear models.
        missing: LinearMissing::Reject,
        link,
    })
}
