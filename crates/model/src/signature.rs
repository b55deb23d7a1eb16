//! What a model takes and produces: its [`Signature`].

use serde::{Deserialize, Serialize};

use ndarray::ArrayView2;

use crate::error::PredictError;
use crate::output::{Output, OutputSlot};

/// The code [`Signature::encode_category`] gives a category the model never saw.
pub const UNKNOWN_CATEGORY: f64 = -1.0;

/// The kind of values a feature holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// Numbers; `NaN` is missing.
    Numeric,
    /// Categories. The model sees the category's code: its position in `categories`.
    /// An empty list means the source model knows the codes but not their names, so callers
    /// must pass codes.
    Categorical {
        /// The category names, in code order.
        categories: Vec<String>,
    },
    /// A column the model takes but never reads, such as one a scikit-learn
    /// `ColumnTransformer` drops: any value is accepted, text included, and none changes a
    /// prediction. Front ends pass the model `NaN` for it.
    Unused,
    /// Categories the model knows only by CatBoost's 32-bit hash of their name: front ends
    /// pass [`category_hash`](crate::family::ctr::category_hash) of a text value, and
    /// [`number_category_hash`](crate::family::ctr::number_category_hash) of a whole number
    /// (CatBoost hashes integer categories as their decimal text). Appended last: the bincode
    /// tags of the others stay put.
    HashedCategory,
}

/// One input feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// The column name the model was trained with.
    pub name: String,
    /// Numeric or categorical.
    pub kind: FeatureKind,
}

impl Feature {
    /// A numeric feature.
    pub fn numeric(name: impl Into<String>) -> Self {
        Feature {
            name: name.into(),
            kind: FeatureKind::Numeric,
        }
    }

    /// A categorical feature with the given categories, in code order.
    pub fn categorical(name: impl Into<String>, categories: Vec<String>) -> Self {
        Feature {
            name: name.into(),
            kind: FeatureKind::Categorical { categories },
        }
    }

    /// A CatBoost categorical feature (see [`FeatureKind::HashedCategory`]).
    pub fn hashed_category(name: impl Into<String>) -> Self {
        Feature {
            name: name.into(),
            kind: FeatureKind::HashedCategory,
        }
    }

    /// A feature the model never reads (see [`FeatureKind::Unused`]).
    pub fn unused(name: impl Into<String>) -> Self {
        Feature {
            name: name.into(),
            kind: FeatureKind::Unused,
        }
    }
}

/// A class label, as the training library reported it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassLabel {
    /// An integer label (`0`, `1`, `7`).
    Int(i64),
    /// A text label (`"setosa"`).
    Text(String),
}

