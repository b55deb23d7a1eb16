//! Decision trees and forests, and the `tree_` structure they share with GradientBoosting.

use super::check::{check_inputs, class_labels, count, flag, index, node_arrays, numbers_only};
use super::{Context, Converted, Domain, Leaves, malformed};
use crate::error::ImportError;
use crate::family::Family;
use crate::family::link::{Link, Precision};
use crate::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble, limits};
use crate::import::sklearn::schema::{self, Label, NodeValue};
use crate::signature::Task;

impl Context {
    /// A `DecisionTreeClassifier` or `DecisionTreeRegressor`.
    pub(super) fn decision_tree(
        &mut self,
        m: &schema::DecisionTree,
        at: &str,
        kind: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(m.n_features_in, n, at)?;
        numbers_only(input, at, kind)?;
        let (task, leaves, width) = tree_task(m.classes.as_deref(), at)?;
        let tree = sklearn_tree(&m.tree, &format!("{at}.tree"), n, leaves, 0)?;
        Ok(Converted::plain(
            trees(
                n,
                SplitRule::LessEqualF32Input,
                width,
                vec![0.0; width],
                Aggregation::Sum,
                Link::Identity,
                vec![tree],
            ),
            task,
            width,
        ))
    }

    /// A random forest or extra-trees ensemble.
    pub(super) fn forest(
        &mut self,
        m: &schema::Forest,
        at: &str,
        kind: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(m.n_features_in, n, at)?;
        numbers_only(input, at, kind)?;
        let (task, leaves, width) = tree_task(m.classes.as_deref(), at)?;
        if m.trees.is_empty() {
            return Err(malformed(format!("{at}.trees"), "a forest needs a tree"));
        }
        let members = m
            .trees
            .iter()
            .enumerate()
            .map(|(t, tree)| sklearn_tree(tree, &format!("{at}.trees[{t}]"), n, leaves, 0))
            .collect::<Result<Vec<_>, _>>()?;
        // Leaf values (class fractions) summed in tree order from 0.0, then divided by
        // the number of trees: scikit-learn's order, so the same bits.
        let aggregation = Aggregation::Average {
            divisor: members.len() as f64,
        };
        Ok(Converted::plain(
            trees(
                n,
                SplitRule::LessEqualF32Input,
                width,
                vec![0.0; width],
                aggregation,
                Link::Identity,
                members,
            ),
            task,
            width,
        ))
    }
}

/// Orders the nodes breadth-first from the root, so children follow their parents, and
/// rejects cycles, shared children and unreachable nodes. Returns the old ids in the new
/// order and the new id of each old node.
pub(super) fn breadth_first(
    children: &[Option<(usize, usize)>],
    at: &str,
) -> Result<(Vec<usize>, Vec<u32>), ImportError> {
    const UNSEEN: u32 = u32::MAX;
    let mut new_id = vec![UNSEEN; children.len()];
    let mut order = Vec::with_capacity(children.len());
    new_id[0] = 0;
    order.push(0);
    let mut next = 0;
    while let Some(&node) = order.get(next) {
        next += 1;
        if let Some((left, right)) = children[node] {
            for child in [left, right] {
                if new_id[child] != UNSEEN {
                    return Err(malformed(
                        format!("{at}, node {node}"),
                        format!(
                            "child {child} is reached twice: the nodes form a cycle or share a child"
                        ),
                    ));
                }
                new_id[child] = order.len() as u32;
                order.push(child);
            }
        }
    }
    if let Some(lost) = new_id.iter().position(|&id| id == UNSEEN) {
        return Err(malformed(
            format!("{at}, node {lost}"),
            "the node is not reachable from the root",
        ));
    }
    Ok((order, new_id))
}

/// The number of nodes of a tree, at least one and within Verdict's limit.
pub(super) fn node_count(value: i64, at: &str) -> Result<usize, ImportError> {
    let n = count(
        value,
        &format!("{at}.node_count"),
        limits::MAX_NODES_PER_TREE,
    )?;
    if n == 0 {
        return Err(malformed(
            format!("{at}.node_count"),
            "a tree needs at least one node",
        ));
    }
    Ok(n)
}

