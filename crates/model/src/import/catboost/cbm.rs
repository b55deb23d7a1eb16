//! The binary `.cbm` file that `save_model` writes by default, read into the same [`Model`]
//! as the JSON export, so both go through one conversion.
//!
//! The file is `CBM1`, the core's size (a little-endian `u32`; `0xFFFFFFFF` followed by a
//! `u64` for a core of 4 GiB or more), the core, then the model parts the core lists by name
//! (CTR tables, text processing). The core is a FlatBuffers `TModelCore` (CatBoost's schema,
//! `catboost/libs/model/flatbuffers/model.fbs`, `features.fbs` and `ctr_data.fbs`). Its trees
//! refer to splits by index into the model's *binary features*: every border of every float
//! feature in order, then the one-hot values, then the CTR borders.
//!
//! Errors name the schema's field (`ModelTrees.FloatFeatures[2].Borders`) and the byte offset.

use serde::de::DeserializeOwned;

use crate::error::ImportError;
use crate::import::json::Float;

use super::FORMAT;
use super::flatbuffers::{ReadError, Table};
use super::schema::{
    FeaturesInfo, FloatFeature, LeafValue, Model, ModelInfo, NamedFeature, ObliviousTree, Split,
    TreeNode,
};

/// The only core format CatBoost writes (the spelling is CatBoost's).
const CORE_FORMAT: &str = "FlabuffersModel_v1";

/// The deepest tree accepted: CatBoost trains at most depth 16, and a symmetric tree of depth
/// `d` holds `2^d` leaves.
const MAX_DEPTH: usize = 32;

/// Field ids, in the order the schema declares them.
mod field {
    pub(super) mod core {
        pub(crate) const FORMAT_VERSION: usize = 0;
        pub(crate) const MODEL_TREES: usize = 1;
        pub(crate) const INFO_MAP: usize = 2;
        pub(crate) const MODEL_PART_IDS: usize = 3;
    }
    pub(super) mod trees {
        pub(crate) const APPROX_DIMENSION: usize = 0;
        pub(crate) const TREE_SPLITS: usize = 1;
        pub(crate) const TREE_SIZES: usize = 2;
        pub(crate) const CAT_FEATURES: usize = 4;
        pub(crate) const FLOAT_FEATURES: usize = 5;
        pub(crate) const ONE_HOT_FEATURES: usize = 6;
        pub(crate) const CTR_FEATURES: usize = 7;
        pub(crate) const LEAF_VALUES: usize = 8;
        pub(crate) const NON_SYMMETRIC_STEP_NODES: usize = 10;
        pub(crate) const NON_SYMMETRIC_NODE_ID_TO_LEAF_ID: usize = 11;
        pub(crate) const TEXT_FEATURES: usize = 12;
        pub(crate) const SCALE: usize = 14;
        pub(crate) const BIAS: usize = 15;
        pub(crate) const MULTI_BIAS: usize = 16;
        pub(crate) const EMBEDDING_FEATURES: usize = 18;
    }
    /// `TFloatFeature`.
    pub(super) mod float {
        pub(crate) const INDEX: usize = 1;
        pub(crate) const FLAT_INDEX: usize = 2;
        pub(crate) const BORDERS: usize = 3;
        pub(crate) const FEATURE_ID: usize = 4;
        pub(crate) const NAN_VALUE_TREATMENT: usize = 5;
    }
    /// `TCatFeature`, `TTextFeature` and `TEmbeddingFeature` share these.
    pub(super) mod named {
        pub(crate) const FLAT_INDEX: usize = 1;
        pub(crate) const FEATURE_ID: usize = 2;
    }
    /// `TOneHotFeature.Values` and `TCtrFeature.Borders`: one binary feature each.
    pub(super) const ONE_HOT_VALUES: usize = 1;
    pub(super) const CTR_BORDERS: usize = 1;
    /// `TKeyValue`.
    pub(super) const KEY: usize = 0;
    pub(super) const VALUE: usize = 1;
}

fn malformed(location: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::malformed(FORMAT, location, message)
}

/// Names the field a FlatBuffers read failed in.
fn at(location: &str) -> impl FnOnce(ReadError) -> ImportError + '_ {
    move |e| malformed(location, e.to_string())
}

