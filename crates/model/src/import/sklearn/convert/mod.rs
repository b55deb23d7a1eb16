//! From the [`schema`](super::schema) mirror to a validated [`NativeModel`], following the
//! evaluation rules of `docs/formats/sklearn.md` operation by operation.
//!
//! Transformers become preprocessing [`Step`]s and the final estimator a linear model or a tree
//! ensemble. While converting, every column carries a [`Domain`]: a number, or the code of a
//! string category in the category list of the input column it came from. The lists start as
//! the export's `input.columns[].categories` and grow when a step knows a string they lack (an
//! imputer's fill value, a second encoder's category), so that every string a step can match
//! has a code; the lists become the signature's categories.
//!
//! The arithmetic that makes predictions identical is spelled out where it happens:
//! scikit-learn's trees compare the `f32` input with `f64` thresholds, HistGradientBoosting
//! compares in `f64`, GradientBoosting adds `learning_rate * leaf` (rounded) to the raw score,
//! and forests add class fractions in tree order before dividing by the number of trees.
//!
//! One room per estimator group: [`pipeline`] composes and dispatches, [`preprocess`] holds
//! the transformers, [`linear`], [`trees`] and [`boosting`] the models, and [`check`] the
//! field checks they all share.

mod boosting;
mod check;
mod linear;
mod pipeline;
mod preprocess;
mod trees;

use std::collections::HashMap;

use self::check::count;
use super::FORMAT;
use super::schema::Document;
use crate::error::ImportError;
use crate::family::preprocess::Step;
use crate::family::{Family, NativeModel, Pipeline};
use crate::format::{ModelFile, ModelInfo};
use crate::signature::{Feature, Signature, Task};

/// The most input columns accepted.
const MAX_FEATURES: usize = 1 << 24;

/// The most classes accepted.
const MAX_CLASSES: usize = 1 << 16;

fn malformed(location: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::malformed(FORMAT, location, message)
}

fn unsupported(what: impl Into<String>) -> ImportError {
    ImportError::unsupported(FORMAT, what)
}

/// What the values of a column are while the pipeline is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    /// Numbers; `NaN` is missing.
    Number,
    /// Codes into the category list of input column `.0`; `NaN` is missing (or a string the
    /// signature does not know).
    Category(usize),
    /// A column the export marks `ignored`: dropped by a `ColumnTransformer`, so no step may
    /// read it. It becomes a [`FeatureKind::Unused`](crate::FeatureKind::Unused) feature.
    Unused,
}

/// A growing list of the string categories of one input column.
#[derive(Debug, Default)]
struct CategoryList {
    names: Vec<String>,
    codes: HashMap<String, usize>,
}

impl CategoryList {
    /// The code of `name`, appended to the list if it is new.
    fn code(&mut self, name: &str) -> f64 {
        if let Some(&code) = self.codes.get(name) {
            return code as f64;
        }
        let code = self.names.len();
        self.names.push(name.to_owned());
        self.codes.insert(name.to_owned(), code);
        code as f64
    }
}

/// Keys of a lookup table, sorted, each with its payload, and the payload of the missing
/// category if there is one.
struct Keyed<T> {
    keys: Vec<f64>,
    payloads: Vec<T>,
    missing: Option<T>,
}

/// A converted model: steps (possibly none) before a family.
struct Converted {
    steps: Vec<Step>,
    family: Family,
    task: Task,
    raw_width: usize,
    /// Whether scikit-learn's estimator has `predict_proba` (see [`Signature::probabilities`]).
    probabilities: bool,
}

impl Converted {
    /// A model that takes its input columns as they are.
    fn plain(family: Family, task: Task, raw_width: usize) -> Self {
        Converted {
            steps: Vec::new(),
            family,
            task,
            raw_width,
            probabilities: true,
        }
    }

    /// The same model, marked as having no `predict_proba`.
    fn without_probabilities(self) -> Self {
        Converted {
            probabilities: false,
            ..self
        }
    }
}

/// How leaves of a scikit-learn `tree_` become leaf values.
#[derive(Debug, Clone, Copy)]
enum Leaves {
    /// One number per leaf, multiplied by `scale` (GradientBoosting's learning rate).
    Scalar { scale: Option<f64> },
    /// A row of class fractions per leaf.
    Classes(usize),
}

/// The conversion state: the category lists of the input columns.
struct Context {
    lists: Vec<CategoryList>,
}

/// Converts a parsed export into a model file named `name`.
pub(super) fn convert(doc: Document, name: &str) -> Result<ModelFile, ImportError> {
    let n = count(doc.input.n_features, "input.n_features", MAX_FEATURES)?;
    if n == 0 {
        return Err(malformed(
            "input.n_features",
            "a model needs at least one input",
        ));
    }
    if doc.input.columns.len() != n {
        return Err(malformed(
            "input.columns",
            format!(
                "expected {n} columns (input.n_features), found {}",
                doc.input.columns.len()
            ),
        ));
    }
    if let Some(names) = &doc.input.feature_names
        && names.len() != n
    {
        return Err(malformed(
            "input.feature_names",
            format!("expected {n} names, found {}", names.len()),
        ));
    }
    let mut cx = Context {
        lists: (0..n).map(|_| CategoryList::default()).collect(),
    };
    let domains = cx.input_domains(&doc.input)?;
    let converted = cx.model(&doc.estimator, "estimator", &domains)?;
    let classifier = matches!(converted.task, Task::Classification { .. });
    match (doc.output.task.as_str(), classifier) {
        ("classification", true) | ("regression", false) => {}
        ("classification" | "regression", _) => {
            return Err(malformed(
                "output.task",
                format!(
                    "`{}` disagrees with the estimator, a {}",
                    doc.output.task,
                    if classifier {
                        "classifier"
                    } else {
                        "regressor"
                    }
                ),
            ));
        }
        (other, _) => {
            return Err(malformed(
                "output.task",
                format!("unknown task `{other}` (expected classification or regression)"),
            ));
        }
    }

    let names: Vec<Option<&str>> = (0..n)
        .map(|j| {
            doc.input
                .feature_names
                .as_ref()
                .and_then(|names| names.get(j))
                .or(doc.input.columns[j].name.as_ref())
                .map(String::as_str)
        })
        .collect();
    let positional = names.iter().all(Option::is_none);
    let features = domains
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(j, (domain, name))| {
            let name = name.map_or_else(|| format!("f{j}"), str::to_owned);
            match domain {
                Domain::Number => Feature::numeric(name),
                Domain::Unused => Feature::unused(name),
                Domain::Category(list) => {
                    Feature::categorical(name, std::mem::take(&mut cx.lists[*list].names))
                }
            }
        })
        .collect();
    let mut signature = Signature::new(features, converted.task);
    signature.raw_width = converted.raw_width;
    signature.positional = positional;
    signature.probabilities = converted.probabilities;
    let family = if converted.steps.is_empty() {
        converted.family
    } else {
        Family::Pipeline(Pipeline {
            num_features: n,
            steps: converted.steps,
            model: Box::new(converted.family),
        })
    };
    let model = NativeModel::new(signature, family).map_err(|source| ImportError::Invalid {
        format: FORMAT,
        source,
    })?;
    Ok(ModelFile {
        info: ModelInfo::new(name, "scikit-learn", doc.sklearn_version),
        model,
    })
}