/// A scikit-learn `tree_` (decision trees, forests, GradientBoosting) as a Verdict tree
/// adding to raw output `output`.
pub(super) fn sklearn_tree(
    tree: &schema::Tree,
    at: &str,
    num_features: usize,
    leaves: Leaves,
    output: u32,
) -> Result<Tree, ImportError> {
    let n = node_count(tree.node_count, at)?;
    node_arrays(
        at,
        n,
        &[
            ("children_left", tree.children_left.len()),
            ("children_right", tree.children_right.len()),
            ("feature", tree.feature.len()),
            ("threshold", tree.threshold.len()),
            ("missing_go_to_left", tree.missing_go_to_left.len()),
            ("value", tree.value.len()),
        ],
    )?;
    let children = (0..n)
        .map(|i| {
            // A leaf is `children_left == -1`, as scikit-learn tests it.
            if tree.children_left[i] == -1 {
                return Ok(None);
            }
            let left = index(
                tree.children_left[i],
                n,
                &format!("{at}.children_left[{i}]"),
            )?;
            let right = index(
                tree.children_right[i],
                n,
                &format!("{at}.children_right[{i}]"),
            )?;
            Ok(Some((left, right)))
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let (order, new_id) = breadth_first(&children, at)?;

    let mut nodes = Vec::with_capacity(n);
    let mut leaf_values = Vec::new();
    let leaf_width = match leaves {
        Leaves::Scalar { .. } => 1,
        Leaves::Classes(k) => k,
    };
    for &i in &order {
        let Some((left, right)) = children[i] else {
            let leaf = (leaf_values.len() / leaf_width) as u32;
            match (leaves, &tree.value[i]) {
                (Leaves::Scalar { scale }, NodeValue::Scalar(v)) => {
                    // GradientBoosting adds `learning_rate * leaf`, the product rounded before
                    // the sum: folding it into the leaf in f64 is the same number.
                    leaf_values.push(scale.map_or(*v, |lr| lr * v));
                }
                (Leaves::Classes(k), NodeValue::Row(row)) if row.len() == k => {
                    // Class fractions, used as they are: scikit-learn's predict_proba does.
                    leaf_values.extend_from_slice(row);
                }
                (Leaves::Scalar { .. }, _) => {
                    return Err(malformed(
                        format!("{at}.value[{i}]"),
                        "expected a number (a regression leaf)",
                    ));
                }
                (Leaves::Classes(k), _) => {
                    return Err(malformed(
                        format!("{at}.value[{i}]"),
                        format!("expected a row of {k} class fractions"),
                    ));
                }
            }
            nodes.push(Node::Leaf { leaf });
            continue;
        };
        let feature = index(tree.feature[i], num_features, &format!("{at}.feature[{i}]"))?;
        nodes.push(Node::Numeric {
            feature: feature as u32,
            threshold: tree.threshold[i].0,
            missing: Missing::Nan,
            default_left: flag(
                tree.missing_go_to_left[i],
                &format!("{at}.missing_go_to_left[{i}]"),
            )?,
            left: new_id[left],
            right: new_id[right],
        });
    }
    Ok(Tree {
        output,
        nodes,
        leaf_values,
        category_words: Vec::new(),
        linear: None,
    })
}

/// The task, leaf layout and raw width of a decision tree or forest.
pub(super) fn tree_task(
    labels: Option<&[Label]>,
    at: &str,
) -> Result<(Task, Leaves, usize), ImportError> {
    Ok(match labels {
        Some(labels) => {
            let classes = class_labels(labels, at)?;
            let k = classes.len();
            // The raw output of a tree classifier is its class probabilities.
            (Task::Classification { classes }, Leaves::Classes(k), k)
        }
        None => (Task::Regression, Leaves::Scalar { scale: None }, 1),
    })
}

pub(super) fn trees(
    num_features: usize,
    split_rule: SplitRule,
    leaf_width: usize,
    base_score: Vec<f64>,
    aggregation: Aggregation,
    link: Link,
    trees: Vec<Tree>,
) -> Family {
    Family::Trees(TreeEnsemble {
        num_features,
        split_rule,
        precision: Precision::Double,
        leaf_width,
        base_score,
        aggregation,
        link,
        trees,
    })
}
