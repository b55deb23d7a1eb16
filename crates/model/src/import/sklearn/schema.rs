//! The exact serde mirror of a `verdict-sklearn` export (format version 1), as specified in
//! `docs/formats/sklearn.md` and written by the Python package's `verdict.sklearn_export`.
//!
//! Nothing here interprets the model: the types only say what the JSON holds. Keys the
//! specification does not list are ignored, as it requires. Sizes, indices and the agreement
//! between fields are checked by the `convert` module, which knows where each value sits.
//!
//! An estimator object is dispatched on its `type` key. The exporter writes `type` first, so
//! the rest of the object is read straight into the right struct without buffering; a
//! document whose keys were reordered (for example by `json.dump(..., sort_keys=True)`) is
//! buffered first and read the same way.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};

pub(super) use crate::import::json::Float;
use crate::import::json::non_finite;

/// The fields read before anything else, to refuse another format or version with a clear
/// message rather than with whatever the first incompatible field would say.
#[derive(Debug, Deserialize)]
pub(super) struct Header {
    /// Always `verdict-sklearn`.
    pub format: Option<String>,
    /// `1`.
    pub format_version: Option<i64>,
}

/// A whole export.
#[derive(Debug, Deserialize)]
pub(super) struct Document {
    /// `sklearn.__version__` of the exporting Python (informational).
    pub sklearn_version: String,
    /// What each input column holds.
    pub input: Input,
    /// The task and the outputs the model has.
    pub output: OutputSpec,
    /// The model.
    pub estimator: Typed,
}

/// `input`: the columns of a row.
#[derive(Debug, Deserialize)]
pub(super) struct Input {
    pub n_features: i64,
    pub feature_names: Option<Vec<String>>,
    pub columns: Vec<InputColumn>,
}

/// `input.columns[]`.
#[derive(Debug, Deserialize)]
pub(super) struct InputColumn {
    pub name: Option<String>,
    /// `numeric`, `categorical` or `ignored`.
    pub kind: String,
    #[serde(default)]
    pub categories: Option<Vec<Value>>,
}

/// `output`.
#[derive(Debug, Deserialize)]
pub(super) struct OutputSpec {
    /// `classification` or `regression`.
    pub task: String,
}

/// A category, fill value or missing marker.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    /// `null`: missing.
    Missing,
    /// A number (booleans are read as `0` and `1`, which is how they compare in Python).
    Number(f64),
    /// A string: always a category name, never a spelled-out `NaN`.
    Text(String),
}

/// A class label, as `predict` returns it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Label {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

/// A tree's `value` entry: a regressor's number or a classifier's row of class fractions.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum NodeValue {
    Scalar(f64),
    Row(Vec<f64>),
}

/// `features[].unknown` of a `OneHotEncoder`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum OneHotUnknown {
    Error,
    Zeros,
    Column(i64),
}

/// `features[].unknown` of an `OrdinalEncoder`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum OrdinalUnknown {
    Error,
    Value(f64),
}

