//! The parsed CatBoost model translated into a [`NativeModel`].
//!
//! - Symmetric trees become an [`ObliviousEnsemble`]: split `l` of a tree is bit `l` of its
//!   leaf index, set when `(x as f32) > border`; a missing value sets no bit under `AsIs` and
//!   `AsFalse` (`nan_mode=Min`), every bit under `AsTrue` (`nan_mode=Max`), and is an error
//!   for a feature trained with `nan_mode=Forbidden`. Margins are `scale * sum + bias`.
//! - Non-symmetric trees (`Depthwise`, `Lossguide`) become a [`TreeEnsemble`] for the general
//!   engine: a value goes left when `(x as f32) <= border` ([`SplitRule::LessEqualF32Input`]),
//!   a missing value goes right only under `AsTrue`, and the bias is the base score.
//! - Categorical features add a step before either kind of tree (the `categorical` module's
//!   plan): it computes their one-hot and CTR columns after the float features, and the
//!   splits on them read those columns. The model becomes a [`Pipeline`].
//! - The loss function gives the task and the link.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::NativeModel;
use crate::error::ImportError;
use crate::family::link::{Link, Precision};
use crate::family::oblivious::{NanTreatment, ObliviousEnsemble, ObliviousSplit, ObliviousTree};
use crate::family::preprocess::Step;
use crate::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble};
use crate::family::{Family, Pipeline};
use crate::format::{ModelFile, ModelInfo};
use crate::signature::{ClassLabel, Feature, Signature, Task};

use super::FORMAT;
use super::categorical;
use super::schema::{self, LeafValue, Model, TreeNode};

/// The most input columns accepted, so a hostile index cannot make Verdict build billions of
/// feature names.
const MAX_FEATURES: usize = 1 << 24;

/// The most columns a model may have beyond the features it lists (columns of the training
/// pool it does not list, such as ignored ones): far more than a real pool leaves out, and
/// few enough that a corrupt index cannot make an import of a few kilobytes allocate
/// gigabytes (the fuzzer's find: one index of 16 million, 1.2 GB of columns).
const MAX_UNLISTED_COLUMNS: usize = 1 << 16;

/// The most raw outputs (classes) accepted.
const MAX_OUTPUTS: usize = 1 << 16;

fn malformed(location: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::malformed(FORMAT, location, message)
}

fn unsupported(what: impl Into<String>) -> ImportError {
    ImportError::unsupported(FORMAT, what)
}

