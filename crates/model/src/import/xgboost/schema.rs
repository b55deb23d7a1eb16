//! An exact serde mirror of the model XGBoost writes with `Booster.save_model` (JSON or
//! UBJSON), from 2.0 to 3.4, holding every field that prediction depends on.
//!
//! The types follow the file, not Verdict: numbers XGBoost stores as strings (`"15"`,
//! `"[5E-1]"`) stay strings here and are parsed, with their JSON path in any error, by
//! [`convert`](super::convert). Fields that only describe training (`loss_changes`,
//! `parents`, the training configuration) are not read; `sum_hessian` is, as the node covers
//! that explanations need. Unknown fields are ignored so that newer files still load.
//!
//! Two facts of XGBoost's writer shape the float fields:
//! - its JSON writer emits bare `NaN`, `Infinity` and `-Infinity` tokens (2.x writes `NaN` as
//!   the threshold of every categorical split), which are not JSON: [`from_json`] quotes them
//!   before parsing, and every float field accepts those three strings;
//! - every float it stores is an `f32`: UBJSON holds the bits, JSON the shortest decimal that
//!   round-trips, which is parsed to the nearest `f64` and then rounded to `f32`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::import::json::Float;

/// The whole file.
#[derive(Debug, Deserialize)]
pub(crate) struct Model {
    /// `[major, minor, patch]` of the XGBoost that wrote the file.
    #[serde(default)]
    pub(crate) version: Vec<i64>,
    /// The model itself.
    pub(crate) learner: Learner,
}

/// `learner`.
#[derive(Debug, Deserialize)]
pub(crate) struct Learner {
    /// User attributes: `best_iteration`, `best_score`, `scikit_learn`.
    #[serde(default)]
    pub(crate) attributes: BTreeMap<String, String>,
    /// The training columns' names; empty when trained from an array.
    #[serde(default)]
    pub(crate) feature_names: Vec<String>,
    /// `float`, `int`, `i` (indicator), `q` (quantitative) or `c` (categorical); may be empty.
    #[serde(default)]
    pub(crate) feature_types: Vec<String>,
    /// The booster and its trees or weights.
    pub(crate) gradient_booster: GradientBooster,
    /// The training objective, which fixes the output transform.
    pub(crate) objective: Objective,
    /// Global parameters.
    pub(crate) learner_model_param: LearnerModelParam,
}

/// `learner.learner_model_param`: every value is a decimal string. `boost_from_average` is not
/// read: it says whether training estimated `base_score`, whose value is stored either way.
#[derive(Debug, Deserialize)]
pub(crate) struct LearnerModelParam {
    /// The intercept on the probability scale: `"5E-1"` (up to 3.0) or `"[5E-1,...]"` (3.1+).
    pub(crate) base_score: Option<String>,
    /// The number of classes; `"0"` for every non-multiclass objective.
    pub(crate) num_class: Option<String>,
    /// The number of input features.
    pub(crate) num_feature: Option<String>,
    /// The number of targets (multi-output regression, one per quantile).
    pub(crate) num_target: Option<String>,
}

/// `learner.objective`.
#[derive(Debug, Deserialize)]
pub(crate) struct Objective {
    /// `reg:squarederror`, `binary:logistic`, ...
    pub(crate) name: String,
    /// The quantiles of `reg:quantileerror`.
    pub(crate) quantile_loss_param: Option<QuantileLossParam>,
}

/// `objective.quantile_loss_param`.
#[derive(Debug, Deserialize)]
pub(crate) struct QuantileLossParam {
    /// The quantiles, as a string: `"[1E-1,5E-1,9E-1]"` (or a single number).
    pub(crate) quantile_alpha: String,
}

/// `learner.gradient_booster`, in any of its layouts:
///
/// - gbtree: `{"name": "gbtree", "model": {...}}`;
/// - DART up to 3.2: `{"name": "dart", "gbtree": {"name": "gbtree", "model": {...}},
///   "weight_drop": [...]}`;
/// - DART in 3.3, which writes `gbtree`: `{"name": "gbtree", "model": {...}, "weight_drop":
///   [...]}`;
/// - DART in 3.4: `weight_drop` inside `model`;
/// - gblinear: `{"name": "gblinear", "model": {"weights": [...]}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct GradientBooster {
    /// `gbtree`, `dart` or `gblinear`.
    pub(crate) name: String,
    /// The trees or weights.
    pub(crate) model: Option<BoosterModel>,
    /// The wrapped gbtree of a DART booster written by XGBoost up to 3.2.
    pub(crate) gbtree: Option<Box<GradientBooster>>,
    /// DART's tree weights, beside `model` (up to 3.3).
    #[serde(default, deserialize_with = "optional_floats")]
    pub(crate) weight_drop: Option<Vec<f32>>,
}