/// Reads a `.cbm` file (which starts with `CBM1`).
pub(super) fn read(bytes: &[u8]) -> Result<Model, ImportError> {
    let (start, size) = core_extent(bytes)?;
    let core = &bytes[start..start + size];
    let root = Table::root(core, start).map_err(at("TModelCore"))?;

    let version = root
        .string(field::core::FORMAT_VERSION)
        .map_err(at("FormatVersion"))?;
    if version != Some(CORE_FORMAT) {
        return Err(ImportError::unsupported(
            FORMAT,
            format!(
                "the .cbm core format {:?} (Verdict reads {CORE_FORMAT:?})",
                version.unwrap_or("")
            ),
        ));
    }
    let trees = root
        .table(field::core::MODEL_TREES)
        .map_err(at("ModelTrees"))?
        .ok_or_else(|| malformed("ModelTrees", "missing"))?;

    let features_info = features_info(&trees)?;
    // Before the trees, whose splits on such features could not be read.
    super::convert::refuse_unread_features(&features_info)?;
    let parts = root
        .strings(field::core::MODEL_PART_IDS)
        .map_err(at("ModelPartIds"))?;
    if let Some(part) = parts.first() {
        return Err(ImportError::unsupported(
            FORMAT,
            format!("the .cbm model part `{part}`"),
        ));
    }

    let binary = binary_features(&trees)?;
    let (oblivious_trees, trees_list) = forest(&trees, &binary)?;
    Ok(Model {
        features_info,
        model_info: model_info(&root)?,
        oblivious_trees,
        trees: trees_list,
        scale_and_bias: Some(scale_and_bias(&trees)?),
    })
}

/// Where the core starts and how long it is.
fn core_extent(bytes: &[u8]) -> Result<(usize, usize), ImportError> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let truncated = || malformed("header", format!("truncated after {} bytes", bytes.len()));
    let (start, size) = match word(4).ok_or_else(truncated)? {
        u32::MAX => {
            let low = word(8).ok_or_else(truncated)?;
            let high = word(12).ok_or_else(truncated)?;
            (16, u64::from(low) | (u64::from(high) << 32))
        }
        size => (8, u64::from(size)),
    };
    match usize::try_from(size)
        .ok()
        .filter(|&size| size <= bytes.len() - start)
    {
        Some(size) => Ok((start, size)),
        None => Err(malformed(
            "header",
            format!(
                "the core is {size} bytes but the file holds {} after the header",
                bytes.len() - start
            ),
        )),
    }
}

fn index(value: i32, location: &str, what: &str) -> Result<usize, ImportError> {
    usize::try_from(value).map_err(|_| malformed(location, format!("{what} {value} is negative")))
}

fn features_info(trees: &Table<'_>) -> Result<FeaturesInfo, ImportError> {
    const LOCATION: &str = "ModelTrees.FloatFeatures";
    let mut float_features = Vec::new();
    for (i, table) in trees
        .tables(field::trees::FLOAT_FEATURES)
        .map_err(at(LOCATION))?
        .into_iter()
        .enumerate()
    {
        let location = format!("{LOCATION}[{i}]");
        let read = |e: ReadError| malformed(&location, e.to_string());
        let treatment = table
            .scalar::<i8>(field::float::NAN_VALUE_TREATMENT, 0)
            .map_err(read)?;
        float_features.push(FloatFeature {
            feature_id: table
                .string(field::float::FEATURE_ID)
                .map_err(read)?
                .unwrap_or_default()
                .to_owned(),
            feature_index: index(
                table.scalar(field::float::INDEX, -1).map_err(read)?,
                &location,
                "Index",
            )?,
            flat_feature_index: index(
                table.scalar(field::float::FLAT_INDEX, -1).map_err(read)?,
                &location,
                "FlatIndex",
            )?,
            nan_value_treatment: match treatment {
                0 => "AsIs",
                1 => "AsFalse",
                2 => "AsTrue",
                other => {
                    return Err(malformed(
                        format!("{location}.NanValueTreatment"),
                        format!("{other} (expected 0 AsIs, 1 AsFalse or 2 AsTrue)"),
                    ));
                }
            }
            .to_owned(),
        });
    }
    Ok(FeaturesInfo {
        float_features,
        categorical_features: named_features(trees, field::trees::CAT_FEATURES, "CatFeatures")?,
        text_features: named_features(trees, field::trees::TEXT_FEATURES, "TextFeatures")?,
        embedding_features: named_features(
            trees,
            field::trees::EMBEDDING_FEATURES,
            "EmbeddingFeatures",
        )?,
        ctrs: None,
    })
}

