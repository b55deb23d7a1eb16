//! From the [`schema`](super::schema) mirror to a validated [`NativeModel`], with XGBoost's
//! arithmetic spelled out: `f32` inputs compared `x < t`, margins summed in `f32` in tree
//! order from the base margin, and the objective's transform in `f32`.

use std::collections::HashMap;
use std::ops::Range;

use super::schema::{self, BoosterModel, Cats, GradientBooster, Learner};
use super::{FORMAT, Iterations, Options};
use crate::error::ImportError;
use crate::family::linear::{LinearMissing, LinearModel};
use crate::family::link::{Link, Precision};
use crate::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble, limits};
use crate::family::{Family, NativeModel};
use crate::format::{ModelFile, ModelInfo};
use crate::signature::{ClassLabel, Feature, Signature, Task};

/// The largest category code XGBoost accepts; larger inputs are invalid and go left.
const MAX_CATEGORY: i64 = 1 << 24;

/// The most input features accepted: counts in a file are only strings, and a hostile one
/// must not make Verdict build billions of feature names.
const MAX_FEATURES: usize = 1 << 24;

/// The most outputs (classes, targets, quantiles) accepted, for the same reason.
const MAX_OUTPUTS: usize = 1 << 16;

fn malformed(location: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::malformed(FORMAT, location, message)
}

fn unsupported(what: impl Into<String>) -> ImportError {
    ImportError::unsupported(FORMAT, what)
}

/// What the objective predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regression,
    Ranking,
    Binary,
    Multiclass,
    Quantile,
}

/// How XGBoost turns the stored `base_score` into the starting margin (`ProbToMargin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BaseMargin {
    Identity,
    /// `-ln(1 / p - 1)` in `f32`.
    Logit,
    /// `ln(p)` in `f32`.
    Log,
}

/// The kind, output transform and base-score link of an objective, by name.
fn objective(name: &str) -> Result<(Kind, Link, BaseMargin), ImportError> {
    let sigmoid = Link::Sigmoid { scale: 1.0 };
    Ok(match name {
        "reg:squarederror"
        | "reg:linear"
        | "reg:squaredlogerror"
        | "reg:pseudohubererror"
        | "reg:absoluteerror" => (Kind::Regression, Link::Identity, BaseMargin::Identity),
        "reg:logistic" => (Kind::Regression, sigmoid, BaseMargin::Logit),
        "binary:logistic" => (Kind::Binary, sigmoid, BaseMargin::Logit),
        // XGBoost's `predict` returns the margin for logitraw; Verdict treats it as the
        // logistic classifier it is (the margin is the `raw` output, the probability the
        // sigmoid). Its base score is already a margin: the parity fixtures show no logit.
        "binary:logitraw" => (Kind::Binary, sigmoid, BaseMargin::Identity),
        "binary:hinge" => (Kind::Binary, Link::Hinge, BaseMargin::Identity),
        "multi:softprob" | "multi:softmax" => {
            (Kind::Multiclass, Link::Softmax, BaseMargin::Identity)
        }
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
            (Kind::Regression, Link::Exp, BaseMargin::Log)
        }
        "reg:quantileerror" => (Kind::Quantile, Link::Identity, BaseMargin::Identity),
        "rank:pairwise" | "rank:ndcg" | "rank:map" => {
            (Kind::Ranking, Link::Identity, BaseMargin::Identity)
        }
        other => return Err(unsupported(format!("objective `{other}`"))),
    })
}

/// A count stored as a decimal string.
fn count(value: Option<&str>, location: &str, default: usize) -> Result<usize, ImportError> {
    match value {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| {
            malformed(
                location,
                format!("expected a non-negative integer, found `{text}`"),
            )
        }),
    }
}

