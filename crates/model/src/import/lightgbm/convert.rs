//! The parsed LightGBM text translated into a [`NativeModel`].
//!
//! LightGBM's prediction (`GBDT::PredictRaw`, `Tree::Predict`, the objectives'
//! `ConvertOutput`) maps onto the native tree family as follows:
//!
//! - every tree adds to output `t % num_tree_per_iteration` (trees are stored iteration by
//!   iteration), summed in `f64` from zero: the boost-from-average score is already in the
//!   first trees' leaves;
//! - splits use [`SplitRule::LightGbm`]: tiny inputs read as zero, `x <= threshold` in `f64`,
//!   categorical codes truncated toward zero;
//! - random forests (`average_output`) divide the sum by the number of iterations before the
//!   link, and only then ([`Aggregation::Average`]);
//! - the objective gives the task and the link.
//!
//! LightGBM numbers a tree's internal nodes `0..num_leaves - 1` and its leaves separately
//! (a child `c < 0` is leaf `!c`); the native family wants one array in which every child
//! comes after its parent, so the nodes are renumbered breadth-first from the root. The walk
//! also proves the structure is a tree: every index in range, every node reached exactly once.

use crate::NativeModel;
use crate::error::ImportError;
use crate::family::Family;
use crate::family::link::{Link, Precision};
use crate::family::tree::{
    Aggregation, LinearLeaves, Missing, Node, SplitRule, Tree, TreeEnsemble,
};
use crate::format::{ModelFile, ModelInfo};
use crate::signature::{ClassLabel, Feature, Signature, Task};

use super::text::{FORMAT, Located, ModelText, Objective, TreeText, malformed};

/// The source library's name in [`ModelInfo`].
const LIBRARY: &str = "lightgbm";

/// Converts a parsed model into a model file named `name`.
pub(super) fn convert(text: &ModelText, name: &str) -> Result<ModelFile, ImportError> {
    let header = &text.header;
    let num_features =
        header.max_feature_idx.value.checked_add(1).ok_or_else(|| {
            malformed(header.max_feature_idx.line, "max_feature_idx is too large")
        })?;
    for (key, list) in [
        ("feature_names", &header.feature_names),
        ("feature_infos", &header.feature_infos),
    ] {
        if list.value.len() != num_features {
            return Err(malformed(
                list.line,
                format!(
                    "{key} has {} entries but max_feature_idx={} means {num_features} features",
                    list.value.len(),
                    header.max_feature_idx.value
                ),
            ));
        }
    }
    let outputs = header
        .num_tree_per_iteration
        .as_ref()
        .unwrap_or(&header.num_class);
    // Every output has at least one tree (an empty file has one output): this also bounds
    // what the outputs allocate by the size of the file.
    if outputs.value == 0 || outputs.value > text.trees.len().max(1) {
        return Err(malformed(
            outputs.line,
            format!(
                "{} trees per iteration, but the file has {} trees",
                outputs.value,
                text.trees.len()
            ),
        ));
    }
    let (task, link) = objective(header.objective.as_ref(), &header.num_class, outputs)?;
    let num_outputs = outputs.value;

    if !text.trees.len().is_multiple_of(num_outputs) {
        return Err(malformed(
            text.end_of_trees,
            format!(
                "the file has {} trees, not a whole number of iterations of {num_outputs} trees",
                text.trees.len()
            ),
        ));
    }
    let iterations = text.trees.len() / num_outputs;
    let aggregation = if header.average_output {
        if iterations == 0 {
            return Err(malformed(
                text.end_of_trees,
                "a random forest (average_output) with no trees",
            ));
        }
        Aggregation::Average {
            divisor: iterations as f64,
        }
    } else {
        Aggregation::Sum
    };

    let trees = text
        .trees
        .iter()
        .enumerate()
        .map(|(t, tree)| convert_tree(t, tree, num_features, (t % num_outputs) as u32))
        .collect::<Result<Vec<_>, _>>()?;

    let signature = signature(text, &trees, num_features, task)?;
    let family = Family::Trees(TreeEnsemble {
        num_features,
        split_rule: SplitRule::LightGbm,
        precision: Precision::Double,
        leaf_width: 1,
        base_score: vec![0.0; num_outputs],
        aggregation,
        link,
        trees,
    });
    let model = NativeModel::new(signature, family).map_err(|source| ImportError::Invalid {
        format: FORMAT,
        source,
    })?;
    let version = header
        .version
        .as_ref()
        .map_or("unknown", |v| v.value.as_str());
    Ok(ModelFile {
        info: ModelInfo::new(name, LIBRARY, version),
        model,
    })
}