fn named_features(
    trees: &Table<'_>,
    id: usize,
    name: &str,
) -> Result<Vec<NamedFeature>, ImportError> {
    let location = format!("ModelTrees.{name}");
    let tables = trees.tables(id).map_err(at(&location))?;
    tables
        .iter()
        .enumerate()
        .map(|(i, table)| {
            let location = format!("{location}[{i}]");
            let read = |e: ReadError| malformed(&location, e.to_string());
            Ok(NamedFeature {
                feature_id: table
                    .string(field::named::FEATURE_ID)
                    .map_err(read)?
                    .unwrap_or_default()
                    .to_owned(),
                flat_feature_index: index(
                    table.scalar(field::named::FLAT_INDEX, -1).map_err(read)?,
                    &location,
                    "FlatIndex",
                )?,
            })
        })
        .collect()
}

/// The model's binary features, which tree splits index.
struct BinaryFeatures {
    /// `(float feature index, border)` of every float split, in order.
    float: Vec<(usize, f32)>,
    /// How many one-hot and CTR splits follow the float ones.
    categorical: usize,
}

fn binary_features(trees: &Table<'_>) -> Result<BinaryFeatures, ImportError> {
    let mut float = Vec::new();
    let tables = trees
        .tables(field::trees::FLOAT_FEATURES)
        .map_err(at("ModelTrees.FloatFeatures"))?;
    for (i, table) in tables.iter().enumerate() {
        let location = format!("ModelTrees.FloatFeatures[{i}]");
        let feature = index(
            table
                .scalar(field::float::INDEX, -1)
                .map_err(at(&location))?,
            &location,
            "Index",
        )?;
        let borders = table
            .scalars::<f32>(field::float::BORDERS)
            .map_err(at(&format!("{location}.Borders")))?;
        float.extend(borders.into_iter().map(|border| (feature, border)));
    }
    let mut categorical = 0;
    for (id, name, values) in [
        (
            field::trees::ONE_HOT_FEATURES,
            "OneHotFeatures",
            field::ONE_HOT_VALUES,
        ),
        (
            field::trees::CTR_FEATURES,
            "CtrFeatures",
            field::CTR_BORDERS,
        ),
    ] {
        let location = format!("ModelTrees.{name}");
        for table in trees.tables(id).map_err(at(&location))? {
            // Only their count matters: splits on them are refused.
            categorical += table.scalars::<u32>(values).map_err(at(&location))?.len();
        }
    }
    Ok(BinaryFeatures { float, categorical })
}

impl BinaryFeatures {
    /// The split on binary feature `index`, as the JSON export writes it.
    fn split(&self, index: i32, location: &str) -> Result<Split, ImportError> {
        let total = self.float.len() + self.categorical;
        match usize::try_from(index).ok() {
            Some(i) if i < self.float.len() => {
                let (feature, border) = self.float[i];
                Ok(Split {
                    split_type: "FloatFeature".to_owned(),
                    float_feature_index: Some(feature),
                    border: Some(Float(f64::from(border))),
                })
            }
            Some(i) if i < total => Err(ImportError::unsupported(
                FORMAT,
                format!("{location}: a split on a categorical feature (one-hot or CTR)"),
            )),
            _ => Err(malformed(
                location,
                format!("split {index} is out of range for {total} binary features"),
            )),
        }
    }
}

/// The trees: symmetric (`oblivious_trees`) or not (`trees`), as the JSON export has them.
type Forest = (Option<Vec<ObliviousTree>>, Option<Vec<TreeNode>>);