impl std::fmt::Display for ClassLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad` honours width and alignment, so labels line up in tables.
        match self {
            ClassLabel::Int(i) => f.pad(&i.to_string()),
            ClassLabel::Text(s) => f.pad(s),
        }
    }
}

/// What a model predicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One number per row.
    Regression,
    /// One number per row and target (quantiles, multi-target regression).
    MultiOutput {
        /// The targets' names, one per output column.
        targets: Vec<String>,
    },
    /// A relevance score per row, comparable within a query.
    Ranking,
    /// One class per row, with a probability per class. Two classes make a binary classifier.
    Classification {
        /// The class labels, in the order of the probability columns.
        classes: Vec<ClassLabel>,
    },
}

impl Task {
    /// A short name for messages: `regression`, `multi-output`, `ranking`, `binary` or
    /// `multiclass`.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Regression => "regression",
            Task::MultiOutput { .. } => "multi-output",
            Task::Ranking => "ranking",
            Task::Classification { classes } if classes.len() == 2 => "binary",
            Task::Classification { .. } => "multiclass",
        }
    }
}

/// Everything a caller needs to feed a model and read its answer: the features in order, the
/// task, and the width of the raw margin.
///
/// Output column names are the same everywhere in Verdict (files, databases, HTTP):
/// `prediction` (or `prediction_<k>`, or the target names) for [`Output::Predict`] of
/// regressors, `label` for classifiers, `proba_<class>` for [`Output::PredictProba`], and `raw`
/// or `raw_<k>` for [`Output::Raw`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The input features, in the order of the input columns.
    pub features: Vec<Feature>,
    /// What the model predicts.
    pub task: Task,
    /// The number of raw margin columns.
    pub raw_width: usize,
    /// True when the source model had no feature names and Verdict named them `f0`, `f1`, ...;
    /// inputs are then matched by position rather than by name.
    pub positional: bool,
    /// Whether a classifier has [`Output::PredictProba`]: false where the source library
    /// gives none (scikit-learn's `LinearSVC`), so that Verdict does not invent them.
    /// Written to a model file only when false.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub probabilities: bool,
    /// Whether the model has [`Output::Contribs`]. Derived from the model, never stored:
    /// [`NativeModel::new`](crate::NativeModel::new) sets it from its family (tree ensembles
    /// with node covers and linear models can be explained).
    #[serde(skip)]
    pub contributions: bool,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl Signature {
    /// A signature with named features, whose raw margin has the natural width for the task
    /// (one column, or one per class for multiclass, one per target for multi-output).
    pub fn new(features: Vec<Feature>, task: Task) -> Self {
        let raw_width = match &task {
            Task::Regression | Task::Ranking => 1,
            Task::MultiOutput { targets } => targets.len(),
            Task::Classification { classes } if classes.len() == 2 => 1,
            Task::Classification { classes } => classes.len(),
        };
        Signature {
            features,
            task,
            raw_width,
            positional: false,
            probabilities: true,
            contributions: false,
        }
    }

    /// Numeric features named `f0`, `f1`, ... for a source model that had no names.
    pub fn positional_features(count: usize) -> Vec<Feature> {
        (0..count)
            .map(|i| Feature::numeric(format!("f{i}")))
            .collect()
    }

    /// The number of input features.
    pub fn num_features(&self) -> usize {
        self.features.len()
    }

    /// The class labels, for classifiers.
    pub fn classes(&self) -> Option<&[ClassLabel]> {
        match &self.task {
            Task::Classification { classes } => Some(classes),
            _ => None,
        }
    }

    /// The label of a class index as produced by [`Output::Predict`].
    pub fn class_label(&self, index: f64) -> Option<&ClassLabel> {
        let classes = self.classes()?;
        if index >= 0.0 && index.fract() == 0.0 {
            classes.get(index as usize)
        } else {
            None
        }
    }

    /// The outputs this model has.
    pub fn outputs(&self) -> Vec<Output> {
        Output::ALL
            .into_iter()
            .filter(|&o| self.output_width(o).is_some())
            .collect()
    }

    /// The number of columns of `output`, or `None` if the model does not have it.
    pub fn output_width(&self, output: Output) -> Option<usize> {
        match (output, &self.task) {
            (Output::Raw, _) => Some(self.raw_width),
            (Output::Predict, Task::MultiOutput { targets }) => Some(targets.len()),
            (Output::Predict, _) => Some(1),
            (Output::PredictProba, Task::Classification { classes }) if self.probabilities => {
                Some(classes.len())
            }
            (Output::PredictProba, _) => None,
            (Output::Contribs, _) if self.contributions => {
                Some(self.raw_width * (self.num_features() + 1))
            }
            (Output::Contribs, _) => None,
        }
    }

    /// The width of `output`, or the error a caller should see when the model lacks it.
    pub fn require_output(&self, output: Output) -> Result<usize, PredictError> {
        self.output_width(output)
            .ok_or_else(|| PredictError::UnsupportedOutput {
                output,
                task: self.task.name(),
                available: self
                    .outputs()
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The column names of `output`, as every part of Verdict writes them.
    pub fn output_columns(&self, output: Output) -> Vec<String> {
        let indexed = |prefix: &str, n: usize| -> Vec<String> {
            if n == 1 {
                vec![prefix.to_owned()]
            } else {
                (0..n).map(|k| format!("{prefix}_{k}")).collect()
            }
        };
        match (output, &self.task) {
            (Output::Raw, _) => indexed("raw", self.raw_width),
            (Output::Predict, Task::Classification { .. }) => vec!["label".to_owned()],
            (Output::Predict, Task::MultiOutput { targets }) => targets.clone(),
            (Output::Predict, _) => vec!["prediction".to_owned()],
            (Output::PredictProba, Task::Classification { classes }) => {
                classes.iter().map(|c| format!("proba_{c}")).collect()
            }
            (Output::PredictProba, _) => Vec::new(),
            (Output::Contribs, _) => self.contrib_columns(),
        }
    }

    /// `contrib_<feature>` ... `contrib_bias`, and with several raw outputs
    /// `contrib_<class>_<feature>` ... `contrib_<class>_bias` per output (the target name for
    /// multi-output models, the output's index where neither applies).
    fn contrib_columns(&self) -> Vec<String> {
        let names = || {
            self.features
                .iter()
                .map(|f| f.name.as_str())
                .chain(["bias"])
        };
        if self.raw_width == 1 {
            return names().map(|f| format!("contrib_{f}")).collect();
        }
        (0..self.raw_width)
            .flat_map(|k| {
                let output = match &self.task {
                    Task::Classification { classes } if classes.len() == self.raw_width => {
                        classes[k].to_string()
                    }
                    Task::MultiOutput { targets } if targets.len() == self.raw_width => {
                        targets[k].clone()
                    }
                    _ => k.to_string(),
                };
                names().map(move |f| format!("contrib_{output}_{f}"))
            })
            .collect()
    }

    /// The position of the feature called `name`.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// The code of category `value` of feature `feature`: its position in the feature's
    /// category list.
    ///
    /// A category the model did not see in training gets the code `-1`, which no category
    /// has: every model sends it where its library sends an unknown category (LightGBM: like
    /// a missing value; XGBoost: as a category outside the split's set; scikit-learn's
    /// encoders: by their `handle_unknown` setting), and never confuses it with a missing
    /// value (`NaN`), which an imputer may fill. A feature that is not categorical gives `NaN`.
    pub fn encode_category(&self, feature: usize, value: &str) -> f64 {
        match self.features.get(feature).map(|f| &f.kind) {
            Some(FeatureKind::Categorical { categories }) => categories
                .iter()
                .position(|c| c == value)
                .map_or(UNKNOWN_CATEGORY, |code| code as f64),
            _ => f64::NAN,
        }
    }

    /// Checks that `features` has the model's columns and that every slot is an output the
    /// model has, with the shape that output takes for these rows.
    pub fn check_shapes(
        &self,
        features: &ArrayView2<'_, f64>,
        outputs: &[OutputSlot<'_>],
    ) -> Result<(), PredictError> {
        if features.ncols() != self.num_features() {
            return Err(PredictError::FeatureCount {
                expected: self.num_features(),
                found: features.ncols(),
            });
        }
        for slot in outputs {
            let width = self.require_output(slot.output)?;
            if slot.out.nrows() != features.nrows() || slot.out.ncols() != width {
                return Err(PredictError::OutputShape {
                    output: slot.output,
                    expected_rows: features.nrows(),
                    expected_cols: width,
                    found_rows: slot.out.nrows(),
                    found_cols: slot.out.ncols(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Signature {
        let classes = vec![ClassLabel::Int(0), ClassLabel::Int(1)];
        Signature::new(
            vec![Feature::numeric("x")],
            Task::Classification { classes },
        )
    }

    #[test]
    fn a_classifier_without_probabilities_lacks_predict_proba_and_says_so_in_its_file() {
        let mut signature = classifier();
        assert!(signature.outputs().contains(&Output::PredictProba));
        let json = serde_json::to_value(&signature).unwrap();
        // Files written before the field existed read as having probabilities.
        assert!(json.get("probabilities").is_none());
        assert_eq!(
            serde_json::from_value::<Signature>(json).unwrap(),
            signature
        );

        signature.probabilities = false;
        assert_eq!(signature.outputs(), [Output::Predict, Output::Raw]);
        assert!(signature.require_output(Output::PredictProba).is_err());
        let json = serde_json::to_value(&signature).unwrap();
        assert_eq!(json["probabilities"], false);
        assert_eq!(
            serde_json::from_value::<Signature>(json).unwrap(),
            signature
        );
    }
}
