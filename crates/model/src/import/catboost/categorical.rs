//! Models with categorical features: the [`Categorical`] step that computes their one-hot and
//! CTR columns, and where each tree split reads in the step's output.
//!
//! The step's output is the float features in `feature_index` order, then one column per
//! one-hot value (in the order of `categorical_features[].values`), then one column per CTR
//! (in `ctrs` order): the order of CatBoost's binary features, so a split's `split_index`
//! finds its column. `docs/formats/catboost-categorical.md` gives the rules.

use std::collections::HashMap;

use crate::error::ImportError;
use crate::family::ctr::{Categorical, Combination, Ctr, CtrKind, CtrTable};
use crate::family::oblivious::NanTreatment;

use super::FORMAT;
use super::schema::{CtrData, CtrElement, FeaturesInfo, HashMapItem, Model, Split};

fn malformed(location: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::malformed(FORMAT, location, message)
}

/// The step, and how tree splits map onto its output columns.
pub(super) struct Plan {
    /// The step.
    pub step: Categorical,
    /// The missing-value treatment of each output column, for the trees.
    pub nan_treatment: Vec<NanTreatment>,
    /// `(categorical feature, value)` to its one-hot column.
    one_hot_columns: HashMap<(u32, i32), usize>,
    /// Each CTR's first binary feature (`split_index`), and its column.
    ctr_starts: Vec<usize>,
    /// The binary features before the first CTR.
    first_ctr_split: usize,
}

/// Builds the plan of a model with categorical features. `float_columns[k]` is the input
/// column of float feature `k` and `float_nan[k]` its treatment; `cat_columns[k]` and
/// `cat_names[k]` the same for categorical feature `k`.
pub(super) fn plan(
    model: &Model,
    float_columns: &[usize],
    float_nan: &[NanTreatment],
    cat_columns: &[usize],
    cat_names: Vec<String>,
) -> Result<Plan, ImportError> {
    let info = &model.features_info;
    let floats = float_columns.len();
    let mut one_hot = Vec::new();
    for (i, feature) in info.categorical_features.iter().enumerate() {
        let index = feature.feature_index.unwrap_or(i) as u32;
        for &value in &feature.values {
            let value = i32::try_from(value).map_err(|_| {
                malformed(
                    format!("features_info.categorical_features[{i}].values"),
                    format!("{value} is not a 32-bit hash"),
                )
            })?;
            one_hot.push((index, value));
        }
    }
    let one_hot_columns = one_hot
        .iter()
        .enumerate()
        .map(|(position, &key)| (key, floats + position))
        .collect();

    let ctrs_info = info.ctrs.as_deref().unwrap_or_default();
    let mut tables: Vec<CtrTable> = Vec::new();
    let mut table_of: HashMap<&str, u32> = HashMap::new();
    let mut ctrs = Vec::with_capacity(ctrs_info.len());
    let empty = Default::default();
    let data = model.ctr_data.as_ref().unwrap_or(&empty);
    for (c, ctr) in ctrs_info.iter().enumerate() {
        let location = format!("features_info.ctrs[{c}]");
        let kind = ctr_kind(&ctr.ctr_type, &location)?;
        let table = match table_of.get(ctr.identifier.as_str()) {
            Some(&table) => table,
            None => {
                let found = data.get(&ctr.identifier).ok_or_else(|| {
                    malformed(
                        &location,
                        format!(
                            "no CTR table for {}; export the JSON with the training pool \
                             (save_model(..., format=\"json\", pool=...))",
                            ctr.identifier
                        ),
                    )
                })?;
                let combination = combination(&ctr.elements, info, &location)?;
                tables.push(table(found, kind, combination, &location)?);
                let index = (tables.len() - 1) as u32;
                table_of.insert(&ctr.identifier, index);
                index
            }
        };
        ctrs.push(Ctr {
            table,
            target_border: ctr.target_border_idx,
            prior_numerator: ctr.prior_numerator.0 as f32,
            prior_denominator: ctr.prior_denomerator.0 as f32,
            shift: ctr.shift.0 as f32,
            scale: ctr.scale.0 as f32,
        });
    }

    let float_splits: usize = info.float_features.iter().map(|f| f.borders.len()).sum();
    let first_ctr_split = float_splits + one_hot.len();
    let mut ctr_starts = Vec::with_capacity(ctrs_info.len());
    let mut at = first_ctr_split;
    for ctr in ctrs_info {
        ctr_starts.push(at);
        at += ctr.borders.len();
    }
    let mut nan_treatment = float_nan.to_vec();
    nan_treatment.resize(floats + one_hot.len() + ctrs.len(), NanTreatment::AsFalse);
    let step = Categorical {
        floats: float_columns.iter().map(|&c| c as u32).collect(),
        float_nan: float_nan.to_vec(),
        categories: cat_columns.iter().map(|&c| c as u32).collect(),
        category_names: cat_names,
        one_hot,
        ctrs,
        tables,
    };
    Ok(Plan {
        step,
        nan_treatment,
        one_hot_columns,
        ctr_starts,
        first_ctr_split,
    })
}