/// A list of `f32` written as `"1.5"` or `"[1.5,2E-1]"`.
fn float_list(text: &str, location: &str) -> Result<Vec<f32>, ImportError> {
    let trimmed = text.trim();
    let inner = match trimmed.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or_else(|| malformed(location, format!("unterminated list `{text}`")))?,
        None => trimmed,
    };
    let values = inner
        .split(',')
        .map(|item| {
            item.trim()
                .parse::<f32>()
                .map_err(|_| malformed(location, format!("expected numbers, found `{text}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(values)
}

/// The stored base score, turned into each output's starting margin as XGBoost does, in `f32`.
fn base_margins(
    learner: &Learner,
    margin: BaseMargin,
    outputs: usize,
) -> Result<Vec<f32>, ImportError> {
    const LOCATION: &str = "learner.learner_model_param.base_score";
    // 0.5 is XGBoost's default when a file has none.
    let scores = match &learner.learner_model_param.base_score {
        Some(text) => float_list(text, LOCATION)?,
        None => vec![0.5],
    };
    let scores = match scores.len() {
        1 => vec![scores[0]; outputs],
        n if n == outputs => scores,
        n => {
            return Err(malformed(
                LOCATION,
                format!("{n} values for a model with {outputs} outputs"),
            ));
        }
    };
    scores
        .into_iter()
        .map(|p| match margin {
            BaseMargin::Identity => Ok(p),
            BaseMargin::Logit if p > 0.0 && p < 1.0 => Ok(-(1.0f32 / p - 1.0).ln()),
            BaseMargin::Log if p > 0.0 => Ok(p.ln()),
            BaseMargin::Logit => Err(malformed(
                LOCATION,
                format!("{p} must be in (0, 1) for a logistic objective"),
            )),
            BaseMargin::Log => Err(malformed(
                LOCATION,
                format!("{p} must be positive for an objective with a log link"),
            )),
        })
        .collect()
}

/// The quantiles of `reg:quantileerror`.
fn quantiles(learner: &Learner) -> Result<Vec<f32>, ImportError> {
    match &learner.objective.quantile_loss_param {
        Some(param) => float_list(
            &param.quantile_alpha,
            "learner.objective.quantile_loss_param.quantile_alpha",
        ),
        None => Err(malformed(
            "learner.objective",
            "reg:quantileerror without quantile_loss_param",
        )),
    }
}

/// A count of outputs, checked against [`MAX_OUTPUTS`].
fn output_count(value: Option<&str>, location: &str, default: usize) -> Result<usize, ImportError> {
    let n = count(value, location, default)?;
    if n > MAX_OUTPUTS {
        return Err(malformed(
            location,
            format!("{n} outputs, over the limit of {MAX_OUTPUTS}"),
        ));
    }
    Ok(n)
}

/// The task and the number of raw outputs.
fn task(learner: &Learner, kind: Kind) -> Result<(Task, usize), ImportError> {
    let params = &learner.learner_model_param;
    let num_class = output_count(
        params.num_class.as_deref(),
        "learner.learner_model_param.num_class",
        0,
    )?;
    let num_target = output_count(
        params.num_target.as_deref(),
        "learner.learner_model_param.num_target",
        1,
    )?
    .max(1);
    let objective = &learner.objective.name;
    if kind != Kind::Multiclass && num_class > 1 {
        return Err(malformed(
            "learner.learner_model_param.num_class",
            format!("{num_class} classes for the non-multiclass objective `{objective}`"),
        ));
    }
    let single = |task: Task| -> Result<(Task, usize), ImportError> {
        if num_target == 1 {
            Ok((task, 1))
        } else {
            Err(unsupported(format!(
                "objective `{objective}` with {num_target} targets"
            )))
        }
    };
    match kind {
        Kind::Regression if num_target > 1 => Ok((
            Task::MultiOutput {
                targets: (0..num_target).map(|k| format!("prediction_{k}")).collect(),
            },
            num_target,
        )),
        Kind::Regression => single(Task::Regression),
        Kind::Ranking => single(Task::Ranking),
        Kind::Binary => single(Task::Classification {
            classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
        }),
        Kind::Multiclass => {
            if num_class < 2 {
                return Err(malformed(
                    "learner.learner_model_param.num_class",
                    format!("`{objective}` needs at least 2 classes, found {num_class}"),
                ));
            }
            let classes = (0..num_class).map(|k| ClassLabel::Int(k as i64)).collect();
            Ok((Task::Classification { classes }, num_class))
        }
        Kind::Quantile => {
            let alphas = quantiles(learner)?;
            if alphas.len() > MAX_OUTPUTS {
                return Err(malformed(
                    "learner.objective.quantile_loss_param.quantile_alpha",
                    format!(
                        "{} quantiles, over the limit of {MAX_OUTPUTS}",
                        alphas.len()
                    ),
                ));
            }
            if alphas.len() != num_target && num_target > 1 {
                return Err(malformed(
                    "learner.learner_model_param.num_target",
                    format!("{num_target} targets for {} quantiles", alphas.len()),
                ));
            }
            let targets: Vec<String> = alphas.iter().map(|a| format!("quantile_{a}")).collect();
            let n = targets.len();
            Ok((Task::MultiOutput { targets }, n))
        }
    }
}

/// The input features: names, and categories where the model has them.
fn features(learner: &Learner, cats: Option<&Cats>) -> Result<(Vec<Feature>, bool), ImportError> {
    let num_feature = feature_count(learner)?;
    let names = &learner.feature_names;
    let types = &learner.feature_types;
    if !names.is_empty() && names.len() != num_feature {
        return Err(malformed(
            "learner.feature_names",
            format!("{} names for {num_feature} features", names.len()),
        ));
    }
    if !types.is_empty() && types.len() != num_feature {
        return Err(malformed(
            "learner.feature_types",
            format!("{} types for {num_feature} features", types.len()),
        ));
    }
    let enc = cats.map_or(&[][..], |c| &c.enc[..]);
    if !enc.is_empty() && enc.len() != num_feature {
        return Err(malformed(
            "learner.gradient_booster.model.cats.enc",
            format!("{} columns for {num_feature} features", enc.len()),
        ));
    }
    let positional = names.is_empty();
    let features = (0..num_feature)
        .map(|i| {
            let name = names.get(i).cloned().unwrap_or_else(|| format!("f{i}"));
            if types.get(i).map(String::as_str) != Some("c") {
                return Ok(Feature::numeric(name));
            }
            let categories = match enc.get(i) {
                Some(column) => category_names(column, i)?,
                None => Vec::new(),
            };
            Ok(Feature::categorical(name, categories))
        })
        .collect::<Result<_, ImportError>>()?;
    Ok((features, positional))
}

/// The training categories of one feature from the `cats` container, in code order.
fn category_names(column: &schema::CatColumn, feature: usize) -> Result<Vec<String>, ImportError> {
    let location = format!("learner.gradient_booster.model.cats.enc[{feature}]");
    let Some(offsets) = &column.offsets else {
        // Numeric categories: their values are their names.
        return Ok(column.values.iter().map(ToString::to_string).collect());
    };
    let bytes = column
        .values
        .iter()
        .map(|v| match v.as_i64() {
            // XGBoost stores the UTF-8 bytes as signed bytes.
            Some(b @ -128..=255) => Ok(b as u8),
            _ => Err(malformed(&location, format!("`{v}` is not a byte"))),
        })
        .collect::<Result<Vec<u8>, _>>()?;
    offsets
        .windows(2)
        .map(|w| {
            let range = usize::try_from(w[0])
                .ok()
                .zip(usize::try_from(w[1]).ok())
                .filter(|(start, end)| start <= end && *end <= bytes.len())
                .ok_or_else(|| {
                    malformed(
                        &location,
                        format!(
                            "offsets {}..{} are outside the {} bytes",
                            w[0],
                            w[1],
                            bytes.len()
                        ),
                    )
                })?;
            String::from_utf8(bytes[range.0..range.1].to_vec())
                .map_err(|_| malformed(&location, "a category name is not UTF-8"))
        })
        .collect()
}

/// Everything the booster conversions share.
struct Common {
    num_features: usize,
    outputs: usize,
    link: Link,
    margins: Vec<f32>,
}

/// Converts a parsed model.
pub(super) fn convert(
    model: schema::Model,
    name: &str,
    options: &Options,
) -> Result<ModelFile, ImportError> {
    let learner = &model.learner;
    let version = match model.version.as_slice() {
        [] => "unknown".to_owned(),
        parts => parts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("."),
    };
    let objective_name = &learner.objective.name;
    let (kind, link, base) = objective(objective_name)?;
    let (task, outputs) = task(learner, kind)?;
    let margins = base_margins(learner, base, outputs)?;

    let common = Common {
        num_features: feature_count(learner)?,
        outputs,
        link,
        margins,
    };
    let booster = &learner.gradient_booster;
    let (family, cats, description) = match booster.name.as_str() {
        "gbtree" | "dart" => {
            let (model, weight_drop) = tree_model(booster)?;
            let (ensemble, kept) = trees(model, weight_drop, &common, learner, options)?;
            let description = format!(
                "XGBoost {objective_name} {} booster: {kept}",
                if weight_drop.is_some() {
                    "dart"
                } else {
                    "gbtree"
                }
            );
            (Family::Trees(ensemble), model.cats.as_ref(), description)
        }
        "gblinear" => {
            let model = booster
                .model
                .as_ref()
                .ok_or_else(|| malformed("learner.gradient_booster", "gblinear without `model`"))?;
            let linear = linear(model, &common)?;
            let description = format!("XGBoost {objective_name} gblinear booster");
            (Family::Linear(linear), None, description)
        }
        other => return Err(unsupported(format!("booster `{other}`"))),
    };

    let (features, positional) = features(learner, cats)?;
    let mut signature = Signature::new(features, task);
    // A two-class softmax keeps both margins.
    signature.raw_width = outputs;
    signature.positional = positional;
    let model = NativeModel::new(signature, family).map_err(|source| ImportError::Invalid {
        format: FORMAT,
        source,
    })?;
    let mut info = ModelInfo::new(name, "xgboost", version);
    info.description = description;
    Ok(ModelFile { info, model })
}

/// The number of input features.
fn feature_count(learner: &Learner) -> Result<usize, ImportError> {
    const LOCATION: &str = "learner.learner_model_param.num_feature";
    let n = count(
        learner.learner_model_param.num_feature.as_deref(),
        LOCATION,
        learner.feature_names.len(),
    )?;
    if n > MAX_FEATURES {
        return Err(malformed(
            LOCATION,
            format!("{n} features, over the limit of {MAX_FEATURES}"),
        ));
    }
    Ok(n)
}

/// The gbtree model and DART weights, in whichever layout the file uses.
fn tree_model(booster: &GradientBooster) -> Result<(&BoosterModel, Option<&[f32]>), ImportError> {
    // DART up to 3.2 wraps a whole gbtree booster.
    let (model, location) = match (&booster.model, &booster.gbtree) {
        (Some(model), _) => (model, "learner.gradient_booster.model"),
        (None, Some(inner)) => match &inner.model {
            Some(model) => (model, "learner.gradient_booster.gbtree.model"),
            None => {
                return Err(malformed(
                    "learner.gradient_booster.gbtree",
                    "no `model` in the wrapped gbtree",
                ));
            }
        },
        (None, None) => {
            return Err(malformed(
                "learner.gradient_booster",
                format!("a `{}` booster without `model`", booster.name),
            ));
        }
    };
    // The weights sit beside `model` up to 3.3 and inside it from 3.4.
    let weight_drop = booster
        .weight_drop
        .as_deref()
        .or(model.weight_drop.as_deref());
    if let Some(weights) = weight_drop
        && weights.len() != model.trees.len()
    {
        return Err(malformed(
            location,
            format!(
                "{} DART weights (weight_drop) for {} trees",
                weights.len(),
                model.trees.len()
            ),
        ));
    }
    Ok((model, weight_drop))
}

/// The number of trees to keep, and a description of the choice.
fn kept_trees(
    model: &BoosterModel,
    layer: usize,
    learner: &Learner,
    options: &Options,
) -> Result<(usize, String), ImportError> {
    let total = model.trees.len();
    let all = || format!("{total} trees");
    let best = match (options.iterations, learner.attributes.get("best_iteration")) {
        (Iterations::Best, Some(best)) => best.trim().parse::<usize>().map_err(|_| {
            malformed(
                "learner.attributes.best_iteration",
                format!("expected an iteration number, found `{best}`"),
            )
        })?,
        _ => return Ok((total, all())),
    };
    let end = match &model.iteration_indptr {
        Some(indptr) if !indptr.is_empty() => {
            let at = indptr
                .get(best.saturating_add(1))
                .or(indptr.last())
                .copied()
                .unwrap_or(0);
            usize::try_from(at)
                .ok()
                .filter(|&at| at <= total)
                .ok_or_else(|| {
                    malformed(
                        "learner.gradient_booster.model.iteration_indptr",
                        format!("{at} is not a tree count between 0 and {total}"),
                    )
                })?
        }
        _ => best.saturating_add(1).saturating_mul(layer).min(total),
    };
    Ok((
        end,
        format!("{end} of {total} trees, up to best_iteration {best}"),
    ))
}

/// The tree ensemble.
fn trees(
    model: &BoosterModel,
    weight_drop: Option<&[f32]>,
    common: &Common,
    learner: &Learner,
    options: &Options,
) -> Result<(TreeEnsemble, String), ImportError> {
    const LOCATION: &str = "learner.gradient_booster.model";
    let total = model.trees.len();
    let param = model.gbtree_model_param.as_ref();
    let declared = count(
        param.and_then(|p| p.num_trees.as_deref()),
        "gbtree_model_param.num_trees",
        total,
    )?;
    if declared != total {
        return Err(malformed(
            LOCATION,
            format!("gbtree_model_param.num_trees says {declared} but there are {total} trees"),
        ));
    }
    let parallel = count(
        param.and_then(|p| p.num_parallel_tree.as_deref()),
        "gbtree_model_param.num_parallel_tree",
        1,
    )?
    .max(1);
    if model.tree_info.len() != total {
        return Err(malformed(
            LOCATION,
            format!(
                "{} tree_info entries for {total} trees",
                model.tree_info.len()
            ),
        ));
    }
    // Vector-leaf trees (multi_strategy=multi_output_tree) carry every output in each leaf.
    let mut leaf_width = 1;
    for (t, tree) in model.trees.iter().enumerate() {
        let width = count(
            tree.tree_param.size_leaf_vector.as_deref(),
            &format!("{LOCATION}.trees[{t}].tree_param.size_leaf_vector"),
            1,
        )?
        .max(1);
        if t == 0 {
            leaf_width = width;
        } else if width != leaf_width {
            return Err(malformed(
                format!("{LOCATION}.trees[{t}]"),
                format!("{width} values per leaf where tree 0 has {leaf_width}"),
            ));
        }
    }
    if leaf_width > 1 && leaf_width != common.outputs {
        return Err(malformed(
            LOCATION,
            format!(
                "trees with {leaf_width} values per leaf in a model with {} outputs",
                common.outputs
            ),
        ));
    }
    let layer = parallel * if leaf_width > 1 { 1 } else { common.outputs };
    let (kept, description) = kept_trees(model, layer, learner, options)?;

    let trees = model.trees[..kept]
        .iter()
        .enumerate()
        .map(|(t, tree)| {
            let output = if leaf_width > 1 {
                0
            } else {
                let info = model.tree_info[t];
                u32::try_from(info)
                    .ok()
                    .filter(|&o| (o as usize) < common.outputs)
                    .ok_or_else(|| {
                        malformed(
                            format!("{LOCATION}.tree_info[{t}]"),
                            format!(
                                "output {info} is out of range for a model with {} outputs",
                                common.outputs
                            ),
                        )
                    })?
            };
            let weight = weight_drop.map(|w| w[t]);
            tree_to_native(t, tree, common.num_features, leaf_width, output, weight)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let ensemble = TreeEnsemble {
        num_features: common.num_features,
        split_rule: SplitRule::LessThanF32,
        precision: Precision::Single,
        leaf_width,
        base_score: common.margins.iter().map(|&m| f64::from(m)).collect(),
        aggregation: Aggregation::Sum,
        link: common.link,
        trees,
    };
    Ok((ensemble, description))
}

/// Where a vector-leaf tree keeps its leaf values.
enum VectorLeaves<'a> {
    /// 3.2+: `leaf_weights`, indexed by the leaf's right child.
    Indexed(&'a [f32]),
    /// Before: `base_weights`, indexed by node.
    ByNode(&'a [f32]),
}

/// One tree, renumbered from its root so that every child comes after its parent.
fn tree_to_native(
    t: usize,
    tree: &schema::Tree,
    num_features: usize,
    leaf_width: usize,
    output: u32,
    weight: Option<f32>,
) -> Result<Tree, ImportError> {
    let location = format!("tree {t}");
    let node_location = |n: usize| format!("tree {t}, node {n}");
    let n = count(
        Some(&tree.tree_param.num_nodes),
        &format!("{location} tree_param.num_nodes"),
        0,
    )?;
    if n == 0 || n > limits::MAX_NODES_PER_TREE {
        return Err(malformed(
            &location,
            format!(
                "{n} nodes (a tree has from 1 to {} nodes)",
                limits::MAX_NODES_PER_TREE
            ),
        ));
    }
    for (field, len) in [
        ("left_children", tree.left_children.len()),
        ("right_children", tree.right_children.len()),
        ("split_indices", tree.split_indices.len()),
        ("split_conditions", tree.split_conditions.len()),
        ("default_left", tree.default_left.len()),
    ] {
        if len != n {
            return Err(malformed(
                &location,
                format!("{field} has {len} entries for {n} nodes"),
            ));
        }
    }
    if !tree.split_type.is_empty() && tree.split_type.len() != n {
        return Err(malformed(
            &location,
            format!(
                "split_type has {} entries for {n} nodes",
                tree.split_type.len()
            ),
        ));
    }
    let vector_leaves = match (&tree.leaf_weights, leaf_width) {
        (_, 1) => None,
        (Some(weights), _) if !weights.is_empty() => Some(VectorLeaves::Indexed(weights)),
        _ if tree.base_weights.len() == n * leaf_width => {
            Some(VectorLeaves::ByNode(&tree.base_weights))
        }
        _ => {
            return Err(malformed(
                &location,
                format!(
                    "vector leaves need leaf_weights or {} base_weights, found {}",
                    n * leaf_width,
                    tree.base_weights.len()
                ),
            ));
        }
    };
    let categories = category_ranges(t, tree, n)?;
    let order = preorder(t, tree, n)?;
    let mut new_index = vec![0u32; n];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new as u32;
    }

    let scale = |v: f32| f64::from(weight.map_or(v, |w| v * w));
    let mut nodes = Vec::with_capacity(order.len());
    let mut leaf_values = Vec::new();
    let mut category_words = Vec::new();
    for &old in &order {
        let left = tree.left_children[old];
        if left == -1 {
            let leaf = (leaf_values.len() / leaf_width) as u32;
            match &vector_leaves {
                None => leaf_values.push(scale(tree.split_conditions[old])),
                Some(source) => {
                    let (values, start) = match source {
                        VectorLeaves::Indexed(values) => {
                            let index = tree.right_children[old];
                            let start = usize::try_from(index)
                                .ok()
                                .and_then(|i| i.checked_mul(leaf_width));
                            (*values, start)
                        }
                        VectorLeaves::ByNode(values) => (*values, Some(old * leaf_width)),
                    };
                    let slice = start
                        .and_then(|s| values.get(s..s.checked_add(leaf_width)?))
                        .ok_or_else(|| {
                            malformed(
                                node_location(old),
                                format!(
                                    "leaf values at {start:?} are outside the {} available",
                                    values.len()
                                ),
                            )
                        })?;
                    leaf_values.extend(slice.iter().map(|&v| scale(v)));
                }
            }
            nodes.push(Node::Leaf { leaf });
            continue;
        }
        let feature = u32::try_from(tree.split_indices[old])
            .ok()
            .filter(|&f| (f as usize) < num_features)
            .ok_or_else(|| {
                malformed(
                    node_location(old),
                    format!(
                        "split feature {} is out of range (the model has {num_features} features)",
                        tree.split_indices[old]
                    ),
                )
            })?;
        // `preorder` checked both children.
        let left = new_index[left as usize];
        let right = new_index[tree.right_children[old] as usize];
        let default_left = tree.default_left[old];
        let categorical = tree.split_type.get(old).copied().unwrap_or(0);
        if categorical == 0 && tree.split_conditions[old].is_nan() {
            // Every comparison with NaN is false: such a split would send every row right.
            return Err(malformed(
                node_location(old),
                "split condition is NaN; a numeric split needs a number",
            ));
        }
        nodes.push(match categorical {
            0 => Node::Numeric {
                feature,
                threshold: f64::from(tree.split_conditions[old]),
                missing: Missing::Nan,
                default_left,
                left,
                right,
            },
            1 => {
                let set = categories
                    .get(&old)
                    .map_or(&[][..], |range| &tree.categories[range.clone()]);
                let words_start = category_words.len() as u32;
                bitset(set, &mut category_words).map_err(|m| malformed(node_location(old), m))?;
                // XGBoost sends the categories listed at a node to the RIGHT: a category goes
                // left iff it is not in the set; negative and out-of-range codes go left.
                Node::Categorical {
                    feature,
                    words_start,
                    words_len: category_words.len() as u32 - words_start,
                    set_goes_left: false,
                    default_left,
                    left,
                    right,
                }
            }
            other => {
                return Err(malformed(
                    node_location(old),
                    format!("unknown split_type {other} (0 is numeric, 1 categorical)"),
                ));
            }
        });
    }
    Ok(Tree {
        output,
        nodes,
        leaf_values,
        category_words,
        linear: None,
    })
}

/// The reachable nodes in depth-first pre-order from the root, with every child checked to be
/// in range and reached once, so cycles and shared children are errors.
fn preorder(t: usize, tree: &schema::Tree, n: usize) -> Result<Vec<usize>, ImportError> {
    let mut seen = vec![false; n];
    let mut order = Vec::new();
    let mut stack = vec![0usize];
    seen[0] = true;
    while let Some(node) = stack.pop() {
        order.push(node);
        if tree.left_children[node] == -1 {
            continue;
        }
        let children = [tree.right_children[node], tree.left_children[node]];
        for child in children {
            let c = usize::try_from(child)
                .ok()
                .filter(|&c| c < n)
                .ok_or_else(|| {
                    malformed(
                        format!("tree {t}, node {node}"),
                        format!("child {child} is out of range (the tree has {n} nodes)"),
                    )
                })?;
            if seen[c] {
                return Err(malformed(
                    format!("tree {t}, node {node}"),
                    format!(
                        "child {c} is reached a second time: the tree has a cycle or a shared node"
                    ),
                ));
            }
            seen[c] = true;
            stack.push(c);
        }
    }
    Ok(order)
}

/// The range of `categories` of each categorical node.
fn category_ranges(
    t: usize,
    tree: &schema::Tree,
    n: usize,
) -> Result<HashMap<usize, Range<usize>>, ImportError> {
    let location = format!("tree {t}");
    let nodes = &tree.categories_nodes;
    if tree.categories_segments.len() != nodes.len() || tree.categories_sizes.len() != nodes.len() {
        return Err(malformed(
            &location,
            format!(
                "categories_nodes, categories_segments and categories_sizes have {}, {} and {} entries",
                nodes.len(),
                tree.categories_segments.len(),
                tree.categories_sizes.len()
            ),
        ));
    }
    let mut ranges = HashMap::with_capacity(nodes.len());
    for (i, &node) in nodes.iter().enumerate() {
        let start = tree.categories_segments[i];
        let size = tree.categories_sizes[i];
        let range = usize::try_from(node)
            .ok()
            .filter(|&node| node < n)
            .zip(
                usize::try_from(start)
                    .ok()
                    .zip(usize::try_from(size).ok())
                    .and_then(|(s, len)| Some(s..s.checked_add(len)?))
                    .filter(|r| r.end <= tree.categories.len()),
            )
            .ok_or_else(|| {
                malformed(
                    &location,
                    format!(
                        "categorical node {node} with categories {start}+{size} is out of range ({n} nodes, {} categories)",
                        tree.categories.len()
                    ),
                )
            })?;
        ranges.insert(range.0, range.1);
    }
    Ok(ranges)
}

/// Appends the bitset of `set` to `words`, keeping each tree within Verdict's limit.
fn bitset(set: &[i64], words: &mut Vec<u32>) -> Result<(), String> {
    let Some(&max) = set.iter().max() else {
        return Ok(());
    };
    if let Some(&bad) = set.iter().find(|&&c| !(0..MAX_CATEGORY).contains(&c)) {
        return Err(format!(
            "category {bad} is out of range (XGBoost codes are from 0 to {})",
            MAX_CATEGORY - 1
        ));
    }
    let start = words.len();
    let len = max as usize / 32 + 1;
    if start + len > limits::MAX_CATEGORY_WORDS {
        return Err(format!(
            "the tree's category bitsets need more than {} words",
            limits::MAX_CATEGORY_WORDS
        ));
    }
    words.resize(start + len, 0);
    for &c in set {
        let c = c as usize;
        words[start + c / 32] |= 1 << (c % 32);
    }
    Ok(())
}

/// The gblinear model: `raw[g] = (bias[g] + base_margin[g]) + sum_j x[j] * w[j][g]` in `f32`
/// over the present features in order, as XGBoost's `GBLinear::Pred`.
fn linear(model: &BoosterModel, common: &Common) -> Result<LinearModel, ImportError> {
    const LOCATION: &str = "learner.gradient_booster.model.weights";
    let weights = model
        .weights
        .as_deref()
        .ok_or_else(|| malformed("learner.gradient_booster.model", "gblinear without weights"))?;
    let (features, groups) = (common.num_features, common.outputs);
    let expected = (features + 1) * groups;
    if weights.len() != expected {
        return Err(malformed(
            LOCATION,
            format!(
                "{} weights for {features} features and {groups} outputs (expected {expected})",
                weights.len()
            ),
        ));
    }
    let mut coefficients = Vec::with_capacity(features * groups);
    for g in 0..groups {
        coefficients.extend((0..features).map(|j| f64::from(weights[j * groups + g])));
    }
    let intercepts = (0..groups)
        .map(|g| f64::from(weights[features * groups + g] + common.margins[g]))
        .collect();
    Ok(LinearModel {
        num_features: features,
        coefficients,
        intercepts,
        precision: Precision::Single,
        missing: LinearMissing::Skip,
        link: common.link,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_score_lists_and_scalars() {
        assert_eq!(float_list("5E-1", "x").unwrap(), [0.5]);
        assert_eq!(float_list("[1E-1, 2.5E0]", "x").unwrap(), [0.1, 2.5]);
        assert!(float_list("[1E-1", "x").is_err());
        assert!(float_list("[]", "x").is_err());
        assert!(float_list("abc", "x").is_err());
    }

    #[test]
    fn bitsets_mark_exactly_the_listed_categories() {
        let mut words = vec![7];
        bitset(&[0, 33, 5], &mut words).unwrap();
        assert_eq!(words, [7, 1 | 1 << 5, 1 << 1]);
        assert!(bitset(&[-1], &mut words).is_err());
        assert!(bitset(&[MAX_CATEGORY], &mut words).is_err());
        let before = words.len();
        bitset(&[], &mut words).unwrap();
        assert_eq!(words.len(), before);
    }

    #[test]
    fn unknown_objectives_are_named() {
        let err = objective("reg:madeup").unwrap_err();
        assert!(err.to_string().contains("reg:madeup"), "{err}");
    }
}
