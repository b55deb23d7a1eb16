//! One tree-ensemble representation for XGBoost, LightGBM and scikit-learn trees.
//!
//! The representation is a flat array of nodes per tree. Node 0 is the root and every child
//! comes after its parent, so traversal always terminates and never needs recursion. What
//! differs between libraries is not the shape of the trees but their arithmetic, and that is
//! spelled out here: how a feature is compared with a threshold ([`SplitRule`]), what a
//! missing value does ([`Missing`]), and in which precision margins are summed
//! ([`Precision`]).

use serde::{Deserialize, Serialize};

use super::link::{Link, Precision};
use crate::error::InvalidModel;

/// How a numeric split compares a feature value `x` with its threshold `t`; the value goes to
/// the left child when the comparison holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitRule {
    /// `(x as f32) < (t as f32)`: XGBoost casts its input to `f32`, and so takes the category
    /// code of a categorical split from the `f32` value too.
    LessThanF32,
    /// `x <= t` in `f64`: scikit-learn's histogram gradient boosting. (LightGBM compares the
    /// same way but reads its input differently: see [`LightGbm`](SplitRule::LightGbm).)
    LessEqualF64,
    /// `(x as f32 as f64) <= t`: scikit-learn's trees cast the input to `f32` but keep `f64`
    /// thresholds.
    LessEqualF32Input,
    /// LightGBM's predictor, which differs from [`LessEqualF64`](SplitRule::LessEqualF64) in
    /// how it reads its input:
    ///
    /// - every value with `|x| <= 1e-35f` (`kZeroThreshold`) becomes exactly `0.0` before any
    ///   tree sees it, because LightGBM turns each row into its non-zero entries and scatters
    ///   them over a zeroed buffer. Splits compare, and linear leaves multiply, the snapped
    ///   value; `NaN` is kept. It matters at thresholds of exactly `±kZeroThreshold`, which
    ///   LightGBM writes often: `-kZeroThreshold` itself goes right of `-kZeroThreshold`;
    /// - numeric splits then compare `x <= t` in `f64`;
    /// - categorical splits cast the value to `int` (truncating toward zero) *before* they
    ///   reject negative codes, so a value in `(-1, 0)` is category 0.
    ///
    /// [`TreeEnsemble`] applies [`SplitRule::read`] to every input it reads; code that walks a
    /// [`Tree`] itself must do the same.
    LightGbm,
}

impl SplitRule {
    /// True when `x` goes left of threshold `t`.
    #[inline]
    pub fn goes_left(self, x: f64, t: f64) -> bool {
        match self {
            SplitRule::LessThanF32 => (x as f32) < (t as f32),
            SplitRule::LessEqualF64 | SplitRule::LightGbm => x <= t,
            SplitRule::LessEqualF32Input => f64::from(x as f32) <= t,
        }
    }

    /// An input value as the trees see it: unchanged, except that
    /// [`LightGbm`](SplitRule::LightGbm) reads `|x| <= 1e-35f` as `0.0`.
    #[inline]
    pub fn read(self, x: f64) -> f64 {
        match self {
            SplitRule::LightGbm if x.abs() <= ZERO_THRESHOLD => 0.0,
            _ => x,
        }
    }

    /// The value a categorical split looks up (not `NaN`), before it is truncated to a code
    /// and negative codes are rejected.
    #[inline]
    fn category_value(self, x: f64) -> f64 {
        match self {
            // XGBoost takes the code from its f32 input: 0.99999999999 is category 1.
            SplitRule::LessThanF32 => f64::from(x as f32),
            // LightGBM truncates before its sign check: -0.5 is category 0.
            SplitRule::LightGbm => x.trunc(),
            SplitRule::LessEqualF64 | SplitRule::LessEqualF32Input => x,
        }
    }
}

/// What a numeric split does with a missing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// `NaN` takes the default child (XGBoost, scikit-learn, LightGBM's missing type `NaN`).
    Nan,
    /// `NaN` is replaced by `0.0` and compared as usual (LightGBM's missing type `None`).
    AsZero,
    /// `NaN` counts as zero, and zero (`|x| <= 1e-35`) takes the default child (LightGBM's
    /// missing type `Zero`).
    Zero,
}

