//! GradientBoosting and HistGradientBoosting.

use super::check::{
    check_inputs, class_labels, count, flag, floats, index, length, node_arrays, numbers_only,
};
use super::linear::margin_sigmoid;
use super::trees::{breadth_first, node_count, sklearn_tree, trees};
use super::{Context, Converted, Domain, Leaves, MAX_CLASSES, malformed, unsupported};
use crate::error::ImportError;
use crate::family::link::Link;
use crate::family::preprocess::{Fallback, LookupColumn, Step};
use crate::family::tree::{Aggregation, Missing, Node, SplitRule, Tree};
use crate::import::sklearn::schema;
use crate::signature::{ClassLabel, Task};

/// HistGradientBoosting's bitsets have 256 bits: category positions must fit.
const HGB_MAX_CATEGORIES: usize = 256;

/// Words in one HistGradientBoosting bitset.
const BITSET_WORDS: usize = 8;

impl Context {
    pub(super) fn gradient_boosting(
        &mut self,
        m: &schema::GradientBoosting,
        at: &str,
        kind: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(m.n_features_in, n, at)?;
        numbers_only(input, at, kind)?;
        let classes = m
            .classes
            .as_deref()
            .map(|labels| class_labels(labels, at))
            .transpose()?;
        let k = trees_per_iteration(m.n_trees_per_iteration, classes.as_deref(), at)?;
        length(&m.init_raw, k, &format!("{at}.init_raw"))?;
        let link = match (&classes, m.loss.as_str()) {
            (None, "squared_error" | "absolute_error" | "huber" | "quantile") => Link::Identity,
            // The label is `raw >= 0`; the exponential loss's probability is expit(2 raw).
            (Some(_), "log_loss") if k == 1 => margin_sigmoid(1.0, true),
            (Some(_), "exponential") if k == 1 => margin_sigmoid(2.0, true),
            (Some(_), "log_loss") => Link::Softmax,
            (_, loss) => {
                return Err(unsupported(format!(
                    "{kind} at {at}: loss `{loss}`{}",
                    if classes.is_some() {
                        " for this many classes"
                    } else {
                        ""
                    }
                )));
            }
        };
        let learning_rate = m.learning_rate.0;
        let mut members = Vec::with_capacity(m.trees.len() * k);
        for (s, stage) in m.trees.iter().enumerate() {
            length(stage, k, &format!("{at}.trees[{s}]"))?;
            for (j, tree) in stage.iter().enumerate() {
                members.push(sklearn_tree(
                    tree,
                    &format!("{at}.trees[{s}][{j}]"),
                    n,
                    Leaves::Scalar {
                        scale: Some(learning_rate),
                    },
                    j as u32,
                )?);
            }
        }
        let task = classes.map_or(Task::Regression, |classes| Task::Classification { classes });
        // The exported init_raw is the raw score scikit-learn starts from; it is never
        // recomputed (its clipping epsilon changed between releases).
        Ok(Converted::plain(
            trees(
                n,
                SplitRule::LessEqualF32Input,
                1,
                floats(&m.init_raw),
                Aggregation::Sum,
                link,
                members,
            ),
            task,
            k,
        ))
    }