/// Any estimator object, by its `type`.
#[derive(Debug)]
pub(super) enum Estimator {
    Pipeline(Pipeline),
    ColumnTransformer(ColumnTransformer),
    StandardScaler(StandardScaler),
    MinMaxScaler(MinMaxScaler),
    SimpleImputer(SimpleImputer),
    OneHotEncoder(OneHotEncoder),
    OrdinalEncoder(OrdinalEncoder),
    /// `LinearRegression`, `Ridge`, `Lasso`, `ElasticNet`, `LinearSVR`.
    LinearRegressor(LinearRegressor),
    /// `LogisticRegression`, `LinearSVC`.
    LinearClassifier(LinearClassifier),
    OneVsRest(OneVsRest),
    /// `DecisionTreeClassifier` (with classes) or `DecisionTreeRegressor`.
    DecisionTree(DecisionTree),
    /// `RandomForest*`, `ExtraTrees*`.
    Forest(Forest),
    GradientBoosting(GradientBoosting),
    HistGradientBoosting(HistGradientBoosting),
    /// A `type` this importer does not know; refused by `convert` with its location.
    Unknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct Pipeline {
    pub n_features_in: Option<i64>,
    pub steps: Vec<PipelineStep>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PipelineStep {
    pub estimator: Typed,
}

#[derive(Debug, Deserialize)]
pub(super) struct ColumnTransformer {
    pub n_features_in: Option<i64>,
    pub transformers: Vec<Entry>,
    pub n_output_features: i64,
}

/// One `ColumnTransformer` entry.
#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    /// `transformer`, `passthrough` or `drop`.
    pub kind: String,
    pub columns: Vec<i64>,
    pub estimator: Option<Typed>,
    pub output_start: Option<i64>,
    pub output_width: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct StandardScaler {
    pub n_features_in: Option<i64>,
    pub with_mean: bool,
    pub with_std: bool,
    pub mean: Option<Vec<Float>>,
    pub scale: Option<Vec<Float>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct MinMaxScaler {
    pub n_features_in: Option<i64>,
    pub scale: Vec<Float>,
    pub min: Vec<Float>,
    pub clip: bool,
    pub feature_range: Vec<Float>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SimpleImputer {
    pub n_features_in: Option<i64>,
    pub missing_values: Value,
    pub statistics: Vec<Value>,
    pub output_columns: Vec<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OneHotEncoder {
    pub n_features_in: Option<i64>,
    pub n_output_features: i64,
    pub features: Vec<OneHotFeature>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OneHotFeature {
    pub categories: Vec<Value>,
    pub output_index: Vec<i64>,
    pub unknown: OneHotUnknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct OrdinalEncoder {
    pub n_features_in: Option<i64>,
    pub features: Vec<OrdinalFeature>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OrdinalFeature {
    pub categories: Vec<Value>,
    pub codes: Vec<Float>,
    pub unknown: OrdinalUnknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct LinearRegressor {
    pub n_features_in: Option<i64>,
    pub coef: Vec<Vec<Float>>,
    pub intercept: Vec<Float>,
    pub n_outputs: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct LinearClassifier {
    pub n_features_in: Option<i64>,
    pub classes: Vec<Label>,
    pub coef: Vec<Vec<Float>>,
    pub intercept: Vec<Float>,
    /// `sigmoid`, `softmax`, `ovr`, or null (no `predict_proba`).
    pub proba: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OneVsRest {
    pub n_features_in: Option<i64>,
    pub classes: Vec<Label>,
    pub estimators: Vec<OvrMember>,
    pub has_predict_proba: bool,
}

#[derive(Debug, Deserialize)]
pub(super) struct OvrMember {
    /// `decision_function` or `predict_proba`.
    pub score: String,
    pub estimator: Typed,
}

/// scikit-learn's `tree_` arrays.
#[derive(Debug, Deserialize)]
pub(super) struct Tree {
    pub node_count: i64,
    pub children_left: Vec<i64>,
    pub children_right: Vec<i64>,
    pub feature: Vec<i64>,
    pub threshold: Vec<Float>,
    pub missing_go_to_left: Vec<i64>,
    pub value: Vec<NodeValue>,
    /// The weighted training samples at each node, the covers of TreeSHAP; absent from
    /// exports written before explanations.
    #[serde(default)]
    pub weighted_n_node_samples: Option<Vec<Float>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DecisionTree {
    pub n_features_in: Option<i64>,
    pub classes: Option<Vec<Label>>,
    pub tree: Tree,
}

#[derive(Debug, Deserialize)]
pub(super) struct Forest {
    pub n_features_in: Option<i64>,
    pub classes: Option<Vec<Label>>,
    pub trees: Vec<Tree>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GradientBoosting {
    pub n_features_in: Option<i64>,
    pub classes: Option<Vec<Label>>,
    pub loss: String,
    pub learning_rate: Float,
    pub n_trees_per_iteration: i64,
    pub init_raw: Vec<Float>,
    pub trees: Vec<Vec<Tree>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct HistGradientBoosting {
    pub n_features_in: Option<i64>,
    pub classes: Option<Vec<Label>>,
    // `loss` is informational here: `link` says how raw scores become predictions.
    /// `logit`, `softmax`, `identity` or `log`.
    pub link: String,
    pub n_trees_per_iteration: i64,
    pub baseline_prediction: Vec<Float>,
    pub input_columns: Vec<HgbColumn>,
    pub feature_order: Vec<i64>,
    pub is_categorical: Vec<i64>,
    pub known_cat_bitsets: Vec<Vec<i64>>,
    pub f_idx_map: Vec<i64>,
    pub predictors: Vec<Vec<HgbTree>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct HgbColumn {
    /// `numeric` or `categorical`.
    pub kind: String,
    #[serde(default)]
    pub categories: Option<Vec<Value>>,
}

/// One of HistGradientBoosting's `_predictors`.
#[derive(Debug, Deserialize)]
pub(super) struct HgbTree {
    pub node_count: i64,
    pub value: Vec<Float>,
    pub feature_idx: Vec<i64>,
    pub num_threshold: Vec<Float>,
    pub missing_go_to_left: Vec<i64>,
    pub left: Vec<i64>,
    pub right: Vec<i64>,
    pub is_leaf: Vec<i64>,
    pub is_categorical: Vec<i64>,
    pub bitset_idx: Vec<i64>,
    pub raw_left_cat_bitsets: Vec<Vec<i64>>,
    /// The training samples at each node, the covers of TreeSHAP; absent from exports
    /// written before explanations.
    #[serde(default)]
    pub count: Option<Vec<Float>>,
}

impl Estimator {
    /// Reads the object whose `type` is `kind` from the rest of its keys.
    fn read<'de, D: Deserializer<'de>>(kind: &str, rest: D) -> Result<Estimator, D::Error> {
        Ok(match kind {
            "Pipeline" => Estimator::Pipeline(Deserialize::deserialize(rest)?),
            "ColumnTransformer" => Estimator::ColumnTransformer(Deserialize::deserialize(rest)?),
            "StandardScaler" => Estimator::StandardScaler(Deserialize::deserialize(rest)?),
            "MinMaxScaler" => Estimator::MinMaxScaler(Deserialize::deserialize(rest)?),
            "SimpleImputer" => Estimator::SimpleImputer(Deserialize::deserialize(rest)?),
            "OneHotEncoder" => Estimator::OneHotEncoder(Deserialize::deserialize(rest)?),
            "OrdinalEncoder" => Estimator::OrdinalEncoder(Deserialize::deserialize(rest)?),
            "LinearRegression" | "Ridge" | "Lasso" | "ElasticNet" | "LinearSVR" => {
                Estimator::LinearRegressor(Deserialize::deserialize(rest)?)
            }
            "LogisticRegression" | "LinearSVC" => {
                Estimator::LinearClassifier(Deserialize::deserialize(rest)?)
            }
            "OneVsRestClassifier" => Estimator::OneVsRest(Deserialize::deserialize(rest)?),
            "DecisionTreeClassifier" | "DecisionTreeRegressor" => {
                Estimator::DecisionTree(Deserialize::deserialize(rest)?)
            }
            "RandomForestClassifier"
            | "RandomForestRegressor"
            | "ExtraTreesClassifier"
            | "ExtraTreesRegressor" => Estimator::Forest(Deserialize::deserialize(rest)?),
            "GradientBoostingClassifier" | "GradientBoostingRegressor" => {
                Estimator::GradientBoosting(Deserialize::deserialize(rest)?)
            }
            "HistGradientBoostingClassifier" | "HistGradientBoostingRegressor" => {
                Estimator::HistGradientBoosting(Deserialize::deserialize(rest)?)
            }
            _ => {
                IgnoredAny::deserialize(rest)?;
                Estimator::Unknown
            }
        })
    }
}

/// An estimator object together with its `type`, which `convert` needs for messages and for
/// the classes that share a schema.
#[derive(Debug)]
pub(super) struct Typed {
    pub kind: String,
    pub estimator: Estimator,
}

impl<'de> Deserialize<'de> for Typed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TypedVisitor)
    }
}

struct TypedVisitor;

impl<'de> Visitor<'de> for TypedVisitor {
    type Value = Typed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an estimator object with a `type`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Typed, A::Error> {
        let first: Option<String> = map.next_key()?;
        if first.as_deref() == Some("type") {
            let kind: String = map.next_value()?;
            let estimator = Estimator::read(&kind, MapAccessDeserializer::new(map))?;
            return Ok(Typed { kind, estimator });
        }
        // `type` is not first: buffer the object, then read it the same way.
        let mut object = serde_json::Map::new();
        if let Some(key) = first {
            object.insert(key, map.next_value()?);
            while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                object.insert(key, value);
            }
        }
        let kind = match object.get("type") {
            Some(serde_json::Value::String(kind)) => kind.clone(),
            Some(_) => return Err(de::Error::custom("the estimator `type` must be a string")),
            None => return Err(de::Error::missing_field("type")),
        };
        let estimator =
            Estimator::read(&kind, serde_json::Value::Object(object)).map_err(de::Error::custom)?;
        Ok(Typed { kind, estimator })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl Visitor<'_> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Missing)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Missing)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Number(f64::from(u8::from(v))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value::Number(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelVisitor;
        impl Visitor<'_> for LabelVisitor {
            type Value = Label;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a class label: a string, number or boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Label, E> {
                Ok(Label::Bool(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Label, E> {
                Ok(Label::Float(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Label, E> {
                Ok(Label::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Label, E> {
                Ok(i64::try_from(v).map_or(Label::Float(v as f64), Label::Int))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Label, E> {
                Ok(Label::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(LabelVisitor)
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeValueVisitor;
        impl<'de> Visitor<'de> for NodeValueVisitor {
            type Value = NodeValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a leaf value (a number) or a row of class fractions")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
                Ok(NodeValue::Scalar(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
                Ok(NodeValue::Scalar(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
                Ok(NodeValue::Scalar(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
                non_finite(v)
                    .map(NodeValue::Scalar)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
                let mut row = Vec::new();
                while let Some(Float(v)) = seq.next_element()? {
                    row.push(v);
                }
                Ok(NodeValue::Row(row))
            }
        }
        deserializer.deserialize_any(NodeValueVisitor)
    }
}

impl<'de> Deserialize<'de> for OneHotUnknown {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneHotUnknownVisitor;
        impl Visitor<'_> for OneHotUnknownVisitor {
            type Value = OneHotUnknown;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"error\", \"zeros\" or an output column")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneHotUnknown, E> {
                Ok(OneHotUnknown::Column(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneHotUnknown, E> {
                i64::try_from(v)
                    .map(OneHotUnknown::Column)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneHotUnknown, E> {
                match v {
                    "error" => Ok(OneHotUnknown::Error),
                    "zeros" => Ok(OneHotUnknown::Zeros),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(OneHotUnknownVisitor)
    }
}

impl<'de> Deserialize<'de> for OrdinalUnknown {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrdinalUnknownVisitor;
        impl Visitor<'_> for OrdinalUnknownVisitor {
            type Value = OrdinalUnknown;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"error\" or a number (\"NaN\" allowed)")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OrdinalUnknown, E> {
                Ok(OrdinalUnknown::Value(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OrdinalUnknown, E> {
                Ok(OrdinalUnknown::Value(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OrdinalUnknown, E> {
                Ok(OrdinalUnknown::Value(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OrdinalUnknown, E> {
                if v == "error" {
                    return Ok(OrdinalUnknown::Error);
                }
                non_finite(v)
                    .map(OrdinalUnknown::Value)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(OrdinalUnknownVisitor)
    }
}