/// The task and link of the objective, checked against the number of outputs.
fn objective(
    objective: Option<&Located<Objective>>,
    num_class: &Located<usize>,
    outputs: &Located<usize>,
) -> Result<(Task, Link), ImportError> {
    let Some(Located {
        value: objective,
        line,
    }) = objective
    else {
        // LightGBM writes no objective line for a custom objective, and then predicts the raw
        // scores.
        return single_output(None, outputs, Task::Regression, Link::Identity);
    };
    let line = *line;
    let name = objective.name.as_str();
    // With several outputs, `single_output` names the mismatch of the tree count instead.
    if !matches!(name, "multiclass" | "multiclassova") && num_class.value != 1 && outputs.value == 1
    {
        return Err(malformed(
            num_class.line,
            format!(
                "num_class={} with objective {name}, which predicts one value per row (LightGBM writes num_class=1 for it)",
                num_class.value
            ),
        ));
    }
    let classes = |k: usize| Task::Classification {
        classes: (0..k as i64).map(ClassLabel::Int).collect(),
    };
    match name {
        "binary" => {
            let scale = sigmoid(objective, line)?;
            single_output(Some(name), outputs, classes(2), Link::Sigmoid { scale })
        }
        "multiclass" | "multiclassova" => {
            let k = class_count(objective, line)?;
            if k < 2 || k != num_class.value || k != outputs.value {
                return Err(malformed(
                    line,
                    format!(
                        "objective {name} has num_class:{k}, but the header says num_class={} and num_tree_per_iteration={} (all must agree, and be at least 2)",
                        num_class.value, outputs.value
                    ),
                ));
            }
            let link = if name == "multiclass" {
                Link::Softmax
            } else {
                // One-vs-all: a sigmoid per class, not normalized (LightGBM's predict does not
                // make them sum to one).
                Link::Sigmoid {
                    scale: sigmoid(objective, line)?,
                }
            };
            Ok((classes(k), link))
        }
        // A probability for a label in [0, 1]: a regression whose prediction is a sigmoid.
        "cross_entropy" | "xentropy" => single_output(
            Some(name),
            outputs,
            Task::Regression,
            Link::Sigmoid { scale: 1.0 },
        ),
        "cross_entropy_lambda" | "xentlambda" => {
            single_output(Some(name), outputs, Task::Regression, Link::Log1pExp)
        }
        "regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
            // These share LightGBM's L2 objective's output: `sqrt` (reg_sqrt) trains on
            // sqrt(label) and predicts sign(x) * x^2.
            let link = if objective.args.iter().any(|a| a == "sqrt") {
                Link::SignedSquare
            } else {
                Link::Identity
            };
            single_output(Some(name), outputs, Task::Regression, link)
        }
        // LightGBM disables `sqrt` for these and always predicts exp(x).
        "poisson" | "gamma" | "tweedie" => {
            single_output(Some(name), outputs, Task::Regression, Link::Exp)
        }
        "lambdarank" | "rank_xendcg" => {
            single_output(Some(name), outputs, Task::Ranking, Link::Identity)
        }
        // LightGBM's names for "no objective": raw scores.
        "custom" | "none" | "null" | "na" => {
            single_output(Some(name), outputs, Task::Regression, Link::Identity)
        }
        other => Err(ImportError::Unsupported {
            format: FORMAT,
            what: format!("the objective `{other}` (line {line})"),
        }),
    }
}