/// `gradient_booster.model`: the fields of gbtree's model and of gblinear's, which the booster's
/// `name` tells apart.
#[derive(Debug, Deserialize)]
pub(crate) struct BoosterModel {
    /// gbtree: `num_trees` and `num_parallel_tree`.
    pub(crate) gbtree_model_param: Option<GbTreeModelParam>,
    /// gbtree: the trees, in the order their outputs are summed.
    #[serde(default)]
    pub(crate) trees: Vec<Tree>,
    /// gbtree: the output (class, target) each tree adds to.
    #[serde(default)]
    pub(crate) tree_info: Vec<i64>,
    /// gbtree: where each boosting iteration's trees start, with one more entry at the end.
    pub(crate) iteration_indptr: Option<Vec<i64>>,
    /// gbtree (3.1+): the categories seen in training.
    pub(crate) cats: Option<Cats>,
    /// DART's tree weights, inside `model` (3.4+).
    #[serde(default, deserialize_with = "optional_floats")]
    pub(crate) weight_drop: Option<Vec<f32>>,
    /// gblinear: `(num_feature + 1) x num_output` weights; the last row holds the biases.
    #[serde(default, deserialize_with = "optional_floats")]
    pub(crate) weights: Option<Vec<f32>>,
}

/// `model.gbtree_model_param`.
#[derive(Debug, Deserialize)]
pub(crate) struct GbTreeModelParam {
    /// The number of trees, as a string.
    pub(crate) num_trees: Option<String>,
    /// Trees per output per iteration (random forests), as a string.
    pub(crate) num_parallel_tree: Option<String>,
}

/// One tree: parallel arrays indexed by node id. Node 0 is the root; a node is a leaf when its
/// left child is `-1`. Deleted nodes may remain in the arrays, unreachable from the root.
#[derive(Debug, Deserialize)]
pub(crate) struct Tree {
    /// `num_nodes` and `size_leaf_vector`, as strings.
    pub(crate) tree_param: TreeParam,
    /// The left child of each node, `-1` at a leaf.
    pub(crate) left_children: Vec<i32>,
    /// The right child of each node; at a leaf, `-1`, or the leaf's index into
    /// `leaf_weights` for trees with vector leaves (3.2+).
    pub(crate) right_children: Vec<i32>,
    /// The feature each split tests.
    pub(crate) split_indices: Vec<i64>,
    /// The threshold of a numeric split, or the value of a leaf.
    #[serde(deserialize_with = "floats")]
    pub(crate) split_conditions: Vec<f32>,
    /// Where a missing value goes (0 or 1; some writers use booleans).
    #[serde(deserialize_with = "flags")]
    pub(crate) default_left: Vec<bool>,
    /// 0 for a numeric split, 1 for a categorical one; absent before categorical support.
    #[serde(default)]
    pub(crate) split_type: Vec<u8>,
    /// The categorical split nodes, in order.
    #[serde(default)]
    pub(crate) categories_nodes: Vec<i64>,
    /// Where each categorical node's categories start in `categories`.
    #[serde(default)]
    pub(crate) categories_segments: Vec<i64>,
    /// How many categories each categorical node has.
    #[serde(default)]
    pub(crate) categories_sizes: Vec<i64>,
    /// The categories of all categorical nodes, concatenated; a node's categories go right.
    #[serde(default)]
    pub(crate) categories: Vec<i64>,
    /// The weight of every node, `size_leaf_vector` values per node for vector-leaf trees.
    #[serde(default, deserialize_with = "floats")]
    pub(crate) base_weights: Vec<f32>,
    /// The leaf values of vector-leaf trees (3.2+), `size_leaf_vector` per leaf.
    #[serde(default, deserialize_with = "optional_floats")]
    pub(crate) leaf_weights: Option<Vec<f32>>,
    /// The sum of the training hessians that reached each node: its cover, for TreeSHAP.
    #[serde(default, deserialize_with = "optional_floats")]
    pub(crate) sum_hessian: Option<Vec<f32>>,
}

/// `tree.tree_param`.
#[derive(Debug, Deserialize)]
pub(crate) struct TreeParam {
    /// The length of the node arrays, as a string.
    pub(crate) num_nodes: String,
    /// The number of values per leaf (1, or the number of targets), as a string.
    pub(crate) size_leaf_vector: Option<String>,
}

/// `model.cats` (3.1+): the categories of each feature, as seen in training.
#[derive(Debug, Deserialize)]
pub(crate) struct Cats {
    /// One entry per feature; numeric features have an empty one.
    #[serde(default)]
    pub(crate) enc: Vec<CatColumn>,
}