impl Plan {
    /// The output column and border a split of a categorical model reads; float splits are
    /// left to the caller (`None`).
    pub(super) fn split(
        &self,
        location: &str,
        split: &Split,
    ) -> Result<Option<(usize, f32)>, ImportError> {
        match split.split_type.as_str() {
            "FloatFeature" => Ok(None),
            "OneHotFeature" => {
                let (Some(feature), Some(value)) = (split.cat_feature_index, split.value) else {
                    return Err(malformed(
                        location,
                        "a OneHotFeature split without cat_feature_index and value",
                    ));
                };
                let key = (feature as u32, value as i32);
                let column = self.one_hot_columns.get(&key).ok_or_else(|| {
                    malformed(
                        location,
                        format!(
                            "categorical feature {feature} has no one-hot value {value} in \
                             features_info"
                        ),
                    )
                })?;
                // The column is 1.0 or 0.0: above a border of one half when set.
                Ok(Some((*column, 0.5)))
            }
            "OnlineCtr" => {
                let (Some(index), Some(border)) = (split.split_index, split.border) else {
                    return Err(malformed(
                        location,
                        "an OnlineCtr split without split_index and border",
                    ));
                };
                // The last CTR whose binary features start at or before the index.
                let ctr = self
                    .ctr_starts
                    .partition_point(|&start| start <= index)
                    .checked_sub(1)
                    .filter(|_| index >= self.first_ctr_split)
                    .ok_or_else(|| {
                        malformed(
                            location,
                            format!("split_index {index} does not name a CTR's border"),
                        )
                    })?;
                let floats = self.step.floats.len();
                let column = floats + self.step.one_hot.len() + ctr;
                Ok(Some((column, border.0 as f32)))
            }
            other => Err(ImportError::unsupported(
                FORMAT,
                format!("{location}: split type `{other}`"),
            )),
        }
    }
}

fn ctr_kind(name: &str, location: &str) -> Result<CtrKind, ImportError> {
    Ok(match name {
        "Borders" => CtrKind::Borders,
        "Buckets" => CtrKind::Buckets,
        "BinarizedTargetMeanValue" => CtrKind::BinarizedTargetMeanValue,
        "FloatTargetMeanValue" => CtrKind::FloatTargetMeanValue,
        "Counter" => CtrKind::Counter,
        "FeatureFreq" => CtrKind::FeatureFreq,
        other => {
            return Err(ImportError::unsupported(
                FORMAT,
                format!("{location}: CTR type `{other}`"),
            ));
        }
    })
}