/// `(task, link)` for an objective with one output per row, which the header must agree with.
fn single_output(
    name: Option<&str>,
    outputs: &Located<usize>,
    task: Task,
    link: Link,
) -> Result<(Task, Link), ImportError> {
    if outputs.value == 1 {
        return Ok((task, link));
    }
    match name {
        Some(name) => Err(malformed(
            outputs.line,
            format!(
                "objective {name} has one output, but the header announces {} trees per iteration",
                outputs.value
            ),
        )),
        None => Err(ImportError::Unsupported {
            format: FORMAT,
            what: format!(
                "a model with {} outputs and no objective line (a custom objective): Verdict cannot tell what its scores mean",
                outputs.value
            ),
        }),
    }
}

/// The value of the objective argument `key:value`.
fn argument<'a>(objective: &'a Objective, key: &str) -> Option<&'a str> {
    objective
        .args
        .iter()
        .find_map(|arg| arg.strip_prefix(key)?.strip_prefix(':'))
}

/// The `sigmoid:` argument, which LightGBM requires to be positive.
fn sigmoid(objective: &Objective, line: usize) -> Result<f64, ImportError> {
    let value = argument(objective, "sigmoid").ok_or_else(|| {
        malformed(
            line,
            format!("objective {} has no sigmoid: argument", objective.name),
        )
    })?;
    match value.parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 => Ok(scale),
        _ => Err(malformed(
            line,
            format!("sigmoid:{value} is not a positive number"),
        )),
    }
}

/// The `num_class:` argument of the multiclass objectives.
fn class_count(objective: &Objective, line: usize) -> Result<usize, ImportError> {
    let value = argument(objective, "num_class").ok_or_else(|| {
        malformed(
            line,
            format!("objective {} has no num_class: argument", objective.name),
        )
    })?;
    value
        .parse()
        .map_err(|_| malformed(line, format!("num_class:{value} is not a class count")))
}

/// The decision type bits of `src/io/tree.h`.
const CATEGORICAL: i8 = 1;
const DEFAULT_LEFT: i8 = 2;

/// One LightGBM tree as a native tree adding to raw output `output`.
fn convert_tree(
    t: usize,
    tree: &TreeText,
    num_features: usize,
    output: u32,
) -> Result<Tree, ImportError> {
    check_features(t, tree, num_features)?;
    let leaves = tree.num_leaves.value;
    let linear = tree
        .linear
        .as_ref()
        .map(|linear| convert_linear(t, linear, num_features))
        .transpose()?;
    let boundaries = &tree.cat_boundaries;
    if boundaries.value.first().is_some_and(|&b| b != 0)
        || boundaries.value.windows(2).any(|w| w[0] > w[1])
    {
        return Err(malformed(
            boundaries.line,
            format!("tree {t}: cat_boundaries must start at 0 and never decrease"),
        ));
    }
    if leaves == 1 {
        return Ok(Tree {
            output,
            nodes: vec![Node::Leaf { leaf: 0 }],
            leaf_values: tree.leaf_value.value.clone(),
            category_words: Vec::new(),
            linear,
        });
    }

    // The parser checked that every per-node array has `internal` entries, so indexing them
    // with a reached internal node is in range.
    //
    // Breadth-first from the root: `order[p]` is the LightGBM reference (an internal node
    // index, or `!leaf`) of native node `p`, so a child's native index is its position here,
    // always after its parent's.
    let internal = leaves - 1;
    let mut order: Vec<i32> = vec![0];
    let mut reached_internal = vec![false; internal];
    let mut reached_leaf = vec![false; leaves];
    reached_internal[0] = true;
    let mut nodes = Vec::new();
    let mut next = 0;
    while let Some(&reference) = order.get(next) {
        next += 1;
        if reference < 0 {
            nodes.push(Node::Leaf {
                leaf: !reference as u32,
            });
            continue;
        }
        let n = reference as usize;
        let mut child = |children: &Located<Vec<i32>>| -> Result<u32, ImportError> {
            let child = children.value[n];
            let reached = if child >= 0 {
                reached_internal.get_mut(child as usize)
            } else {
                reached_leaf.get_mut(!child as usize)
            };
            let what = if child >= 0 { "node" } else { "leaf" };
            match reached {
                None => Err(malformed(
                    children.line,
                    format!(
                        "tree {t}, node {n}: child {child} is out of range (the tree has {internal} internal nodes and {leaves} leaves)"
                    ),
                )),
                Some(true) => Err(malformed(
                    children.line,
                    format!(
                        "tree {t}, node {n}: child {child} is reached twice (a cycle or a shared {what})"
                    ),
                )),
                Some(reached) => {
                    *reached = true;
                    order.push(child);
                    Ok((order.len() - 1) as u32)
                }
            }
        };
        let left = child(&tree.left_child)?;
        let right = child(&tree.right_child)?;
        nodes.push(split_node(t, tree, n, left, right)?);
    }
    if let Some(n) = reached_internal.iter().position(|&r| !r) {
        return Err(malformed(
            tree.left_child.line,
            format!("tree {t}: internal node {n} is not reachable from the root"),
        ));
    }
    Ok(Tree {
        output,
        nodes,
        leaf_values: tree.leaf_value.value.clone(),
        category_words: tree.cat_threshold.value.clone(),
        linear,
    })
}