/// LightGBM's `kZeroThreshold`: a `float` literal `1e-35f` compared in `double`.
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// One node of a [`Tree`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// A leaf: index `leaf` into the tree's leaves.
    Leaf {
        /// Which leaf.
        leaf: u32,
    },
    /// `feature` compared with `threshold` under the ensemble's [`SplitRule`].
    Numeric {
        /// The feature tested.
        feature: u32,
        /// The threshold.
        threshold: f64,
        /// What a missing value does.
        missing: Missing,
        /// Where a value goes when [`Missing`] sends it to the default child.
        default_left: bool,
        /// The left child's index.
        left: u32,
        /// The right child's index.
        right: u32,
    },
    /// Membership of `feature`'s category code in a set.
    ///
    /// The code is the feature value truncated to an integer. Codes in the set go left when
    /// `set_goes_left` and right otherwise; every other code (including negative and
    /// non-finite values other than `NaN`) goes the other way. `NaN` goes to the default
    /// child.
    Categorical {
        /// The feature tested.
        feature: u32,
        /// The first word of the set's bitset in [`Tree::category_words`]: bit `c % 32` of
        /// word `c / 32` is set when code `c` is in the set.
        words_start: u32,
        /// How many words the bitset has.
        words_len: u32,
        /// Which side the members go to.
        set_goes_left: bool,
        /// Where `NaN` goes.
        default_left: bool,
        /// The left child's index.
        left: u32,
        /// The right child's index.
        right: u32,
    },
}

/// Leaves whose value is a linear function of the features (LightGBM's `linear_tree`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearLeaves {
    /// The constant term of each leaf.
    pub constants: Vec<f64>,
    /// Leaf `i` uses `features[offsets[i]..offsets[i + 1]]`; one more entry than leaves.
    pub offsets: Vec<u32>,
    /// The features of all leaves, concatenated.
    pub features: Vec<u32>,
    /// The coefficients, parallel to `features`.
    pub coefficients: Vec<f64>,
}

/// One decision tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The first raw output this tree's leaves add to. A leaf adds its `leaf_width` values
    /// to outputs `output .. output + leaf_width`.
    pub output: u32,
    /// The nodes; node 0 is the root, and children come after their parents.
    pub nodes: Vec<Node>,
    /// `leaf_width` values per leaf.
    pub leaf_values: Vec<f64>,
    /// The bitsets of the categorical splits.
    pub category_words: Vec<u32>,
    /// Linear leaf models; a leaf falls back to its `leaf_values` entry when any of its
    /// features is missing.
    pub linear: Option<LinearLeaves>,
    /// The cover of each node, parallel to `nodes`: the training weight that reached it
    /// (XGBoost's `sum_hessian`, LightGBM's `internal_count`/`leaf_count`, scikit-learn's
    /// weighted sample count). Prediction ignores it; TreeSHAP needs it
    /// (the `contribs` output). Empty when the source did not record it (model files of format
    /// version 1): such a model predicts but cannot explain.
    pub cover: Vec<f64>,
}

impl Tree {
    /// The leaf that `row` reaches.
    #[inline]
    pub fn leaf_for(&self, rule: SplitRule, row: impl Fn(usize) -> f64) -> u32 {
        let mut index = 0usize;
        loop {
            // Validation guarantees every index is in range and every child is later.
            match self.step(&self.nodes[index], rule, &row) {
                Step::Child(child) => index = child as usize,
                Step::Leaf(leaf) => return leaf,
            }
        }
    }

    /// Where `row` goes from `node`, one of this tree's nodes.
    #[inline]
    pub(crate) fn step(&self, node: &Node, rule: SplitRule, row: impl Fn(usize) -> f64) -> Step {
        let child = match node {
            Node::Leaf { leaf } => return Step::Leaf(*leaf),
            Node::Numeric {
                feature,
                threshold,
                missing,
                default_left,
                left,
                right,
            } => {
                let mut x = row(*feature as usize);
                let go_left = match missing {
                    Missing::Nan if x.is_nan() => *default_left,
                    Missing::Zero if x.is_nan() || x.abs() <= ZERO_THRESHOLD => *default_left,
                    _ => {
                        if x.is_nan() {
                            x = 0.0;
                        }
                        rule.goes_left(x, *threshold)
                    }
                };
                if go_left { *left } else { *right }
            }
            Node::Categorical {
                feature,
                words_start,
                words_len,
                set_goes_left,
                default_left,
                left,
                right,
            } => {
                let words = &self.category_words
                    [*words_start as usize..(*words_start + *words_len) as usize];
                let x = row(*feature as usize);
                if category_goes_left(rule, words, *set_goes_left, *default_left, x) {
                    *left
                } else {
                    *right
                }
            }
        };
        Step::Child(child)
    }