    pub(super) fn hist_gradient_boosting(
        &mut self,
        m: &schema::HistGradientBoosting,
        at: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(m.n_features_in, n, at)?;
        let classes = m
            .classes
            .as_deref()
            .map(|labels| class_labels(labels, at))
            .transpose()?;
        let k = trees_per_iteration(m.n_trees_per_iteration, classes.as_deref(), at)?;
        length(
            &m.baseline_prediction,
            k,
            &format!("{at}.baseline_prediction"),
        )?;
        let link = match (&classes, m.link.as_str()) {
            (Some(_), "logit") if k == 1 => margin_sigmoid(1.0, false),
            (Some(_), "softmax") if k > 1 => Link::Softmax,
            (None, "identity") => Link::Identity,
            (None, "log") => Link::Exp,
            (_, other) => {
                return Err(unsupported(format!(
                    "HistGradientBoosting at {at}: link `{other}` for this task"
                )));
            }
        };

        // The trees read x[j] = encoded[feature_order[j]]: categorical columns (as positions
        // in their category list) first, then numeric ones.
        length(&m.input_columns, n, &format!("{at}.input_columns"))?;
        length(&m.feature_order, n, &format!("{at}.feature_order"))?;
        length(&m.is_categorical, n, &format!("{at}.is_categorical"))?;
        length(&m.f_idx_map, n, &format!("{at}.f_idx_map"))?;
        let mut order = Vec::with_capacity(n);
        let mut used = vec![false; n];
        for (j, &c) in m.feature_order.iter().enumerate() {
            let c = index(c, n, &format!("{at}.feature_order[{j}]"))?;
            if std::mem::replace(&mut used[c], true) {
                return Err(malformed(
                    format!("{at}.feature_order[{j}]"),
                    format!("column {c} appears twice"),
                ));
            }
            order.push(c);
        }
        let mut categorical = vec![false; n];
        let mut lookup = Vec::with_capacity(n);
        for (j, &c) in order.iter().enumerate() {
            let column = &m.input_columns[c];
            let at_c = format!("{at}.input_columns[{c}]");
            categorical[j] = match column.kind.as_str() {
                "categorical" => true,
                "numeric" => false,
                other => {
                    return Err(malformed(
                        format!("{at_c}.kind"),
                        format!("unknown kind `{other}` (expected numeric or categorical)"),
                    ));
                }
            };
            if flag(m.is_categorical[j], &format!("{at}.is_categorical[{j}]"))? != categorical[j] {
                return Err(malformed(
                    format!("{at}.is_categorical[{j}]"),
                    format!("disagrees with the kind of input column {c}"),
                ));
            }
            if !categorical[j] {
                numbers_only(&input[c..=c], at, "HistGradientBoosting")?;
                lookup.push(LookupColumn {
                    keys: Vec::new(),
                    values: Vec::new(),
                    missing: Fallback::Keep,
                    unknown: Fallback::Keep,
                });
                continue;
            }
            let categories = column.categories.as_deref().unwrap_or_default();
            if categories.len() > HGB_MAX_CATEGORIES {
                return Err(unsupported(format!(
                    "{at_c}: {} categories (HistGradientBoosting has at most {HGB_MAX_CATEGORIES})",
                    categories.len()
                )));
            }
            // Missing and unknown categories both become NaN, which follows the split's
            // missing direction.
            let keyed = self.keyed(
                categories,
                input[c],
                (0..categories.len()).map(|p| p as f64),
            );
            lookup.push(LookupColumn {
                keys: keyed.keys,
                values: keyed.payloads,
                missing: Fallback::Value(f64::NAN),
                unknown: Fallback::Value(f64::NAN),
            });
        }
        let known = m
            .known_cat_bitsets
            .iter()
            .enumerate()
            .map(|(r, row)| bitset(row, &format!("{at}.known_cat_bitsets[{r}]")))
            .collect::<Result<Vec<_>, _>>()?;

        let mut members = Vec::with_capacity(m.predictors.len() * k);
        for (i, iteration) in m.predictors.iter().enumerate() {
            length(iteration, k, &format!("{at}.predictors[{i}]"))?;
            for (j, tree) in iteration.iter().enumerate() {
                members.push(hgb_tree(
                    tree,
                    &format!("{at}.predictors[{i}][{j}]"),
                    &m.f_idx_map,
                    &known,
                    j as u32,
                    &format!("{at}.f_idx_map"),
                )?);
            }
        }
        let mut steps = Vec::new();
        if !order.iter().copied().eq(0..n) {
            steps.push(Step::Select {
                columns: order.iter().map(|&c| c as u32).collect(),
            });
        }
        if categorical.contains(&true) {
            steps.push(Step::Lookup { columns: lookup });
        }
        let task = classes.map_or(Task::Regression, |classes| Task::Classification { classes });
        Ok(Converted {
            steps,
            family: trees(
                n,
                SplitRule::LessEqualF64,
                1,
                floats(&m.baseline_prediction),
                Aggregation::Sum,
                link,
                members,
            ),
            task,
            raw_width: k,
            probabilities: true,
        })
    }
}

/// The number of trees per iteration (`K`) of a boosted classifier or regressor.
pub(super) fn trees_per_iteration(
    declared: i64,
    classes: Option<&[ClassLabel]>,
    at: &str,
) -> Result<usize, ImportError> {
    let k = count(
        declared,
        &format!("{at}.n_trees_per_iteration"),
        MAX_CLASSES,
    )?;
    let expected = match classes {
        None => 1,
        Some(classes) if classes.len() == 2 => 1,
        Some(classes) => classes.len(),
    };
    if k != expected {
        return Err(malformed(
            format!("{at}.n_trees_per_iteration"),
            format!("expected {expected} for this task, found {k}"),
        ));
    }
    Ok(k)
}