/// Internal node `n` of `tree` as a native split with the given children.
fn split_node(
    t: usize,
    tree: &TreeText,
    n: usize,
    left: u32,
    right: u32,
) -> Result<Node, ImportError> {
    let feature = tree.split_feature.value[n];
    let threshold = tree.threshold.value[n];
    let decision = tree.decision_type.value[n];
    let bad_decision = || {
        malformed(
            tree.decision_type.line,
            format!(
                "tree {t}, node {n}: decision_type {decision} is not one LightGBM writes (bit 0 categorical, bit 1 default left, bits 2-3 missing type 0, 1 or 2)"
            ),
        )
    };
    if !(0..16).contains(&decision) {
        return Err(bad_decision());
    }
    if decision & CATEGORICAL != 0 {
        // The threshold of a categorical split is the index of its bitset.
        let bitset = threshold as usize;
        let range = (threshold.fract() == 0.0 && threshold >= 0.0)
            .then(|| {
                let boundaries = &tree.cat_boundaries.value;
                Some((*boundaries.get(bitset)?, *boundaries.get(bitset + 1)?))
            })
            .flatten();
        let Some((start, end)) = range else {
            return Err(malformed(
                tree.threshold.line,
                format!(
                    "tree {t}, node {n}: categorical split {threshold} is not an index below num_cat={}",
                    tree.num_cat.value
                ),
            ));
        };
        // The parser read `cat_boundaries.last()` words and `convert_tree` checked that the
        // boundaries never decrease, so the bitset is within `cat_threshold`.
        // LightGBM sends NaN and negative codes right, members of the set left.
        return Ok(Node::Categorical {
            feature,
            words_start: start,
            words_len: end - start,
            set_goes_left: true,
            default_left: false,
            left,
            right,
        });
    }
    let missing = match decision >> 2 {
        0 => Missing::AsZero,
        1 => Missing::Zero,
        2 => Missing::Nan,
        _ => return Err(bad_decision()),
    };
    Ok(Node::Numeric {
        feature,
        threshold,
        missing,
        default_left: decision & DEFAULT_LEFT != 0,
        left,
        right,
    })
}

/// Checks that every split tests a feature the model has.
fn check_features(t: usize, tree: &TreeText, num_features: usize) -> Result<(), ImportError> {
    match tree
        .split_feature
        .value
        .iter()
        .position(|&f| f as usize >= num_features)
    {
        Some(n) => Err(malformed(
            tree.split_feature.line,
            format!(
                "tree {t}, node {n}: feature {} is out of range (the model has {num_features} features)",
                tree.split_feature.value[n]
            ),
        )),
        None => Ok(()),
    }
}