/// What a loss function predicts, and its link.
fn objective(
    loss: &str,
    params: &BTreeMap<String, Value>,
) -> Result<(Objective, Link), ImportError> {
    Ok(match loss {
        // CatBoost's class prediction is `margin > 0`, the probability its sigmoid.
        "Logloss" | "CrossEntropy" => (
            Objective::Binary,
            Link::MarginSigmoid {
                scale: 1.0,
                positive_at_zero: false,
            },
        ),
        "MultiClass" => (Objective::Multiclass, Link::Softmax),
        "RMSE" | "MAE" => (Objective::Regression, Link::Identity),
        "Quantile" => {
            if params.keys().any(|k| k == "alpha")
                && params["alpha"].as_str().is_some_and(|a| a.contains(','))
            {
                return Err(unsupported("loss function Quantile with several alphas"));
            }
            (Objective::Regression, Link::Identity)
        }
        // `predict` is `exp(margin)`, CatBoost's `Exponent` prediction type.
        "Poisson" | "Tweedie" => (Objective::Regression, Link::Exp),
        // Two outputs, the mean and the log of the standard deviation; `predict` gives the
        // mean and the variance.
        "RMSEWithUncertainty" => (Objective::Uncertainty, Link::MeanAndVariance),
        other => {
            return Err(unsupported(format!(
                "loss function `{other}` (supported: Logloss, CrossEntropy, MultiClass, RMSE, \
                 MAE, Quantile, Poisson, Tweedie, RMSEWithUncertainty)"
            )));
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    Binary,
    Multiclass,
    Regression,
    /// A mean and its uncertainty (`RMSEWithUncertainty`).
    Uncertainty,
}

/// Refuses a model with features of a kind Verdict does not read (text, embeddings), naming
/// the first one.
pub(super) fn refuse_unread_features(info: &schema::FeaturesInfo) -> Result<(), ImportError> {
    for (kind, list) in [
        ("text", &info.text_features),
        ("embedding", &info.embedding_features),
    ] {
        if let Some(feature) = list.first() {
            return Err(unsupported(format!(
                "{kind} features (feature `{}` at column {}); Verdict reads numeric and \
                 categorical features",
                feature.feature_id, feature.flat_feature_index
            )));
        }
    }
    Ok(())
}

/// Converts a parsed model into a model file named `name`.
pub(super) fn convert(model: &Model, name: &str) -> Result<ModelFile, ImportError> {
    let info = &model.features_info;
    refuse_unread_features(info)?;
    let params = model.model_info.params.as_ref();
    let loss = params
        .and_then(|p| p.loss_function.as_ref())
        .ok_or_else(|| malformed("model_info.params.loss_function", "missing"))?;
    let (kind, link) = objective(&loss.kind, &loss.params)?;
    let forbidden = params
        .and_then(|p| p.data_processing_options.as_ref())
        .and_then(|d| d.float_features_binarization.as_ref())
        .and_then(|b| b.nan_mode.as_deref())
        == Some("Forbidden");

    let Columns {
        features,
        positional,
        nan_treatment,
        float_columns,
        cat_columns,
    } = features(info, forbidden)?;
    let (scale, bias) = match &model.scale_and_bias {
        Some((scale, bias)) => (scale.0, bias.iter().map(|b| b.0).collect::<Vec<_>>()),
        None => (1.0, vec![0.0]),
    };
    let outputs = bias.len();
    if outputs == 0 || outputs > MAX_OUTPUTS {
        return Err(malformed(
            "scale_and_bias",
            format!("{outputs} bias values; expected 1 to {MAX_OUTPUTS}"),
        ));
    }
    let task = task(model, kind, outputs)?;

    // With categorical features a step computes their one-hot and CTR columns after the
    // float features, and the trees read the step's columns: float feature k is column k.
    let plan = if cat_columns.is_empty() {
        None
    } else {
        let float_nan: Vec<NanTreatment> =
            float_columns.iter().map(|&c| nan_treatment[c]).collect();
        let cat_names = cat_columns
            .iter()
            .map(|&c| features[c].name.clone())
            .collect();
        Some(categorical::plan(
            model,
            &float_columns,
            &float_nan,
            &cat_columns,
            cat_names,
        )?)
    };
    let (columns, nan_treatment, num_features) = match &plan {
        Some(plan) => (
            (0..float_columns.len()).collect(),
            plan.nan_treatment.clone(),
            plan.step.output_width(),
        ),
        None => (float_columns, nan_treatment, features.len()),
    };
    let splits = Splits {
        columns: &columns,
        categorical: plan.as_ref(),
    };

    let trees = match (&model.oblivious_trees, &model.trees) {
        (Some(trees), None) => Family::Oblivious(ObliviousEnsemble {
            num_features,
            nan_treatment,
            leaf_width: outputs,
            trees: trees
                .iter()
                .enumerate()
                .map(|(t, tree)| oblivious_tree(t, tree, &splits, outputs))
                .collect::<Result<_, _>>()?,
            scale,
            bias,
            link,
        }),
        (None, Some(trees)) => {
            if scale != 1.0 {
                return Err(unsupported(format!(
                    "non-symmetric trees with a scale of {scale} (only 1 is supported)"
                )));
            }
            Family::Trees(TreeEnsemble {
                num_features,
                split_rule: SplitRule::LessEqualF32Input,
                precision: Precision::Double,
                leaf_width: outputs,
                base_score: bias,
                aggregation: Aggregation::Sum,
                link,
                trees: trees
                    .iter()
                    .enumerate()
                    .map(|(t, tree)| general_tree(t, tree, &splits, &nan_treatment, outputs))
                    .collect::<Result<_, _>>()?,
            })
        }
        (Some(_), Some(_)) => {
            return Err(malformed("", "both `oblivious_trees` and `trees`"));
        }
        (None, None) => return Err(malformed("", "neither `oblivious_trees` nor `trees`")),
    };
    let family = match plan {
        Some(plan) => Family::Pipeline(Pipeline {
            num_features: features.len(),
            steps: vec![Step::CatBoostCategorical(plan.step)],
            model: Box::new(trees),
        }),
        None => trees,
    };
    finish(model, name, &loss.kind, features, positional, task, family)
}

/// The model file of a converted family.
fn finish(
    model: &Model,
    name: &str,
    loss: &str,
    features: Vec<Feature>,
    positional: bool,
    task: Task,
    family: Family,
) -> Result<ModelFile, ImportError> {
    let description = match &family {
        Family::Pipeline(pipeline) => format!(
            "CatBoost {loss} model, {} with categorical features",
            pipeline.model.name()
        ),
        family => format!("CatBoost {loss} model, {}", family.name()),
    };
    let mut signature = Signature::new(features, task);
    signature.positional = positional;
    let version = model.model_info.catboost_version().unwrap_or_default();
    let model = NativeModel::new(signature, family).map_err(|source| ImportError::Invalid {
        format: FORMAT,
        source,
    })?;
    let mut info = ModelInfo::new(name, "catboost", version);
    info.description = description;
    Ok(ModelFile { info, model })
}

/// The input columns as the float features describe them.
struct Columns {
    /// The signature's features.
    features: Vec<Feature>,
    /// True when the model has no feature names.
    positional: bool,
    /// Each column's missing-value treatment.
    nan_treatment: Vec<NanTreatment>,
    /// The column of each float feature index, which splits refer to.
    float_columns: Vec<usize>,
    /// The column of each categorical feature index.
    cat_columns: Vec<usize>,
}

fn features(info: &schema::FeaturesInfo, forbidden: bool) -> Result<Columns, ImportError> {
    let columns = info
        .float_features
        .iter()
        .map(|f| f.flat_feature_index + 1)
        .chain(
            info.categorical_features
                .iter()
                .map(|f| f.flat_feature_index + 1),
        )
        .max()
        .unwrap_or(0);
    // Every column costs memory (a name, a signature entry) whether the file lists a
    // feature for it or not, so the columns the file does not list are bounded too.
    let listed = info.float_features.len() + info.categorical_features.len();
    if columns > MAX_FEATURES || columns > listed + MAX_UNLISTED_COLUMNS {
        return Err(malformed(
            "features_info.float_features",
            format!(
                "a flat_feature_index of {} is too large for a model that lists {listed} features",
                columns - 1
            ),
        ));
    }
    let mut names: Vec<Option<String>> = vec![None; columns];
    let mut nan_treatment = vec![NanTreatment::AsFalse; columns];
    let mut float_columns = vec![usize::MAX; info.float_features.len()];
    for (i, feature) in info.float_features.iter().enumerate() {
        let location = format!("features_info.float_features[{i}]");
        let column = feature.flat_feature_index;
        if names[column].is_some() {
            return Err(malformed(
                location,
                format!("flat_feature_index {column} is used twice"),
            ));
        }
        let Some(slot) = float_columns.get_mut(feature.feature_index) else {
            return Err(malformed(
                location,
                format!(
                    "feature_index {} is out of range for {} float features",
                    feature.feature_index,
                    info.float_features.len()
                ),
            ));
        };
        if *slot != usize::MAX {
            return Err(malformed(
                location,
                format!("feature_index {} is used twice", feature.feature_index),
            ));
        }
        *slot = column;
        names[column] = Some(feature.feature_id.clone());
        nan_treatment[column] = match feature.nan_value_treatment.as_str() {
            "AsIs" if forbidden => NanTreatment::Forbidden,
            "AsIs" | "AsFalse" => NanTreatment::AsFalse,
            "AsTrue" => NanTreatment::AsTrue,
            other => {
                return Err(malformed(
                    format!("{location}.nan_value_treatment"),
                    format!("`{other}` (expected AsIs, AsFalse or AsTrue)"),
                ));
            }
        };
    }
    // Categorical features: their columns, by feature_index.
    let mut categorical = vec![false; columns];
    let mut cat_columns = vec![usize::MAX; info.categorical_features.len()];
    for (i, feature) in info.categorical_features.iter().enumerate() {
        let location = format!("features_info.categorical_features[{i}]");
        let column = feature.flat_feature_index;
        if names[column].is_some() || categorical[column] {
            return Err(malformed(
                location,
                format!("flat_feature_index {column} is used twice"),
            ));
        }
        let index = feature.feature_index.unwrap_or(i);
        match cat_columns.get_mut(index) {
            Some(slot) if *slot == usize::MAX => *slot = column,
            _ => {
                return Err(malformed(
                    location,
                    format!("feature_index {index} is out of range or used twice"),
                ));
            }
        }
        categorical[column] = true;
        names[column] = Some(feature.feature_id.clone());
    }
    let positional = names.iter().all(|n| n.as_deref().unwrap_or("").is_empty());
    let features = names
        .into_iter()
        .enumerate()
        .map(|(column, name)| {
            let name = match name {
                Some(name) if !positional && !name.is_empty() => name,
                // A column no feature describes is one CatBoost ignored in training.
                _ => format!("f{column}"),
            };
            if categorical[column] {
                Feature::hashed_category(name)
            } else {
                Feature::numeric(name)
            }
        })
        .collect();
    Ok(Columns {
        features,
        positional,
        nan_treatment,
        float_columns,
        cat_columns,
    })
}

/// The task, with the class labels of a classifier.
fn task(model: &Model, kind: Objective, outputs: usize) -> Result<Task, ImportError> {
    let classes = match kind {
        Objective::Regression if outputs == 1 => return Ok(Task::Regression),
        Objective::Regression => {
            return Err(malformed(
                "scale_and_bias",
                format!("{outputs} bias values for a single-output loss"),
            ));
        }
        Objective::Uncertainty if outputs == 2 => {
            return Ok(Task::MultiOutput {
                targets: vec!["mean".into(), "variance".into()],
            });
        }
        Objective::Uncertainty => {
            return Err(malformed(
                "scale_and_bias",
                format!("{outputs} bias values for RMSEWithUncertainty, which has 2"),
            ));
        }
        Objective::Binary if outputs != 1 => {
            return Err(malformed(
                "scale_and_bias",
                format!("{outputs} bias values for a binary loss"),
            ));
        }
        Objective::Binary | Objective::Multiclass => class_labels(model)?,
    };
    let expected = if kind == Objective::Binary {
        2
    } else {
        outputs
    };
    let classes = match classes {
        Some(classes) if classes.len() == expected => classes,
        None if kind == Objective::Binary => vec![ClassLabel::Int(0), ClassLabel::Int(1)],
        None => (0..outputs as i64).map(ClassLabel::Int).collect(),
        Some(classes) => {
            return Err(malformed(
                "model_info.class_params.class_names",
                format!("{} class names for {expected} classes", classes.len()),
            ));
        }
    };
    Ok(Task::Classification { classes })
}

/// The class labels in `class_params`, if the model has them.
fn class_labels(model: &Model) -> Result<Option<Vec<ClassLabel>>, ImportError> {
    let Some(params) = &model.model_info.class_params else {
        return Ok(None);
    };
    if params.class_names.is_empty() {
        return Ok(None);
    }
    params
        .class_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let location = format!("model_info.class_params.class_names[{i}]");
            match (params.class_label_type.as_str(), name) {
                ("Integer", Value::Number(n)) => n
                    .as_i64()
                    .map(ClassLabel::Int)
                    .ok_or_else(|| malformed(location, format!("{n} is not an integer"))),
                ("String", Value::String(s)) => Ok(ClassLabel::Text(s.clone())),
                (kind, value) => Err(unsupported(format!(
                    "class label {value} of type `{kind}` (supported: Integer and String)"
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Where the trees' splits read: the column of each float feature, and the categorical
/// plan's one-hot and CTR columns when the model has categorical features.
struct Splits<'a> {
    columns: &'a [usize],
    categorical: Option<&'a categorical::Plan>,
}

impl Splits<'_> {
    /// The column a split reads and its border.
    fn resolve(&self, location: &str, split: &schema::Split) -> Result<(usize, f32), ImportError> {
        match self
            .categorical
            .map(|p| p.split(location, split))
            .transpose()?
        {
            Some(Some(found)) => Ok(found),
            Some(None) | None => float_split(location, split, self.columns),
        }
    }
}

/// The input column and border of a float split.
fn float_split(
    location: &str,
    split: &schema::Split,
    float_columns: &[usize],
) -> Result<(usize, f32), ImportError> {
    if split.split_type != "FloatFeature" {
        return Err(unsupported(format!(
            "{location}: split type `{}` (only FloatFeature splits are read)",
            split.split_type
        )));
    }
    let index = split
        .float_feature_index
        .ok_or_else(|| malformed(location, "a FloatFeature split without float_feature_index"))?;
    let border = split
        .border
        .ok_or_else(|| malformed(location, "a FloatFeature split without border"))?;
    let column = *float_columns.get(index).ok_or_else(|| {
        malformed(
            location,
            format!(
                "float_feature_index {index} is out of range for {} float features",
                float_columns.len()
            ),
        )
    })?;
    // CatBoost stores borders as f32 and writes them in full: the cast is exact.
    Ok((column, border.0 as f32))
}

fn oblivious_tree(
    t: usize,
    tree: &schema::ObliviousTree,
    splits: &Splits<'_>,
    outputs: usize,
) -> Result<ObliviousTree, ImportError> {
    let depth = tree.splits.len();
    if depth > crate::family::oblivious::MAX_DEPTH {
        return Err(malformed(
            format!("oblivious_trees[{t}].splits"),
            format!(
                "a depth of {depth}; CatBoost trees are at most {} deep",
                crate::family::oblivious::MAX_DEPTH
            ),
        ));
    }
    let splits = tree
        .splits
        .iter()
        .enumerate()
        .map(|(l, split)| {
            let (column, border) =
                splits.resolve(&format!("oblivious_trees[{t}].splits[{l}]"), split)?;
            Ok(ObliviousSplit {
                feature: column as u32,
                border,
            })
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let expected = (1usize << depth) * outputs;
    if tree.leaf_values.len() != expected {
        return Err(malformed(
            format!("oblivious_trees[{t}].leaf_values"),
            format!(
                "{} values; a tree of depth {depth} with {outputs} outputs has {expected}",
                tree.leaf_values.len()
            ),
        ));
    }
    Ok(ObliviousTree {
        splits,
        leaf_values: tree.leaf_values.iter().map(|v| v.0).collect(),
    })
}

/// A non-symmetric tree, numbered breadth-first so that children follow their parents.
fn general_tree(
    t: usize,
    root: &TreeNode,
    splits: &Splits<'_>,
    nan_treatment: &[NanTreatment],
    outputs: usize,
) -> Result<Tree, ImportError> {
    let mut nodes = Vec::new();
    let mut leaf_values = Vec::new();
    // (node, its path for messages); a node's index is its position in this queue.
    let mut queue: Vec<(&TreeNode, String)> = vec![(root, format!("trees[{t}]"))];
    let mut next = 0;
    while let Some((node, path)) = queue.get(next).cloned() {
        next += 1;
        match (&node.split, &node.left, &node.right, &node.value) {
            (Some(split), Some(left), Some(right), None) => {
                let (column, border) = splits.resolve(&format!("{path}.split"), split)?;
                let first = queue.len() as u32;
                queue.push((left, format!("{path}.left")));
                queue.push((right, format!("{path}.right")));
                nodes.push(Node::Numeric {
                    feature: column as u32,
                    threshold: f64::from(border),
                    missing: Missing::Nan,
                    default_left: nan_treatment[column] != NanTreatment::AsTrue,
                    left: first,
                    right: first + 1,
                });
            }
            (None, None, None, Some(value)) => {
                let values = match value {
                    LeafValue::Scalar(v) => vec![v.0],
                    LeafValue::Vector(v) => v.iter().map(|v| v.0).collect(),
                };
                if values.len() != outputs {
                    return Err(malformed(
                        format!("{path}.value"),
                        format!("{} values for {outputs} outputs", values.len()),
                    ));
                }
                nodes.push(Node::Leaf {
                    leaf: (leaf_values.len() / outputs) as u32,
                });
                leaf_values.extend(values);
            }
            _ => {
                return Err(malformed(
                    path,
                    "a node must have either `split`, `left` and `right`, or `value`",
                ));
            }
        }
    }
    Ok(Tree {
        output: 0,
        nodes,
        leaf_values,
        category_words: Vec::new(),
        linear: None,
        // CatBoost's JSON export weighs only the leaves (`weight`), and covers are not yet
        // built from them: these trees cannot be explained.
        cover: Vec::new(),
    })
}