    /// The number of edges on the longest path from the root to a leaf.
    pub fn depth(&self) -> usize {
        // Children come after parents, so one forward pass settles every depth.
        let mut depths = vec![0usize; self.nodes.len()];
        let mut deepest = 0;
        for (n, node) in self.nodes.iter().enumerate() {
            if let Node::Numeric { left, right, .. } | Node::Categorical { left, right, .. } = node
            {
                let depth = depths[n] + 1;
                for child in [*left, *right] {
                    if let Some(d) = depths.get_mut(child as usize) {
                        *d = depth;
                        deepest = deepest.max(depth);
                    }
                }
            }
        }
        deepest
    }

    /// The value of scalar leaf `leaf` for `row`, with linear leaves evaluated.
    #[inline]
    pub fn leaf_value(&self, leaf: u32, leaf_width: usize, row: impl Fn(usize) -> f64) -> f64 {
        let plain = self.leaf_values[leaf as usize * leaf_width];
        let Some(linear) = &self.linear else {
            return plain;
        };
        let leaf = leaf as usize;
        let range = linear.offsets[leaf] as usize..linear.offsets[leaf + 1] as usize;
        let mut value = linear.constants[leaf];
        for (&feature, &coefficient) in linear.features[range.clone()]
            .iter()
            .zip(&linear.coefficients[range])
        {
            let x = row(feature as usize);
            if x.is_nan() {
                return plain;
            }
            value += coefficient * x;
        }
        value
    }
}

/// One step of a walk down a [`Tree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The split sends the row to this node.
    Child(u32),
    /// The walk ends at this leaf.
    Leaf(u32),
}

/// Whether `x` goes left at a categorical split whose set is `words`: `NaN` to the default
/// child, members to the set's side, every other value to the other. The one rule of the
/// reference evaluator and the compiled engine.
#[inline]
pub(crate) fn category_goes_left(
    rule: SplitRule,
    words: &[u32],
    set_goes_left: bool,
    default_left: bool,
    x: f64,
) -> bool {
    if x.is_nan() {
        default_left
    } else {
        category_in_set(words, rule.category_value(x)) == set_goes_left
    }
}

/// True when the category code of `x` (not `NaN`) is in the bitset.
#[inline]
fn category_in_set(words: &[u32], x: f64) -> bool {
    // Truncation toward zero, as both XGBoost and LightGBM cast; out-of-range and negative
    // codes are simply not members.
    if !(0.0..(words.len() * 32) as f64).contains(&x) {
        return false;
    }
    let code = x as usize;
    words[code / 32] >> (code % 32) & 1 == 1
}

/// How the trees' outputs combine.
///
/// In both cases the raw margins ([`Output::Raw`](crate::Output::Raw)) are the base score
/// plus the sum of the trees, in tree order. Averaging happens only on the way to a
/// prediction, between the sum and the link: LightGBM's `average_output` (random forests)
/// returns the plain sum for `raw_score=True` and divides only in `predict`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Predictions are the link of the sum.
    Sum,
    /// Predictions are the link of the sum divided by `divisor`: random forests.
    Average {
        /// The number of trees per output (scikit-learn) or of iterations (LightGBM).
        divisor: f64,
    },
}

impl Aggregation {
    /// Turns one row's summed margins into the margins the link takes, in place.
    #[inline]
    pub fn finish(self, precision: Precision, margins: &mut [f64]) {
        let Aggregation::Average { divisor } = self else {
            return;
        };
        match precision {
            Precision::Double => margins.iter_mut().for_each(|m| *m /= divisor),
            Precision::Single => margins
                .iter_mut()
                .for_each(|m| *m = f64::from(*m as f32 / divisor as f32)),
        }
    }
}

