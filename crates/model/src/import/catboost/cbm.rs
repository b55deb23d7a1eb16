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

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::error::ImportError;
use crate::import::json::Float;

use super::FORMAT;
use super::flatbuffers::{ReadError, Table};
use super::schema::{
    CtrData, CtrElement, CtrFeature, FeaturesInfo, FloatFeature, HashMapItem, LeafValue, Model,
    ModelInfo, NamedFeature, ObliviousTree, Split, TreeNode,
};

/// The model part that holds the CTR tables (`TStaticCtrProvider`).
const CTR_PART: &str = "static_provider_v1";

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
        pub(crate) const INDEX: usize = 0;
        pub(crate) const FLAT_INDEX: usize = 1;
        pub(crate) const FEATURE_ID: usize = 2;
    }
    /// `TOneHotFeature`.
    pub(super) mod one_hot {
        pub(crate) const INDEX: usize = 0;
        pub(crate) const VALUES: usize = 1;
    }
    /// `TCtrFeature`, `TModelCtr`, `TModelCtrBase`, `TFeatureCombination`, `TCtrValueTable`.
    pub(super) mod ctr {
        pub(crate) const FEATURE_CTR: usize = 0;
        pub(crate) const FEATURE_BORDERS: usize = 1;
        pub(crate) const BASE: usize = 0;
        pub(crate) const TARGET_BORDER_IDX: usize = 1;
        pub(crate) const PRIOR_NUM: usize = 2;
        pub(crate) const PRIOR_DENOM: usize = 3;
        pub(crate) const SHIFT: usize = 4;
        pub(crate) const SCALE: usize = 5;
        pub(crate) const BASE_COMBINATION: usize = 0;
        pub(crate) const BASE_TYPE: usize = 1;
        pub(crate) const BASE_TARGET_CLASSIFIER: usize = 2;
        pub(crate) const COMBINATION_CATS: usize = 0;
        pub(crate) const COMBINATION_FLOATS: usize = 1;
        pub(crate) const COMBINATION_ONE_HOTS: usize = 2;
        pub(crate) const TABLE_BASE: usize = 0;
        pub(crate) const TABLE_INDEX: usize = 1;
        pub(crate) const TABLE_BLOB: usize = 2;
        pub(crate) const TABLE_COUNTER_DENOMINATOR: usize = 3;
        pub(crate) const TABLE_CLASSES: usize = 4;
    }
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
    let ctr_data = match parts.as_slice() {
        [] => None,
        [part] if *part == CTR_PART => Some(ctr_tables(bytes, start + size)?),
        [part, ..] => {
            return Err(ImportError::unsupported(
                FORMAT,
                format!("the .cbm model part `{part}`"),
            ));
        }
    };

    let binary = binary_features(&features_info);
    let (oblivious_trees, trees_list) = forest(&trees, &binary)?;
    Ok(Model {
        features_info,
        model_info: model_info(&root)?,
        oblivious_trees,
        trees: trees_list,
        scale_and_bias: Some(scale_and_bias(&trees)?),
        ctr_data,
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
            borders: table
                .scalars::<f32>(field::float::BORDERS)
                .map_err(read)?
                .into_iter()
                .map(|b| Float(f64::from(b)))
                .collect(),
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
    let mut categorical_features =
        named_features(trees, field::trees::CAT_FEATURES, "CatFeatures")?;
    for (i, table) in trees
        .tables(field::trees::ONE_HOT_FEATURES)
        .map_err(at("ModelTrees.OneHotFeatures"))?
        .iter()
        .enumerate()
    {
        let location = format!("ModelTrees.OneHotFeatures[{i}]");
        let index = index(
            table
                .scalar(field::one_hot::INDEX, -1)
                .map_err(at(&location))?,
            &location,
            "Index",
        )?;
        let feature = categorical_features
            .iter_mut()
            .find(|f| f.feature_index == Some(index))
            .ok_or_else(|| {
                malformed(
                    &location,
                    format!("categorical feature {index} does not exist"),
                )
            })?;
        feature.values = table
            .scalars::<i32>(field::one_hot::VALUES)
            .map_err(at(&location))?
            .into_iter()
            .map(i64::from)
            .collect();
    }
    let ctrs = ctr_features(trees)?;
    Ok(FeaturesInfo {
        float_features,
        categorical_features,
        text_features: named_features(trees, field::trees::TEXT_FEATURES, "TextFeatures")?,
        embedding_features: named_features(
            trees,
            field::trees::EMBEDDING_FEATURES,
            "EmbeddingFeatures",
        )?,
        ctrs: (!ctrs.is_empty()).then_some(ctrs),
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
                feature_index: Some(index(
                    table.scalar(field::named::INDEX, -1).map_err(read)?,
                    &location,
                    "Index",
                )?),
                values: Vec::new(),
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

/// The model's binary features, which tree splits index: float borders, one-hot values, CTR
/// borders, in that order.
struct BinaryFeatures {
    /// `(float feature index, border)` of every float split, in order.
    float: Vec<(usize, f32)>,
    /// `(categorical feature index, hash)` of every one-hot split, in order.
    one_hot: Vec<(usize, i64)>,
    /// The border of every CTR split, in order.
    ctr: Vec<f32>,
}

/// The binary features of what [`features_info`] read: no second pass over the FlatBuffers.
fn binary_features(info: &FeaturesInfo) -> BinaryFeatures {
    BinaryFeatures {
        float: info
            .float_features
            .iter()
            .flat_map(|f| f.borders.iter().map(|b| (f.feature_index, b.0 as f32)))
            .collect(),
        one_hot: info
            .categorical_features
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                let index = f.feature_index.unwrap_or(i);
                f.values.iter().map(move |&v| (index, v))
            })
            .collect(),
        ctr: info
            .ctrs
            .iter()
            .flatten()
            .flat_map(|c| c.borders.iter().map(|b| b.0 as f32))
            .collect(),
    }
}

impl BinaryFeatures {
    /// The split on binary feature `index`, as the JSON export writes it.
    fn split(&self, index: i32, location: &str) -> Result<Split, ImportError> {
        let total = self.float.len() + self.one_hot.len() + self.ctr.len();
        let split = |split_type: &str| Split {
            split_type: split_type.to_owned(),
            float_feature_index: None,
            border: None,
            cat_feature_index: None,
            value: None,
            split_index: usize::try_from(index).ok(),
        };
        let Some(i) = usize::try_from(index).ok().filter(|&i| i < total) else {
            return Err(malformed(
                location,
                format!("split {index} is out of range for {total} binary features"),
            ));
        };
        Ok(if let Some(&(feature, border)) = self.float.get(i) {
            Split {
                float_feature_index: Some(feature),
                border: Some(Float(f64::from(border))),
                ..split("FloatFeature")
            }
        } else if let Some(&(feature, value)) = self.one_hot.get(i - self.float.len()) {
            Split {
                cat_feature_index: Some(feature),
                value: Some(value),
                ..split("OneHotFeature")
            }
        } else {
            let border = self.ctr[i - self.float.len() - self.one_hot.len()];
            Split {
                border: Some(Float(f64::from(border))),
                ..split("OnlineCtr")
            }
        })
    }
}

/// `ModelTrees.CtrFeatures`, as the JSON export's `features_info.ctrs`. A CTR's identifier
/// names its table's combination and type ([`base_identifier`]), which the tables after the
/// core are matched by.
fn ctr_features(trees: &Table<'_>) -> Result<Vec<CtrFeature>, ImportError> {
    let tables = trees
        .tables(field::trees::CTR_FEATURES)
        .map_err(at("ModelTrees.CtrFeatures"))?;
    tables
        .iter()
        .enumerate()
        .map(|(i, table)| {
            let location = format!("ModelTrees.CtrFeatures[{i}]");
            let read = |e: ReadError| malformed(&location, e.to_string());
            let ctr = table
                .table(field::ctr::FEATURE_CTR)
                .map_err(read)?
                .ok_or_else(|| malformed(&location, "no Ctr"))?;
            let base = ctr
                .table(field::ctr::BASE)
                .map_err(read)?
                .ok_or_else(|| malformed(&location, "no Ctr.Base"))?;
            let (identifier, ctr_type, elements) = base_identifier(&base, &location)?;
            let float = |id: usize, default: f32| -> Result<Float, ImportError> {
                Ok(Float(f64::from(
                    ctr.scalar::<f32>(id, default).map_err(read)?,
                )))
            };
            let target = ctr
                .scalar::<i32>(field::ctr::TARGET_BORDER_IDX, 0)
                .map_err(read)?;
            Ok(CtrFeature {
                borders: table
                    .scalars::<f32>(field::ctr::FEATURE_BORDERS)
                    .map_err(read)?
                    .into_iter()
                    .map(|b| Float(f64::from(b)))
                    .collect(),
                ctr_type,
                elements,
                identifier,
                prior_numerator: float(field::ctr::PRIOR_NUM, 0.0)?,
                prior_denomerator: float(field::ctr::PRIOR_DENOM, 1.0)?,
                shift: float(field::ctr::SHIFT, 0.0)?,
                scale: float(field::ctr::SCALE, 1.0)?,
                target_border_idx: u32::try_from(target)
                    .map_err(|_| malformed(&location, format!("TargetBorderIdx {target}")))?,
            })
        })
        .collect()
}

/// A `TModelCtrBase`'s identity (its combination, type and target classifier, as text), its
/// type's name and its combination as JSON-export elements.
fn base_identifier(
    base: &Table<'_>,
    location: &str,
) -> Result<(String, String, Vec<CtrElement>), ImportError> {
    let read = |e: ReadError| malformed(location, e.to_string());
    const TYPES: [&str; 6] = [
        "Borders",
        "Buckets",
        "BinarizedTargetMeanValue",
        "FloatTargetMeanValue",
        "Counter",
        "FeatureFreq",
    ];
    let kind = base.scalar::<i8>(field::ctr::BASE_TYPE, 0).map_err(read)?;
    let ctr_type = usize::try_from(kind)
        .ok()
        .and_then(|k| TYPES.get(k))
        .ok_or_else(|| malformed(location, format!("CTR type {kind} (expected 0 to 5)")))?;
    // Which target binarisation built the table: part of its identity, not of the value.
    let classifier = base
        .scalar::<i32>(field::ctr::BASE_TARGET_CLASSIFIER, 0)
        .map_err(read)?;
    let combination = base
        .table(field::ctr::BASE_COMBINATION)
        .map_err(read)?
        .ok_or_else(|| malformed(location, "a CTR without its feature combination"))?;
    let element = |kind: &str| CtrElement {
        combination_element: kind.to_owned(),
        cat_feature_index: None,
        float_feature_index: None,
        border: None,
        value: None,
    };
    let mut elements = Vec::new();
    for category in combination
        .scalars::<i32>(field::ctr::COMBINATION_CATS)
        .map_err(read)?
    {
        elements.push(CtrElement {
            cat_feature_index: Some(index(category, location, "a categorical feature")?),
            ..element("cat_feature_value")
        });
    }
    for split in combination
        .structs(field::ctr::COMBINATION_FLOATS, 8)
        .map_err(read)?
    {
        let feature = i32::from_le_bytes([split[0], split[1], split[2], split[3]]);
        let border = f32::from_le_bytes([split[4], split[5], split[6], split[7]]);
        elements.push(CtrElement {
            float_feature_index: Some(index(feature, location, "a float feature")?),
            border: Some(Float(f64::from(border))),
            ..element("float_feature")
        });
    }
    for split in combination
        .structs(field::ctr::COMBINATION_ONE_HOTS, 8)
        .map_err(read)?
    {
        let feature = i32::from_le_bytes([split[0], split[1], split[2], split[3]]);
        let value = i32::from_le_bytes([split[4], split[5], split[6], split[7]]);
        elements.push(CtrElement {
            cat_feature_index: Some(index(feature, location, "a categorical feature")?),
            value: Some(i64::from(value)),
            ..element("cat_feature_exact_value")
        });
    }
    // Within one file, any text that tells bases apart will do; borders by their bits.
    let identifier = elements
        .iter()
        .map(|e| {
            format!(
                "{}:{:?}:{:?}:{:?}:{:?}",
                e.combination_element,
                e.cat_feature_index,
                e.float_feature_index,
                e.border.map(|b| (b.0 as f32).to_bits()),
                e.value
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    Ok((
        format!("{ctr_type}/{classifier}[{identifier}]"),
        (*ctr_type).to_owned(),
        elements,
    ))
}

/// The CTR tables of the `static_provider_v1` part at `at`: a `u32` count, then each table as
/// a `u32` size and a FlatBuffers `TCtrValueTable`. Keyed by [`base_identifier`].
fn ctr_tables(bytes: &[u8], at: usize) -> Result<BTreeMap<String, CtrData>, ImportError> {
    const LOCATION: &str = "the CTR tables after the core";
    let word = |at: usize| -> Result<usize, ImportError> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| malformed(LOCATION, format!("truncated at byte {at}")))
    };
    let count = word(at)?;
    let mut at = at + 4;
    let mut tables = BTreeMap::new();
    for t in 0..count {
        let size = word(at)?;
        let start = at + 4;
        let document = bytes
            .get(start..start.saturating_add(size))
            .ok_or_else(|| {
                malformed(
                    LOCATION,
                    format!(
                        "table {t} of {size} bytes at byte {start} runs past the end of the file"
                    ),
                )
            })?;
        let location = format!("CTR table {t} (byte {start})");
        let read = |e: ReadError| malformed(&location, e.to_string());
        let table = Table::root(document, start).map_err(read)?;
        let base = table
            .table(field::ctr::TABLE_BASE)
            .map_err(read)?
            .ok_or_else(|| malformed(&location, "no ModelCtrBase"))?;
        let (identifier, ctr_type, _) = base_identifier(&base, &location)?;
        let index = table.scalars::<u8>(field::ctr::TABLE_INDEX).map_err(read)?;
        let blob = table.scalars::<u8>(field::ctr::TABLE_BLOB).map_err(read)?;
        let denominator = table
            .scalar::<i32>(field::ctr::TABLE_COUNTER_DENOMINATOR, 0)
            .map_err(read)?;
        let classes = table
            .scalar::<i32>(field::ctr::TABLE_CLASSES, 0)
            .map_err(read)?;
        // The statistics of one entry, as numbers, by the CTR type.
        let stride = match ctr_type.as_str() {
            "Borders" | "Buckets" => usize::try_from(classes)
                .ok()
                .filter(|&c| c > 0 && c <= 1 << 16)
                .ok_or_else(|| malformed(&location, format!("TargetClassesCount {classes}")))?,
            "BinarizedTargetMeanValue" | "FloatTargetMeanValue" => 2,
            _ => 1,
        };
        if !index.len().is_multiple_of(12) {
            return Err(malformed(
                &location,
                format!(
                    "IndexHashRaw of {} bytes, not whole 12-byte buckets",
                    index.len()
                ),
            ));
        }
        let mut hash_map = Vec::new();
        for bucket in index.chunks_exact(12) {
            let hash = u64::from_le_bytes(bucket[..8].try_into().expect("8 bytes"));
            let entry = u32::from_le_bytes(bucket[8..].try_into().expect("4 bytes")) as usize;
            if hash == u64::MAX {
                continue;
            }
            let stats = blob
                .get(entry * stride * 4..(entry + 1) * stride * 4)
                .ok_or_else(|| {
                    malformed(
                        &location,
                        format!(
                            "entry {entry} is past the end of CTRBlob ({} bytes)",
                            blob.len()
                        ),
                    )
                })?;
            hash_map.push(HashMapItem::Key(hash.to_string()));
            for (k, cell) in stats.chunks_exact(4).enumerate() {
                let bytes = [cell[0], cell[1], cell[2], cell[3]];
                // The mean types store an `f32` sum before their `i32` count.
                let value = if stride == 2 && k == 0 && ctr_type.contains("Mean") {
                    f64::from(f32::from_le_bytes(bytes))
                } else {
                    f64::from(i32::from_le_bytes(bytes))
                };
                hash_map.push(HashMapItem::Number(Float(value)));
            }
        }
        tables.insert(
            identifier,
            CtrData {
                counter_denominator: Some(Float(f64::from(denominator))),
                hash_stride: stride + 1,
                hash_map,
            },
        );
        at = start + size;
    }
    Ok(tables)
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