/// The linear leaves of tree `t`.
fn convert_linear(
    t: usize,
    linear: &super::text::LinearText,
    num_features: usize,
) -> Result<LinearLeaves, ImportError> {
    if let Some(i) = linear
        .leaf_features
        .value
        .iter()
        .position(|&f| f as usize >= num_features)
    {
        return Err(malformed(
            linear.leaf_features.line,
            format!(
                "tree {t}: linear leaf feature {} (value {i}) is out of range (the model has {num_features} features)",
                linear.leaf_features.value[i]
            ),
        ));
    }
    let mut offsets = Vec::with_capacity(linear.num_features.value.len() + 1);
    let mut offset = 0u32;
    offsets.push(offset);
    for &count in &linear.num_features.value {
        // The parser checked that the counts add up to the number of features listed.
        offset = offset.saturating_add(count);
        offsets.push(offset);
    }
    Ok(LinearLeaves {
        constants: linear.leaf_const.value.clone(),
        offsets,
        features: linear.leaf_features.value.clone(),
        coefficients: linear.leaf_coeff.value.clone(),
    })
}

/// The signature: LightGBM's feature names, categorical features with their pandas category
/// names, and the task.
fn signature(
    text: &ModelText,
    trees: &[Tree],
    num_features: usize,
    task: Task,
) -> Result<Signature, ImportError> {
    let header = &text.header;
    let names = &header.feature_names.value;
    let mut categorical = categorical_features(text, num_features);
    // A feature split on as a category is categorical whatever the parameters say.
    for tree in trees {
        for node in &tree.nodes {
            if let Node::Categorical { feature, .. } = node {
                categorical[*feature as usize] = true;
            }
        }
    }
    let categorical_count = categorical.iter().filter(|&&c| c).count();
    let mut lists = match &text.pandas_categorical {
        Some(Located {
            value: Some(lists),
            line,
        }) if !lists.is_empty() => {
            if lists.len() != categorical_count {
                return Err(ImportError::Unsupported {
                    format: FORMAT,
                    what: format!(
                        "pandas_categorical (line {line}) has {} category lists but the model has {categorical_count} categorical features, so Verdict cannot tell which columns they name (ordered pandas categoricals, or categorical_feature mixing pandas and integer columns)",
                        lists.len()
                    ),
                });
            }
            lists
                .iter()
                .map(|list| category_names(list, *line))
                .collect::<Result<Vec<_>, _>>()?
        }
        _ => Vec::new(),
    }
    .into_iter();
    let features = names
        .iter()
        .zip(&categorical)
        .map(|(name, &is_categorical)| {
            if is_categorical {
                Feature::categorical(name.clone(), lists.next().unwrap_or_default())
            } else {
                Feature::numeric(name.clone())
            }
        })
        .collect();
    let mut signature = Signature::new(features, task);
    // LightGBM names the columns of a plain array `Column_0`, `Column_1`, ...: such a model
    // had no names, so its inputs are matched by position (the names are kept, as LightGBM
    // shows them).
    signature.positional = names
        .iter()
        .enumerate()
        .all(|(i, name)| *name == format!("Column_{i}"));
    Ok(signature)
}

/// Which features LightGBM treated as categorical: the `categorical_feature` training
/// parameter when it lists indices, otherwise the features whose `feature_infos` entry lists
/// categories (`-1:0:1`) rather than a range (`[0:1]`) or `none`.
fn categorical_features(text: &ModelText, num_features: usize) -> Vec<bool> {
    let mut categorical = vec![false; num_features];
    let from_parameter = text.categorical_feature.as_ref().and_then(|parameter| {
        parameter
            .value
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<usize>().ok().filter(|&i| i < num_features))
            .collect::<Option<Vec<_>>>()
    });
    match from_parameter {
        Some(indices) => indices.into_iter().for_each(|i| categorical[i] = true),
        None => {
            for (flag, info) in categorical.iter_mut().zip(&text.header.feature_infos.value) {
                *flag = !info.starts_with('[') && info != "none";
            }
        }
    }
    categorical
}

/// A pandas category list as names: strings as they are, numbers and booleans as JSON writes
/// them.
fn category_names(list: &[serde_json::Value], line: usize) -> Result<Vec<String>, ImportError> {
    list.iter()
        .map(|value| match value {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::Bool(b) => Ok(b.to_string()),
            other => Err(malformed(
                line,
                format!("pandas_categorical holds {other}, which is not a category value"),
            )),
        })
        .collect()
}