/// A tree ensemble: gradient-boosted trees, random forests, single decision trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeEnsemble {
    /// The number of input features.
    pub num_features: usize,
    /// How numeric splits compare.
    pub split_rule: SplitRule,
    /// The arithmetic of accumulation and link.
    pub precision: Precision,
    /// The number of values per leaf: 1 for boosted trees, the number of classes for a
    /// random-forest classifier.
    pub leaf_width: usize,
    /// The starting margin of each raw output.
    pub base_score: Vec<f64>,
    /// How tree outputs combine.
    pub aggregation: Aggregation,
    /// From margins to predictions.
    pub link: Link,
    /// The trees, in the order their outputs are summed.
    pub trees: Vec<Tree>,
}

/// Limits that keep a hostile file from exhausting memory or time.
pub mod limits {
    /// The most nodes in one tree.
    pub const MAX_NODES_PER_TREE: usize = 1 << 24;
    /// The most nodes in one ensemble.
    pub const MAX_NODES: usize = 1 << 28;
    /// The deepest a tree may be.
    pub const MAX_DEPTH: usize = 4096;
    /// The most words in one tree's category bitsets (2^24 categories).
    pub const MAX_CATEGORY_WORDS: usize = 1 << 19;
}

impl TreeEnsemble {
    /// The number of raw outputs.
    pub fn raw_width(&self) -> usize {
        self.base_score.len()
    }

    /// Writes the raw margins of `row` into `raw` (whose length is
    /// [`raw_width`](Self::raw_width)): the base score plus the sum of the trees, before any
    /// [`Aggregation`] averaging.
    pub(crate) fn raw_row(&self, row: impl Fn(usize) -> f64 + Copy, raw: &mut [f64]) {
        if self.split_rule == SplitRule::LightGbm {
            let rule = self.split_rule;
            self.sum_trees(move |f| rule.read(row(f)), raw);
        } else {
            self.sum_trees(row, raw);
        }
    }

    fn sum_trees(&self, row: impl Fn(usize) -> f64 + Copy, raw: &mut [f64]) {
        match self.precision {
            Precision::Double => {
                raw.copy_from_slice(&self.base_score);
                for tree in &self.trees {
                    let leaf = tree.leaf_for(self.split_rule, row);
                    let out = tree.output as usize;
                    if self.leaf_width == 1 {
                        raw[out] += tree.leaf_value(leaf, 1, row);
                    } else {
                        let values = &tree.leaf_values[leaf as usize * self.leaf_width
                            ..(leaf as usize + 1) * self.leaf_width];
                        for (r, v) in raw[out..out + self.leaf_width].iter_mut().zip(values) {
                            *r += v;
                        }
                    }
                }
            }
            Precision::Single => {
                // Accumulate in f32, in tree order, exactly as XGBoost does.
                for (r, &b) in raw.iter_mut().zip(&self.base_score) {
                    *r = f64::from(b as f32);
                }
                for tree in &self.trees {
                    let leaf = tree.leaf_for(self.split_rule, row);
                    let out = tree.output as usize;
                    for k in 0..self.leaf_width {
                        let value = if self.leaf_width == 1 {
                            tree.leaf_value(leaf, 1, row)
                        } else {
                            tree.leaf_values[leaf as usize * self.leaf_width + k]
                        };
                        raw[out + k] = f64::from(raw[out + k] as f32 + value as f32);
                    }
                }
            }
        }
    }

    /// Checks every index, size and bound, so that prediction cannot go out of range or loop.
    pub fn validate(&self) -> Result<(), InvalidModel> {
        let raw_width = self.raw_width();
        if self.leaf_width == 0 {
            return Err(InvalidModel::BadValue {
                what: "leaf width".into(),
                requirement: "at least 1",
                value: 0.0,
            });
        }
        if let Aggregation::Average { divisor } = self.aggregation
            && !(divisor.is_finite() && divisor > 0.0)
        {
            return Err(InvalidModel::BadValue {
                what: "the averaging divisor".into(),
                requirement: "finite and positive",
                value: divisor,
            });
        }
        let mut total_nodes = 0usize;
        for (t, tree) in self.trees.iter().enumerate() {
            total_nodes += tree.nodes.len();
            if total_nodes > limits::MAX_NODES {
                return Err(InvalidModel::TooLarge {
                    what: "the number of nodes in the ensemble".into(),
                    found: total_nodes as u64,
                    limit: limits::MAX_NODES as u64,
                });
            }
            self.validate_tree(t, tree, raw_width)?;
        }
        Ok(())
    }