/// An 8-word bitset of 32-bit words.
pub(super) fn bitset(row: &[i64], at: &str) -> Result<[u32; BITSET_WORDS], ImportError> {
    length(row, BITSET_WORDS, at)?;
    let mut words = [0u32; BITSET_WORDS];
    for (w, (word, &value)) in words.iter_mut().zip(row).enumerate() {
        *word = u32::try_from(value).map_err(|_| {
            malformed(
                format!("{at}[{w}]"),
                format!("{value} is not a 32-bit word"),
            )
        })?;
    }
    Ok(words)
}

/// One of HistGradientBoosting's predictors as a Verdict tree adding to raw output `output`.
pub(super) fn hgb_tree(
    tree: &schema::HgbTree,
    at: &str,
    f_idx_map: &[i64],
    known: &[[u32; BITSET_WORDS]],
    output: u32,
    f_idx_at: &str,
) -> Result<Tree, ImportError> {
    let n = node_count(tree.node_count, at)?;
    let features = f_idx_map.len();
    node_arrays(
        at,
        n,
        &[
            ("value", tree.value.len()),
            ("feature_idx", tree.feature_idx.len()),
            ("num_threshold", tree.num_threshold.len()),
            ("missing_go_to_left", tree.missing_go_to_left.len()),
            ("left", tree.left.len()),
            ("right", tree.right.len()),
            ("is_leaf", tree.is_leaf.len()),
            ("is_categorical", tree.is_categorical.len()),
            ("bitset_idx", tree.bitset_idx.len()),
        ],
    )?;
    let children = (0..n)
        .map(|i| {
            if flag(tree.is_leaf[i], &format!("{at}.is_leaf[{i}]"))? {
                return Ok(None);
            }
            let left = index(tree.left[i], n, &format!("{at}.left[{i}]"))?;
            let right = index(tree.right[i], n, &format!("{at}.right[{i}]"))?;
            Ok(Some((left, right)))
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let (order, new_id) = breadth_first(&children, at)?;

    let mut nodes = Vec::with_capacity(n);
    let mut leaf_values = Vec::new();
    let mut category_words = Vec::new();
    for &i in &order {
        let Some((left, right)) = children[i] else {
            // The learning rate is already in the leaf.
            nodes.push(Node::Leaf {
                leaf: leaf_values.len() as u32,
            });
            leaf_values.push(tree.value[i].0);
            continue;
        };
        let feature = index(
            tree.feature_idx[i],
            features,
            &format!("{at}.feature_idx[{i}]"),
        )?;
        let missing_left = flag(
            tree.missing_go_to_left[i],
            &format!("{at}.missing_go_to_left[{i}]"),
        )?;
        let (left, right) = (new_id[left], new_id[right]);
        if !flag(tree.is_categorical[i], &format!("{at}.is_categorical[{i}]"))? {
            // f64 input against the f64 threshold; "Infinity" sends every number left and
            // NaN to its missing side.
            nodes.push(Node::Numeric {
                feature: feature as u32,
                threshold: tree.num_threshold[i].0,
                missing: Missing::Nan,
                default_left: missing_left,
                left,
                right,
            });
            continue;
        }
        let row = index(
            tree.bitset_idx[i],
            tree.raw_left_cat_bitsets.len(),
            &format!("{at}.bitset_idx[{i}]"),
        )?;
        let goes_left = bitset(
            &tree.raw_left_cat_bitsets[row],
            &format!("{at}.raw_left_cat_bitsets[{row}]"),
        )?;
        let known_row = index(
            f_idx_map[feature],
            known.len(),
            &format!("{f_idx_at}[{feature}]"),
        )?;
        // scikit-learn: in the left bitset goes left, other known categories go right, and
        // unknown ones take the missing side. A category set sends its members one way and
        // everything else the other, so the set is whichever side is not the missing one.
        let (words, set_goes_left) = if missing_left {
            let mut right_side = known[known_row];
            for (word, left_word) in right_side.iter_mut().zip(goes_left) {
                *word &= !left_word;
            }
            (right_side, false)
        } else {
            (goes_left, true)
        };
        nodes.push(Node::Categorical {
            feature: feature as u32,
            words_start: category_words.len() as u32,
            words_len: BITSET_WORDS as u32,
            set_goes_left,
            default_left: missing_left,
            left,
            right,
        });
        category_words.extend_from_slice(&words);
    }
    Ok(Tree {
        output,
        nodes,
        leaf_values,
        category_words,
        linear: None,
    })
}
