//! The exact mirror of CatBoost's JSON export (`save_model(path, format="json")`), as far as
//! prediction needs it. Fields Verdict does not read (leaf weights, training options, the
//! version banner) are left to `serde`'s default of ignoring them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::import::json::Float;

/// The whole document.
#[derive(Debug, Deserialize)]
pub(super) struct Model {
    pub features_info: FeaturesInfo,
    #[serde(default)]
    pub model_info: ModelInfo,
    /// Symmetric trees (the default grow policy).
    pub oblivious_trees: Option<Vec<ObliviousTree>>,
    /// Non-symmetric trees (`Depthwise`, `Lossguide`).
    pub trees: Option<Vec<TreeNode>>,
    /// `[scale, [bias per output]]`.
    pub scale_and_bias: Option<(Float, Vec<Float>)>,
    /// The CTR tables, by the `identifier` of the CTRs that read them.
    pub ctr_data: Option<BTreeMap<String, CtrData>>,
}

/// `features_info`: every input feature by kind.
#[derive(Debug, Deserialize)]
pub(super) struct FeaturesInfo {
    #[serde(default)]
    pub float_features: Vec<FloatFeature>,
    #[serde(default)]
    pub categorical_features: Vec<NamedFeature>,
    #[serde(default)]
    pub text_features: Vec<NamedFeature>,
    #[serde(default)]
    pub embedding_features: Vec<NamedFeature>,
    /// The CTR columns: present only with categorical features.
    pub ctrs: Option<Vec<CtrFeature>>,
}

/// One numeric feature.
#[derive(Debug, Deserialize)]
pub(super) struct FloatFeature {
    #[serde(default)]
    pub feature_id: String,
    /// The index among float features, which splits refer to.
    pub feature_index: usize,
    /// The input column.
    pub flat_feature_index: usize,
    /// `AsIs`, `AsFalse` (`nan_mode=Min`) or `AsTrue` (`nan_mode=Max`).
    pub nan_value_treatment: String,
    /// The borders splits use, in order: the first binary features of `split_index`.
    #[serde(default)]
    pub borders: Vec<Float>,
}

/// A feature of another kind, for its name and column.
#[derive(Debug, Deserialize)]
pub(super) struct NamedFeature {
    #[serde(default)]
    pub feature_id: String,
    /// The index among features of its kind, which splits and CTRs refer to.
    pub feature_index: Option<usize>,
    pub flat_feature_index: usize,
    /// A categorical feature's one-hot values: category hashes as signed 32-bit integers.
    #[serde(default)]
    pub values: Vec<i64>,
}

/// One CTR column (`features_info.ctrs[i]`).
#[derive(Debug, Deserialize)]
pub(super) struct CtrFeature {
    /// The borders splits use, in order.
    #[serde(default)]
    pub borders: Vec<Float>,
    pub ctr_type: String,
    /// The combination whose values key the table.
    pub elements: Vec<CtrElement>,
    /// The key of its table in `ctr_data`.
    pub identifier: String,
    pub prior_numerator: Float,
    /// CatBoost's spelling.
    pub prior_denomerator: Float,
    pub shift: Float,
    pub scale: Float,
    #[serde(default)]
    pub target_border_idx: u32,
}

/// One element of a CTR's combination.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(super) struct CtrElement {
    /// `cat_feature_value`, `float_feature` or `cat_feature_exact_value`.
    pub combination_element: String,
    pub cat_feature_index: Option<usize>,
    pub float_feature_index: Option<usize>,
    pub border: Option<Float>,
    pub value: Option<i64>,
}

/// One CTR table (`ctr_data[identifier]`).
#[derive(Debug, Deserialize)]
pub(super) struct CtrData {
    pub counter_denominator: Option<Float>,
    /// Numbers per entry: the key, then the statistics.
    pub hash_stride: usize,
    /// Flat: for each entry its key (a decimal string) and `hash_stride - 1` statistics.
    pub hash_map: Vec<HashMapItem>,
}

/// A key (a decimal string, as JSON numbers cannot hold every `u64`) or a statistic.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum HashMapItem {
    Key(String),
    Number(Float),
}

/// `model_info`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ModelInfo {
    pub params: Option<Params>,
    pub class_params: Option<ClassParams>,
    /// A free-form banner whose `Branch: tags/v1.2.10` line gives the release.
    pub catboost_version_info: Option<String>,
}

impl ModelInfo {
    /// The CatBoost release that saved the model, when its banner names one.
    pub(super) fn catboost_version(&self) -> Option<&str> {
        self.catboost_version_info
            .as_deref()?
            .lines()
            .find_map(|line| line.trim().strip_prefix("Branch: tags/v"))
    }
}

/// `model_info.params`: the training options.
#[derive(Debug, Deserialize)]
pub(super) struct Params {
    pub loss_function: Option<LossFunction>,
    pub data_processing_options: Option<DataProcessing>,
}

/// `params.loss_function`.
#[derive(Debug, Deserialize)]
pub(super) struct LossFunction {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
}

/// `params.data_processing_options`.
#[derive(Debug, Deserialize)]
pub(super) struct DataProcessing {
    pub float_features_binarization: Option<Binarization>,
}

/// `data_processing_options.float_features_binarization`.
#[derive(Debug, Deserialize)]
pub(super) struct Binarization {
    pub nan_mode: Option<String>,
}

/// `model_info.class_params`: the class labels of a classifier.
#[derive(Debug, Deserialize)]
pub(super) struct ClassParams {
    #[serde(default)]
    pub class_label_type: String,
    #[serde(default)]
    pub class_names: Vec<Value>,
}

/// One symmetric tree: split `l` decides bit `l` of the leaf index.
#[derive(Debug, Deserialize)]
pub(super) struct ObliviousTree {
    pub leaf_values: Vec<Float>,
    #[serde(default)]
    pub splits: Vec<Split>,
}

/// One split: a value goes right (sets its bit) when it is above the border
/// (`FloatFeature`, `OnlineCtr`) or equal to the value (`OneHotFeature`).
#[derive(Debug, Deserialize)]
pub(super) struct Split {
    pub split_type: String,
    pub float_feature_index: Option<usize>,
    pub border: Option<Float>,
    /// A `OneHotFeature` split's categorical feature and hash.
    pub cat_feature_index: Option<usize>,
    pub value: Option<i64>,
    /// The binary feature: how an `OnlineCtr` split names its CTR.
    pub split_index: Option<usize>,
}

/// A node of a non-symmetric tree: a leaf with `value`, or a split with two children.
#[derive(Debug, Deserialize)]
pub(super) struct TreeNode {
    pub split: Option<Split>,
    pub left: Option<Box<TreeNode>>,
    pub right: Option<Box<TreeNode>>,
    pub value: Option<LeafValue>,
}

/// A leaf's value: one number, or one per output.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum LeafValue {
    Scalar(Float),
    Vector(Vec<Float>),
}