    fn validate_tree(&self, t: usize, tree: &Tree, raw_width: usize) -> Result<(), InvalidModel> {
        let nodes = tree.nodes.len();
        if nodes == 0 || nodes > limits::MAX_NODES_PER_TREE {
            return Err(InvalidModel::TooLarge {
                what: format!("the number of nodes in tree {t} (it must be at least 1, and)"),
                found: nodes as u64,
                limit: limits::MAX_NODES_PER_TREE as u64,
            });
        }
        if tree.category_words.len() > limits::MAX_CATEGORY_WORDS {
            return Err(InvalidModel::TooLarge {
                what: format!("the category bitset words of tree {t}"),
                found: tree.category_words.len() as u64,
                limit: limits::MAX_CATEGORY_WORDS as u64,
            });
        }
        if tree.output as usize + self.leaf_width > raw_width {
            return Err(InvalidModel::IndexOutOfRange {
                tree: t,
                node: 0,
                what: "output",
                index: u64::from(tree.output),
                len: raw_width,
            });
        }
        if !tree.leaf_values.len().is_multiple_of(self.leaf_width) {
            return Err(InvalidModel::Mismatch {
                what: format!("tree {t}: leaf values must be a multiple of the leaf width"),
                expected: self.leaf_width,
                found: tree.leaf_values.len(),
            });
        }
        let leaves = tree.leaf_values.len() / self.leaf_width;
        // depth[i] is the depth of node i; 0 marks "not reached yet". Every node except the
        // root must be reached exactly once, from an earlier node.
        let mut depth = vec![0u32; nodes];
        depth[0] = 1;
        for (n, node) in tree.nodes.iter().enumerate() {
            if depth[n] == 0 {
                return Err(InvalidModel::NotATree { tree: t, node: n });
            }
            let (feature, left, right) = match node {
                Node::Leaf { leaf } => {
                    if *leaf as usize >= leaves {
                        return Err(InvalidModel::IndexOutOfRange {
                            tree: t,
                            node: n,
                            what: "leaf",
                            index: u64::from(*leaf),
                            len: leaves,
                        });
                    }
                    continue;
                }
                Node::Numeric {
                    feature,
                    left,
                    right,
                    ..
                } => (*feature, *left, *right),
                Node::Categorical {
                    feature,
                    words_start,
                    words_len,
                    left,
                    right,
                    ..
                } => {
                    let end = u64::from(*words_start) + u64::from(*words_len);
                    if end > tree.category_words.len() as u64 {
                        return Err(InvalidModel::IndexOutOfRange {
                            tree: t,
                            node: n,
                            what: "category bitset end",
                            index: end,
                            len: tree.category_words.len(),
                        });
                    }
                    (*feature, *left, *right)
                }
            };
            if feature as usize >= self.num_features {
                return Err(InvalidModel::FeatureOutOfRange {
                    tree: t,
                    node: n,
                    feature,
                    features: self.num_features,
                });
            }
            for child in [left, right] {
                let c = child as usize;
                if c <= n || c >= nodes {
                    return Err(InvalidModel::BadChild {
                        tree: t,
                        node: n,
                        child,
                        nodes,
                    });
                }
                if depth[c] != 0 || left == right {
                    return Err(InvalidModel::NotATree { tree: t, node: c });
                }
                depth[c] = depth[n] + 1;
                if depth[c] as usize > limits::MAX_DEPTH {
                    return Err(InvalidModel::TooLarge {
                        what: format!("the depth of tree {t}"),
                        found: u64::from(depth[c]),
                        limit: limits::MAX_DEPTH as u64,
                    });
                }
            }
        }
        if let Some(linear) = &tree.linear {
            self.validate_linear(t, linear, leaves)?;
        }
        if !tree.cover.is_empty() && tree.cover.len() != nodes {
            return Err(InvalidModel::Mismatch {
                what: format!("tree {t}: node covers (one per node, or none)"),
                expected: nodes,
                found: tree.cover.len(),
            });
        }
        if let Some(&cover) = tree.cover.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
            return Err(InvalidModel::BadValue {
                what: format!("a node cover of tree {t}"),
                requirement: "finite and not negative",
                value: cover,
            });
        }
        Ok(())
    }

    fn validate_linear(
        &self,
        t: usize,
        linear: &LinearLeaves,
        leaves: usize,
    ) -> Result<(), InvalidModel> {
        if self.leaf_width != 1 {
            return Err(InvalidModel::Mismatch {
                what: format!("tree {t}: linear leaves need a leaf width of"),
                expected: 1,
                found: self.leaf_width,
            });
        }
        if linear.constants.len() != leaves || linear.offsets.len() != leaves + 1 {
            return Err(InvalidModel::Mismatch {
                what: format!("tree {t}: linear leaf constants and offsets per leaf"),
                expected: leaves,
                found: linear.constants.len(),
            });
        }
        if linear.features.len() != linear.coefficients.len() {
            return Err(InvalidModel::Mismatch {
                what: format!("tree {t}: linear leaf coefficients (one per feature)"),
                expected: linear.features.len(),
                found: linear.coefficients.len(),
            });
        }
        let mut previous = 0u32;
        for &offset in &linear.offsets {
            if offset < previous || offset as usize > linear.features.len() {
                return Err(InvalidModel::IndexOutOfRange {
                    tree: t,
                    node: 0,
                    what: "linear leaf offset",
                    index: u64::from(offset),
                    len: linear.features.len(),
                });
            }
            previous = offset;
        }
        if let Some(&feature) = linear
            .features
            .iter()
            .find(|&&f| f as usize >= self.num_features)
        {
            return Err(InvalidModel::FeatureOutOfRange {
                tree: t,
                node: 0,
                feature,
                features: self.num_features,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump(threshold: f64, missing: Missing, default_left: bool) -> Tree {
        Tree {
            output: 0,
            nodes: vec![
                Node::Numeric {
                    feature: 0,
                    threshold,
                    missing,
                    default_left,
                    left: 1,
                    right: 2,
                },
                Node::Leaf { leaf: 0 },
                Node::Leaf { leaf: 1 },
            ],
            leaf_values: vec![-1.0, 1.0],
            category_words: vec![],
            linear: None,
            cover: Vec::new(),
        }
    }

    #[test]
    fn xgboost_compares_in_f32_with_strict_less_than() {
        let t = 0.1f32 as f64;
        let tree = stump(t, Missing::Nan, true);
        let leaf = |x: f64| tree.leaf_for(SplitRule::LessThanF32, |_| x);
        // Exactly at the threshold goes right.
        assert_eq!(leaf(t), 1);
        // Just below the threshold in f64, so an f64 comparison would go left, but it rounds
        // to the threshold in f32: XGBoost sends it right.
        let below = f64::from_bits(t.to_bits() - 1);
        assert!(below < t && below as f32 == t as f32);
        assert_eq!(leaf(below), 1);
        // Just below the threshold in f32 goes left.
        assert_eq!(leaf(f64::from(f32::from_bits((t as f32).to_bits() - 1))), 0);
    }

    #[test]
    fn lightgbm_compares_in_f64_with_less_equal() {
        let t = 0.1;
        let tree = stump(t, Missing::Nan, false);
        let leaf = |x: f64| tree.leaf_for(SplitRule::LessEqualF64, |_| x);
        assert_eq!(leaf(t), 0);
        assert_eq!(leaf(f64::from_bits(t.to_bits() + 1)), 1);
    }

    #[test]
    fn sklearn_casts_the_input_to_f32_but_not_the_threshold() {
        let t = 0.1;
        let tree = stump(t, Missing::Nan, false);
        let leaf = |x: f64| tree.leaf_for(SplitRule::LessEqualF32Input, |_| x);
        // 0.1f32 is above 0.1f64, so 0.1 goes right once cast.
        assert!(f64::from(0.1f32) > 0.1);
        assert_eq!(leaf(0.1), 1);
        assert_eq!(leaf(0.09), 0);
    }

    #[test]
    fn nan_takes_default_child() {
        for default_left in [true, false] {
            let tree = stump(0.5, Missing::Nan, default_left);
            let leaf = tree.leaf_for(SplitRule::LessEqualF64, |_| f64::NAN);
            assert_eq!(leaf, if default_left { 0 } else { 1 });
        }
    }

    #[test]
    fn missing_type_none_treats_nan_as_zero() {
        let tree = stump(-0.5, Missing::AsZero, true);
        // 0 > -0.5 goes right, whatever the default direction says.
        assert_eq!(tree.leaf_for(SplitRule::LessEqualF64, |_| f64::NAN), 1);
    }

    #[test]
    fn missing_type_zero_sends_tiny_values_and_nan_to_default() {
        let tree = stump(-0.5, Missing::Zero, true);
        let leaf = |x: f64| tree.leaf_for(SplitRule::LessEqualF64, |_| x);
        assert_eq!(leaf(f64::NAN), 0);
        assert_eq!(leaf(0.0), 0);
        assert_eq!(leaf(1e-36), 0);
        assert_eq!(leaf(-1e-36), 0);
        assert_eq!(leaf(1e-34), 1);
    }

    #[test]
    fn categorical_membership_truncates_and_rejects_negative_codes() {
        let tree = Tree {
            output: 0,
            nodes: vec![
                Node::Categorical {
                    feature: 0,
                    words_start: 0,
                    words_len: 2,
                    set_goes_left: true,
                    default_left: false,
                    left: 1,
                    right: 2,
                },
                Node::Leaf { leaf: 0 },
                Node::Leaf { leaf: 1 },
            ],
            leaf_values: vec![0.0, 1.0],
            category_words: vec![0b1010, 1 << 3],
            linear: None,
            cover: Vec::new(),
        };
        let leaf = |x: f64| tree.leaf_for(SplitRule::LessEqualF64, |_| x);
        assert_eq!(leaf(1.0), 0);
        assert_eq!(leaf(3.7), 0);
        assert_eq!(leaf(35.0), 0);
        assert_eq!(leaf(2.0), 1);
        assert_eq!(leaf(-1.0), 1);
        assert_eq!(leaf(64.0), 1);
        assert_eq!(leaf(f64::INFINITY), 1);
        assert_eq!(leaf(f64::NAN), 1);
    }

    #[test]
    fn xgboost_takes_category_codes_from_the_f32_input() {
        let tree = Tree {
            output: 0,
            nodes: vec![
                Node::Categorical {
                    feature: 0,
                    words_start: 0,
                    words_len: 1,
                    set_goes_left: false,
                    default_left: true,
                    left: 1,
                    right: 2,
                },
                Node::Leaf { leaf: 0 },
                Node::Leaf { leaf: 1 },
            ],
            leaf_values: vec![0.0, 1.0],
            category_words: vec![0b10],
            linear: None,
            cover: Vec::new(),
        };
        let almost_one = 0.999_999_999_9;
        assert_eq!(almost_one as f32, 1.0);
        assert_eq!(tree.leaf_for(SplitRule::LessThanF32, |_| almost_one), 1);
        assert_eq!(tree.leaf_for(SplitRule::LessEqualF64, |_| almost_one), 0);
        assert_eq!(tree.leaf_for(SplitRule::LessThanF32, |_| 1.0), 1);
        assert_eq!(tree.leaf_for(SplitRule::LessThanF32, |_| f64::NAN), 0);
    }

    #[test]
    fn linear_leaf_falls_back_when_a_feature_is_missing() {
        let mut tree = stump(0.0, Missing::Nan, true);
        tree.linear = Some(LinearLeaves {
            constants: vec![10.0, 20.0],
            offsets: vec![0, 1, 1],
            features: vec![1],
            coefficients: vec![2.0],
        });
        let row = [-1.0, 3.0];
        assert_eq!(tree.leaf_value(0, 1, |f| row[f]), 16.0);
        let row = [-1.0, f64::NAN];
        assert_eq!(tree.leaf_value(0, 1, |f| row[f]), -1.0);
    }

    fn ensemble(split_rule: SplitRule, aggregation: Aggregation, trees: Vec<Tree>) -> TreeEnsemble {
        TreeEnsemble {
            num_features: 2,
            split_rule,
            precision: Precision::Double,
            leaf_width: 1,
            base_score: vec![0.0],
            aggregation,
            link: Link::Identity,
            trees,
        }
    }

    fn raw(ensemble: &TreeEnsemble, row: [f64; 2]) -> f64 {
        let mut raw = [0.0];
        ensemble.raw_row(|f| row[f], &mut raw);
        raw[0]
    }

    #[test]
    fn lightgbm_reads_tiny_inputs_as_zero() {
        let k = ZERO_THRESHOLD;
        let tree = stump(-k, Missing::Nan, true);
        let plain = ensemble(
            SplitRule::LessEqualF64,
            Aggregation::Sum,
            vec![tree.clone()],
        );
        let snapped = ensemble(SplitRule::LightGbm, Aggregation::Sum, vec![tree]);
        // -kZero <= -kZero, but LightGBM reads -kZero as 0.0, which is above the threshold.
        assert_eq!(raw(&plain, [-k, 0.0]), -1.0);
        assert_eq!(raw(&snapped, [-k, 0.0]), 1.0);
        // Just past kZero is a real value in both.
        let below = f64::from_bits(k.to_bits() + 1);
        assert_eq!(raw(&snapped, [-below, 0.0]), -1.0);
        // NaN is not snapped: it still takes the default child.
        assert_eq!(raw(&snapped, [f64::NAN, 0.0]), -1.0);
        assert_eq!(SplitRule::LightGbm.read(-0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(SplitRule::LessEqualF64.read(1e-36), 1e-36);
    }

    #[test]
    fn linear_leaves_see_the_snapped_input() {
        let mut tree = stump(10.0, Missing::Nan, true);
        tree.linear = Some(LinearLeaves {
            constants: vec![1.0, 2.0],
            offsets: vec![0, 1, 1],
            features: vec![1],
            coefficients: vec![1e30],
        });
        let plain = ensemble(
            SplitRule::LessEqualF64,
            Aggregation::Sum,
            vec![tree.clone()],
        );
        let snapped = ensemble(SplitRule::LightGbm, Aggregation::Sum, vec![tree]);
        assert_eq!(raw(&plain, [0.0, 1e-36]), 1.0 + 1e-6);
        assert_eq!(raw(&snapped, [0.0, 1e-36]), 1.0);
    }

    #[test]
    fn averaging_happens_after_the_raw_sum() {
        let trees = vec![
            stump(0.0, Missing::Nan, true),
            stump(5.0, Missing::Nan, true),
        ];
        let forest = ensemble(
            SplitRule::LessEqualF64,
            Aggregation::Average { divisor: 2.0 },
            trees,
        );
        // Right of the first stump (+1), left of the second (-1), then two lefts.
        assert_eq!(raw(&forest, [1.0, 0.0]), 0.0);
        let sum = raw(&forest, [-1.0, 0.0]);
        assert_eq!(sum, -2.0);
        let mut margins = [sum];
        forest.aggregation.finish(forest.precision, &mut margins);
        assert_eq!(margins, [-1.0]);
        let mut margins = [3.0];
        Aggregation::Sum.finish(Precision::Double, &mut margins);
        assert_eq!(margins, [3.0]);
    }

    #[test]
    fn lightgbm_truncates_categories_before_the_sign_check() {
        let tree = Tree {
            output: 0,
            nodes: vec![
                Node::Categorical {
                    feature: 0,
                    words_start: 0,
                    words_len: 1,
                    set_goes_left: true,
                    default_left: false,
                    left: 1,
                    right: 2,
                },
                Node::Leaf { leaf: 0 },
                Node::Leaf { leaf: 1 },
            ],
            leaf_values: vec![0.0, 1.0],
            category_words: vec![0b1],
            linear: None,
            cover: Vec::new(),
        };
        let leaf = |rule: SplitRule, x: f64| tree.leaf_for(rule, |_| x);
        // (int)-0.5 is 0, a member.
        assert_eq!(leaf(SplitRule::LightGbm, -0.5), 0);
        assert_eq!(leaf(SplitRule::LessEqualF64, -0.5), 1);
        assert_eq!(leaf(SplitRule::LightGbm, -1.0), 1);
        assert_eq!(leaf(SplitRule::LightGbm, 0.999), 0);
        assert_eq!(leaf(SplitRule::LightGbm, f64::NAN), 1);
    }
}
