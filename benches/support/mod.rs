//! Synthetic models and data for the benchmarks: fixed seeds, so every run measures the same
//! work.

#![allow(dead_code, unreachable_pub)]

use ndarray::Array2;
use verdict::model::family::Family;
use verdict::model::family::link::{Link, Precision};
use verdict::model::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble};
use verdict::model::{ClassLabel, NativeModel, Signature, Task};

/// A small deterministic generator (SplitMix64): benchmarks need no `rand` dependency.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Which library's arithmetic the synthetic ensemble uses.
#[derive(Debug, Clone, Copy)]
pub enum Flavor {
    Xgboost,
    Lightgbm,
}

/// A complete binary tree of `depth` over `features` standard-normal-ish features.
fn full_tree(rng: &mut SplitMix, depth: usize, features: usize) -> Tree {
    let internal = (1usize << depth) - 1;
    let mut nodes = Vec::with_capacity(2 * internal + 1);
    for i in 0..internal {
        nodes.push(Node::Numeric {
            feature: rng.below(features) as u32,
            threshold: (rng.unit() * 2.0 - 1.0) as f32 as f64,
            missing: Missing::Nan,
            default_left: rng.unit() < 0.5,
            left: (2 * i + 1) as u32,
            right: (2 * i + 2) as u32,
        });
    }
    for leaf in 0..=internal {
        nodes.push(Node::Leaf { leaf: leaf as u32 });
    }
    let leaf_values = (0..=internal)
        .map(|_| ((rng.unit() - 0.5) * 0.1) as f32 as f64)
        .collect();
    Tree {
        output: 0,
        nodes,
        leaf_values,
        category_words: Vec::new(),
        linear: None,
        cover: Vec::new(),
    }
}

/// A binary classifier of `trees` complete trees of `depth`.
pub fn ensemble(flavor: Flavor, trees: usize, depth: usize, features: usize) -> NativeModel {
    let mut rng = SplitMix::new(42 + trees as u64 * 31 + depth as u64);
    let (split_rule, precision) = match flavor {
        Flavor::Xgboost => (SplitRule::LessThanF32, Precision::Single),
        Flavor::Lightgbm => (SplitRule::LightGbm, Precision::Double),
    };
    let family = Family::Trees(TreeEnsemble {
        num_features: features,
        split_rule,
        precision,
        leaf_width: 1,
        base_score: vec![0.0],
        aggregation: Aggregation::Sum,
        link: Link::Sigmoid { scale: 1.0 },
        trees: (0..trees)
            .map(|_| full_tree(&mut rng, depth, features))
            .collect(),
    });
    let signature = Signature::new(
        Signature::positional_features(features),
        Task::Classification {
            classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
        },
    );
    NativeModel::new(signature, family).expect("synthetic ensembles are valid")
}

/// `rows x features` values in [-1.5, 1.5), 1% missing.
pub fn rows(rows: usize, features: usize) -> Array2<f64> {
    let mut rng = SplitMix::new(7);
    Array2::from_shape_fn((rows, features), |_| {
        if rng.unit() < 0.01 {
            f64::NAN
        } else {
            rng.unit() * 3.0 - 1.5
        }
    })
}
