//! Build a tree ensemble in code from Verdict's native family types, save it as a Verdict
//! model file, and write random rows for it as CSV: the input of `benches/batch_csv.sh`.
//!
//! Run it with `cargo run --release --example synthetic_ensemble -- OUT_DIR ROWS FEATURES TREES`
//! (defaults: 1,000,000 rows, 50 features, 300 trees of depth 6). Everything is derived from
//! fixed seeds, so every run writes the same files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use verdict::model::family::Family;
use verdict::model::family::link::{Link, Precision};
use verdict::model::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble};
use verdict::model::{
    ClassLabel, Codec, Feature, ModelFile, ModelInfo, NativeModel, Signature, Task,
};

/// SplitMix64: a tiny deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A full binary tree of `depth`: internal nodes first (children of node `i` are `2i + 1`
/// and `2i + 2`, so every child comes after its parent), then the leaves.
fn tree(rng: &mut Rng, features: usize, depth: u32) -> Tree {
    let internal = (1usize << depth) - 1;
    let mut nodes = Vec::with_capacity(2 * internal + 1);
    for i in 0..internal {
        nodes.push(Node::Numeric {
            feature: (rng.next() % features as u64) as u32,
            threshold: rng.unit(),
            missing: Missing::Nan,
            default_left: rng.next().is_multiple_of(2),
            left: (2 * i + 1) as u32,
            right: (2 * i + 2) as u32,
        });
    }
    let leaves = internal + 1;
    nodes.extend((0..leaves).map(|leaf| Node::Leaf { leaf: leaf as u32 }));
    Tree {
        output: 0,
        nodes,
        leaf_values: (0..leaves).map(|_| (rng.unit() - 0.5) / 10.0).collect(),
        category_words: Vec::new(),
        linear: None,
        cover: Vec::new(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out_dir = PathBuf::from(args.next().unwrap_or_else(|| "target/bench-data".into()));
    let mut number = |default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(args.next().map_or(Ok(default), |a| a.parse())?)
    };
    let rows = number(1_000_000)?;
    let features = number(50)?;
    let trees = number(300)?;
    std::fs::create_dir_all(&out_dir)?;

    // A binary classifier in XGBoost's arithmetic, like most models Verdict serves.
    let mut rng = Rng(42);
    let family = Family::Trees(TreeEnsemble {
        num_features: features,
        split_rule: SplitRule::LessThanF32,
        precision: Precision::Single,
        leaf_width: 1,
        base_score: vec![0.0],
        aggregation: Aggregation::Sum,
        link: Link::Sigmoid { scale: 1.0 },
        trees: (0..trees).map(|_| tree(&mut rng, features, 6)).collect(),
    });
    let names: Vec<String> = (0..features).map(|j| format!("f_{j:02}")).collect();
    let signature = Signature::new(
        names.iter().cloned().map(Feature::numeric).collect(),
        Task::Classification {
            classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
        },
    );
    let model = NativeModel::new(signature, family)?;
    let model_path = out_dir.join("ensemble.vdm");
    ModelFile {
        info: ModelInfo::new("synthetic", "verdict", env!("CARGO_PKG_VERSION")),
        model,
    }
    .save(&model_path, Codec::Bincode)?;

    // Rows: an id, the features, values in [0, 1) with 6 decimals and 1% missing.
    let csv_path = out_dir.join(format!("rows_{rows}x{features}.csv"));
    let mut csv = BufWriter::with_capacity(1 << 20, File::create(&csv_path)?);
    write!(csv, "id")?;
    for name in &names {
        write!(csv, ",{name}")?;
    }
    writeln!(csv)?;
    let mut rng = Rng(7);
    for id in 0..rows {
        write!(csv, "{id}")?;
        for _ in 0..features {
            if rng.next().is_multiple_of(100) {
                write!(csv, ",")?;
            } else {
                write!(csv, ",{:.6}", rng.unit())?;
            }
        }
        writeln!(csv)?;
    }
    csv.flush()?;
    println!("{}\n{}", model_path.display(), csv_path.display());
    Ok(())
}