fn forest(trees: &Table<'_>, binary: &BinaryFeatures) -> Result<Forest, ImportError> {
    let read = |name: &'static str| move |e: ReadError| malformed(name, e.to_string());
    let dimension = trees
        .scalar::<i32>(field::trees::APPROX_DIMENSION, 1)
        .map_err(read("ModelTrees.ApproxDimension"))?;
    let dimension = match usize::try_from(dimension) {
        Ok(d) if d > 0 => d,
        _ => {
            return Err(malformed(
                "ModelTrees.ApproxDimension",
                format!("{dimension} (expected 1 or more)"),
            ));
        }
    };
    let splits = trees
        .scalars::<i32>(field::trees::TREE_SPLITS)
        .map_err(read("ModelTrees.TreeSplits"))?;
    let sizes = trees
        .scalars::<i32>(field::trees::TREE_SIZES)
        .map_err(read("ModelTrees.TreeSizes"))?;
    let leaves = trees
        .scalars::<f64>(field::trees::LEAF_VALUES)
        .map_err(read("ModelTrees.LeafValues"))?;
    let steps = trees
        .structs(field::trees::NON_SYMMETRIC_STEP_NODES, 4)
        .map_err(read("ModelTrees.NonSymmetricStepNodes"))?;
    let leaf_ids = trees
        .scalars::<u32>(field::trees::NON_SYMMETRIC_NODE_ID_TO_LEAF_ID)
        .map_err(read("ModelTrees.NonSymmetricNodeIdToLeafId"))?;
    let sizes = sizes
        .iter()
        .enumerate()
        .map(|(t, &size)| index(size, &format!("ModelTrees.TreeSizes[{t}]"), "size"))
        .collect::<Result<Vec<_>, _>>()?;
    let nodes: usize = sizes.iter().sum();
    if nodes != splits.len() {
        return Err(malformed(
            "ModelTrees.TreeSplits",
            format!(
                "{} splits for trees of {nodes} splits or nodes in all",
                splits.len()
            ),
        ));
    }
    let forest = Trees {
        binary,
        splits: &splits,
        leaves: &leaves,
        dimension,
    };
    if steps.is_empty() {
        forest.oblivious(&sizes).map(|t| (Some(t), None))
    } else {
        let steps = steps
            .iter()
            .map(|s| {
                (
                    u16::from_le_bytes([s[0], s[1]]),
                    u16::from_le_bytes([s[2], s[3]]),
                )
            })
            .collect::<Vec<_>>();
        if steps.len() != nodes || leaf_ids.len() != nodes {
            return Err(malformed(
                "ModelTrees.NonSymmetricStepNodes",
                format!(
                    "{} step nodes and {} leaf ids for {nodes} nodes",
                    steps.len(),
                    leaf_ids.len()
                ),
            ));
        }
        forest
            .non_symmetric(&sizes, &steps, &leaf_ids)
            .map(|t| (None, Some(t)))
    }
}

/// What the trees of either kind are read from.
struct Trees<'a> {
    binary: &'a BinaryFeatures,
    splits: &'a [i32],
    leaves: &'a [f64],
    dimension: usize,
}

impl Trees<'_> {
    fn oblivious(&self, depths: &[usize]) -> Result<Vec<ObliviousTree>, ImportError> {
        let mut split_at = 0;
        let mut leaf_at = 0;
        let mut trees = Vec::with_capacity(depths.len());
        for (t, &depth) in depths.iter().enumerate() {
            let location = format!("ModelTrees.TreeSizes[{t}]");
            if depth > MAX_DEPTH {
                return Err(malformed(
                    location,
                    format!("depth {depth} (at most {MAX_DEPTH})"),
                ));
            }
            let count = (1usize << depth) * self.dimension;
            let values = self.leaves.get(leaf_at..leaf_at + count).ok_or_else(|| {
                malformed(
                    "ModelTrees.LeafValues",
                    format!(
                        "{} values end before tree {t}'s {count} leaf values",
                        self.leaves.len()
                    ),
                )
            })?;
            let splits = self.splits[split_at..split_at + depth]
                .iter()
                .enumerate()
                .map(|(l, &s)| {
                    self.binary
                        .split(s, &format!("ModelTrees.TreeSplits[{}]", split_at + l))
                })
                .collect::<Result<_, _>>()?;
            trees.push(ObliviousTree {
                leaf_values: values.iter().copied().map(Float).collect(),
                splits,
            });
            split_at += depth;
            leaf_at += count;
        }
        if leaf_at != self.leaves.len() {
            return Err(malformed(
                "ModelTrees.LeafValues",
                format!("{} values for trees that hold {leaf_at}", self.leaves.len()),
            ));
        }
        Ok(trees)
    }

    fn non_symmetric(
        &self,
        sizes: &[usize],
        steps: &[(u16, u16)],
        leaf_ids: &[u32],
    ) -> Result<Vec<TreeNode>, ImportError> {
        let mut start = 0;
        let mut trees = Vec::with_capacity(sizes.len());
        for (t, &size) in sizes.iter().enumerate() {
            let mut walk = Walk {
                trees: self,
                tree: t,
                nodes: start..start + size,
                steps,
                leaf_ids,
                // Each node is reached once in a tree: more visits mean shared subtrees.
                budget: 2 * size,
            };
            trees.push(walk.node(start, 0)?);
            start += size;
        }
        Ok(trees)
    }
}

/// One non-symmetric tree being rebuilt from its step nodes.
struct Walk<'a> {
    trees: &'a Trees<'a>,
    tree: usize,
    nodes: std::ops::Range<usize>,
    steps: &'a [(u16, u16)],
    leaf_ids: &'a [u32],
    budget: usize,
}