/// The combination a CTR's elements describe: categorical features, then float splits,
/// then one-hot splits, each in the order given (CatBoost keeps them sorted).
fn combination(
    elements: &[CtrElement],
    info: &FeaturesInfo,
    location: &str,
) -> Result<Combination, ImportError> {
    let mut combination = Combination {
        categories: Vec::new(),
        float_splits: Vec::new(),
        one_hot_splits: Vec::new(),
    };
    for (e, element) in elements.iter().enumerate() {
        let location = format!("{location}.elements[{e}]");
        let missing = || malformed(&location, "a combination element without its fields");
        let category = |index: Option<usize>| -> Result<u32, ImportError> {
            let index = index.ok_or_else(missing)?;
            if index >= info.categorical_features.len() {
                return Err(malformed(
                    &location,
                    format!("categorical feature {index} does not exist"),
                ));
            }
            Ok(index as u32)
        };
        match element.combination_element.as_str() {
            "cat_feature_value" => combination
                .categories
                .push(category(element.cat_feature_index)?),
            "cat_feature_exact_value" => {
                let value = element.value.ok_or_else(missing)?;
                combination
                    .one_hot_splits
                    .push((category(element.cat_feature_index)?, value as i32));
            }
            "float_feature" => {
                let (Some(index), Some(border)) = (element.float_feature_index, element.border)
                else {
                    return Err(missing());
                };
                if index >= info.float_features.len() {
                    return Err(malformed(
                        &location,
                        format!("float feature {index} does not exist"),
                    ));
                }
                combination
                    .float_splits
                    .push((index as u32, border.0 as f32));
            }
            other => {
                return Err(ImportError::unsupported(
                    FORMAT,
                    format!("{location}: combination element `{other}`"),
                ));
            }
        }
    }
    Ok(combination)
}

/// A table from its JSON form: keys sorted for binary search, the statistics beside them.
fn table(
    data: &CtrData,
    kind: CtrKind,
    combination: Combination,
    location: &str,
) -> Result<CtrTable, ImportError> {
    let location = format!("{location} (its ctr_data table)");
    let stride = data
        .hash_stride
        .checked_sub(1)
        .filter(|&s| s > 0)
        .ok_or_else(|| malformed(&location, format!("a hash_stride of {}", data.hash_stride)))?;
    if !data.hash_map.len().is_multiple_of(data.hash_stride) {
        return Err(malformed(
            &location,
            format!(
                "{} items in hash_map, not a multiple of its stride {}",
                data.hash_map.len(),
                data.hash_stride
            ),
        ));
    }
    let mut entries: Vec<(u64, Vec<f32>)> =
        Vec::with_capacity(data.hash_map.len() / data.hash_stride);
    for (e, entry) in data.hash_map.chunks_exact(data.hash_stride).enumerate() {
        let key = match &entry[0] {
            HashMapItem::Key(text) => text.parse::<u64>().map_err(|_| {
                malformed(&location, format!("entry {e}: key {text:?} is not a u64"))
            })?,
            HashMapItem::Number(_) => {
                return Err(malformed(
                    &location,
                    format!("entry {e}: a key must be a string"),
                ));
            }
        };
        // CatBoost's export also writes its empty-bucket marker, which is no key.
        if key == u64::MAX {
            continue;
        }
        let stats = entry[1..]
            .iter()
            .map(|item| match item {
                HashMapItem::Number(n) => Ok(n.0 as f32),
                HashMapItem::Key(text) => Err(malformed(
                    &location,
                    format!("entry {e}: statistic {text:?} is not a number"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        entries.push((key, stats));
    }
    entries.sort_by_key(|&(key, _)| key);
    if let Some(pair) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(malformed(
            &location,
            format!("key {} appears twice", pair[0].0),
        ));
    }
    Ok(CtrTable {
        combination,
        kind,
        keys: entries.iter().map(|&(key, _)| key).collect(),
        stats: entries.into_iter().flat_map(|(_, stats)| stats).collect(),
        stride: stride as u32,
        counter_denominator: data.counter_denominator.map_or(0.0, |d| d.0 as f32),
    })
}
