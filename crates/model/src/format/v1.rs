//! The payload of format version 1, read-only: today's family types as they were before trees
//! carried node covers ([`Tree::cover`]).
//!
//! bincode encodes a struct as its fields in order, so a version-1 tree cannot be decoded with
//! today's [`Tree`]: its missing `cover` would be read from the next tree's bytes. These mirror
//! types decode version 1 exactly and convert to today's types with empty covers, so an old
//! file predicts as before and says clearly that it cannot explain.

use serde::Deserialize;

use crate::family::linear::LinearModel;
use crate::family::link::{Link, Precision};
use crate::family::preprocess::Step;
use crate::family::tree::{Aggregation, LinearLeaves, Node, SplitRule, Tree, TreeEnsemble};
use crate::family::{Family, Pipeline};

/// [`Family`] in version 1: the same variants, in the same order.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum FamilyV1 {
    Linear(LinearModel),
    Trees(EnsembleV1),
    Pipeline(PipelineV1),
}

/// [`Pipeline`] in version 1.
#[derive(Deserialize)]
pub(super) struct PipelineV1 {
    num_features: usize,
    steps: Vec<Step>,
    model: Box<FamilyV1>,
}

/// [`TreeEnsemble`] in version 1.
#[derive(Deserialize)]
pub(super) struct EnsembleV1 {
    num_features: usize,
    split_rule: SplitRule,
    precision: Precision,
    leaf_width: usize,
    base_score: Vec<f64>,
    aggregation: Aggregation,
    link: Link,
    trees: Vec<TreeV1>,
}

/// [`Tree`] in version 1: no `cover`.
#[derive(Deserialize)]
struct TreeV1 {
    output: u32,
    nodes: Vec<Node>,
    leaf_values: Vec<f64>,
    category_words: Vec<u32>,
    linear: Option<LinearLeaves>,
}

impl From<FamilyV1> for Family {
    fn from(family: FamilyV1) -> Family {
        match family {
            FamilyV1::Linear(m) => Family::Linear(m),
            FamilyV1::Trees(m) => Family::Trees(TreeEnsemble {
                num_features: m.num_features,
                split_rule: m.split_rule,
                precision: m.precision,
                leaf_width: m.leaf_width,
                base_score: m.base_score,
                aggregation: m.aggregation,
                link: m.link,
                trees: m
                    .trees
                    .into_iter()
                    .map(|t| Tree {
                        output: t.output,
                        nodes: t.nodes,
                        leaf_values: t.leaf_values,
                        category_words: t.category_words,
                        linear: t.linear,
                        cover: Vec::new(),
                    })
                    .collect(),
            }),
            FamilyV1::Pipeline(p) => Family::Pipeline(Pipeline {
                num_features: p.num_features,
                steps: p.steps,
                model: Box::new(Family::from(*p.model)),
            }),
        }
    }
}