impl Walk<'_> {
    /// Node `n`: a split when it has a child on either side; a side with no child (a step of
    /// 0) ends at this node's own leaf value, as CatBoost's evaluator does.
    fn node(&mut self, n: usize, depth: usize) -> Result<TreeNode, ImportError> {
        let tree = self.tree;
        let location = || format!("tree {tree}, node {n}");
        if depth > MAX_DEPTH || self.budget == 0 {
            return Err(malformed(
                location(),
                format!("deeper than {MAX_DEPTH} levels, or its nodes are shared"),
            ));
        }
        self.budget -= 1;
        let (left, right) = self.steps[n];
        if left == 0 && right == 0 {
            return self.leaf(n);
        }
        let split = self
            .trees
            .binary
            .split(self.trees.splits[n], &format!("ModelTrees.TreeSplits[{n}]"))?;
        let mut child = |step: u16| -> Result<TreeNode, ImportError> {
            if step == 0 {
                return self.leaf(n);
            }
            let next = n + usize::from(step);
            if !self.nodes.contains(&next) {
                return Err(malformed(
                    location(),
                    format!("a step of {step} leaves the tree's nodes {:?}", self.nodes),
                ));
            }
            self.node(next, depth + 1)
        };
        let left = child(left)?;
        let right = child(right)?;
        Ok(TreeNode {
            split: Some(split),
            left: Some(Box::new(left)),
            right: Some(Box::new(right)),
            value: None,
        })
    }

    fn leaf(&self, n: usize) -> Result<TreeNode, ImportError> {
        let dimension = self.trees.dimension;
        let at = self.leaf_ids[n] as usize;
        let values = at
            .checked_add(dimension)
            .and_then(|end| self.trees.leaves.get(at..end))
            .ok_or_else(|| {
                malformed(
                    format!("ModelTrees.NonSymmetricNodeIdToLeafId[{n}]"),
                    format!(
                        "leaf value {at} is out of range for {} values",
                        self.trees.leaves.len()
                    ),
                )
            })?;
        let value = match values {
            [one] => LeafValue::Scalar(Float(*one)),
            many => LeafValue::Vector(many.iter().copied().map(Float).collect()),
        };
        Ok(TreeNode {
            split: None,
            left: None,
            right: None,
            value: Some(value),
        })
    }
}

fn scale_and_bias(trees: &Table<'_>) -> Result<(Float, Vec<Float>), ImportError> {
    let read = |name: &'static str| move |e: ReadError| malformed(name, e.to_string());
    let scale = trees
        .scalar::<f64>(field::trees::SCALE, 1.0)
        .map_err(read("ModelTrees.Scale"))?;
    let bias = trees
        .scalar::<f64>(field::trees::BIAS, 0.0)
        .map_err(read("ModelTrees.Bias"))?;
    let multi = trees
        .scalars::<f64>(field::trees::MULTI_BIAS)
        .map_err(read("ModelTrees.MultiBias"))?;
    let dimension = trees
        .scalar::<i32>(field::trees::APPROX_DIMENSION, 1)
        .map_err(read("ModelTrees.ApproxDimension"))?;
    let dimension = usize::try_from(dimension).unwrap_or(1).max(1);
    let biases = if !multi.is_empty() {
        multi
    } else if dimension == 1 || bias == 0.0 {
        vec![bias; dimension]
    } else {
        return Err(malformed(
            "ModelTrees.Bias",
            format!("one bias of {bias} for {dimension} outputs, and no MultiBias"),
        ));
    };
    Ok((Float(scale), biases.into_iter().map(Float).collect()))
}

/// `InfoMap`: the training options and class labels, each a JSON document.
fn model_info(root: &Table<'_>) -> Result<ModelInfo, ImportError> {
    let mut info = ModelInfo::default();
    let entries = root.tables(field::core::INFO_MAP).map_err(at("InfoMap"))?;
    for (i, entry) in entries.iter().enumerate() {
        let location = format!("InfoMap[{i}]");
        let key = entry.string(field::KEY).map_err(at(&location))?;
        let value = entry.string(field::VALUE).map_err(at(&location))?;
        let (Some(key), Some(value)) = (key, value) else {
            return Err(malformed(location, "an entry without its key or value"));
        };
        match key {
            "params" => info.params = Some(json(value, "InfoMap.params")?),
            "class_params" => info.class_params = Some(json(value, "InfoMap.class_params")?),
            "catboost_version_info" => info.catboost_version_info = Some(value.to_owned()),
            _ => {}
        }
    }
    Ok(info)
}

fn json<T: DeserializeOwned>(text: &str, location: &str) -> Result<T, ImportError> {
    serde_json::from_str(text).map_err(|e| malformed(location, e.to_string()))
}