/// One feature's categories: strings as UTF-8 bytes cut by `offsets`, or numbers.
#[derive(Debug, Deserialize)]
pub(crate) struct CatColumn {
    /// For string categories: `n + 1` offsets into `values`.
    pub(crate) offsets: Option<Vec<i64>>,
    /// The bytes of string categories (as signed bytes), or numeric categories.
    #[serde(default)]
    pub(crate) values: Vec<serde_json::Number>,
}

/// Reads a JSON model, accepting the non-finite numbers XGBoost writes.
pub(crate) fn from_json(bytes: &[u8]) -> serde_json::Result<Model> {
    serde_json::from_slice(&quote_non_finite(bytes))
}

/// Reads a UBJSON model.
pub(crate) fn from_ubjson(bytes: &[u8]) -> Result<Model, super::ubjson::Error> {
    super::ubjson::from_slice(bytes)
}

/// The non-finite tokens XGBoost's JSON writer emits, outside strings.
const NON_FINITE: [&[u8]; 3] = [b"NaN", b"-Infinity", b"Infinity"];

/// `bytes` with every bare `NaN`, `Infinity` and `-Infinity` token put in quotes, so that a
/// JSON parser reads them as strings; borrowed when there are none.
fn quote_non_finite(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(token) = NON_FINITE.iter().find(|t| bytes[i..].starts_with(t)) {
            let out = out.get_or_insert_with(|| Vec::with_capacity(bytes.len() + 64));
            out.extend_from_slice(&bytes[copied..i]);
            out.push(b'"');
            out.extend_from_slice(token);
            out.push(b'"');
            i += token.len();
            copied = i;
            continue;
        }
        i += 1;
    }
    match out {
        Some(mut out) => {
            out.extend_from_slice(&bytes[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(bytes),
    }
}

/// A list of [`Float`]s.
fn floats<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
    struct FloatsVisitor;

    impl<'de> Visitor<'de> for FloatsVisitor {
        type Value = Vec<f32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of numbers")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f32>, A::Error> {
            // The hint is bounded by the input length (UBJSON) but stay modest anyway.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(Float(x)) = seq.next_element()? {
                out.push(x as f32);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(FloatsVisitor)
}

/// An optional list of [`Float`]s; `null` is none.
fn optional_floats<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<f32>>, D::Error> {
    struct Floats(Vec<f32>);

    impl<'de> Deserialize<'de> for Floats {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            floats(deserializer).map(Floats)
        }
    }

    Ok(Option::<Floats>::deserialize(deserializer)?.map(|f| f.0))
}

/// A list of flags written as `0`/`1` or `false`/`true`.
fn flags<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<bool>, D::Error> {
    struct Flag(bool);

    impl<'de> Deserialize<'de> for Flag {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct FlagVisitor;

            impl Visitor<'_> for FlagVisitor {
                type Value = Flag;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("0, 1, false or true")
                }

                fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                    Ok(Flag(v))
                }

                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flag, E> {
                    match v {
                        0 | 1 => Ok(Flag(v == 1)),
                        _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                    }
                }

                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flag, E> {
                    match v {
                        0 | 1 => Ok(Flag(v == 1)),
                        _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                    }
                }
            }

            deserializer.deserialize_any(FlagVisitor)
        }
    }

    Vec::<Flag>::deserialize(deserializer).map(|flags| flags.into_iter().map(|f| f.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_tokens_are_quoted_outside_strings_only() {
        let text = br#"{"a":[NaN,-Infinity,Infinity,1],"NaN":"x NaN \" Infinity"}"#;
        let quoted = quote_non_finite(text);
        assert_eq!(
            std::str::from_utf8(&quoted).unwrap(),
            r#"{"a":["NaN","-Infinity","Infinity",1],"NaN":"x NaN \" Infinity"}"#
        );
        assert!(matches!(quote_non_finite(b"[1,2]"), Cow::Borrowed(_)));
    }

    #[test]
    fn floats_accept_numbers_and_non_finite_names() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "floats")]
            v: Vec<f32>,
        }
        let t: T =
            serde_json::from_slice(&quote_non_finite(br#"{"v":[1.5,NaN,-Infinity,2]}"#)).unwrap();
        assert_eq!(t.v[0], 1.5);
        assert!(t.v[1].is_nan());
        assert_eq!(t.v[2], f32::NEG_INFINITY);
        assert_eq!(t.v[3], 2.0);
        assert!(serde_json::from_slice::<T>(br#"{"v":["nope"]}"#).is_err());
    }
}
