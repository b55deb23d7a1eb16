//! Small native models of every family, for the format and family tests.

#![allow(dead_code, unreachable_pub)]

use verdict_model::family::linear::{LinearMissing, LinearModel};
use verdict_model::family::link::{Link, Precision};
use verdict_model::family::preprocess::{Branch, OneHotColumn, Step, UnknownCategory};
use verdict_model::family::tree::{
    Aggregation, LinearLeaves, Missing, Node, SplitRule, Tree, TreeEnsemble,
};
use verdict_model::family::{Family, Pipeline};
use verdict_model::{ClassLabel, Feature, ModelFile, ModelInfo, NativeModel, Signature, Task};

fn numeric(n: usize) -> Vec<Feature> {
    (0..n).map(|i| Feature::numeric(format!("x{i}"))).collect()
}

fn file(name: &str, signature: Signature, family: Family) -> ModelFile {
    ModelFile {
        info: ModelInfo::new(name, "verdict-tests", "0"),
        model: NativeModel::new(signature, family).expect("test models are valid"),
    }
}

fn classes(n: i64) -> Task {
    Task::Classification {
        classes: (0..n).map(ClassLabel::Int).collect(),
    }
}

/// A depth-2 tree over features 0..3 with a categorical node on feature 2.
fn tree(output: u32, scale: f64) -> Tree {
    Tree {
        output,
        nodes: vec![
            Node::Numeric {
                feature: 0,
                threshold: 0.5,
                missing: Missing::Nan,
                default_left: true,
                left: 1,
                right: 2,
            },
            Node::Categorical {
                feature: 2,
                words_start: 0,
                words_len: 1,
                set_goes_left: true,
                default_left: false,
                left: 3,
                right: 4,
            },
            Node::Numeric {
                feature: 1,
                threshold: -1.25,
                missing: Missing::Zero,
                default_left: false,
                left: 5,
                right: 6,
            },
            Node::Leaf { leaf: 0 },
            Node::Leaf { leaf: 1 },
            Node::Leaf { leaf: 2 },
            Node::Leaf { leaf: 3 },
        ],
        leaf_values: vec![0.1 * scale, -0.2 * scale, 0.3 * scale, 0.05 * scale],
        category_words: vec![0b1011],
        linear: None,
        cover: vec![10.0, 6.0, 4.0, 2.5, 3.5, 1.0, 3.0],
    }
}

/// Every family, with a signature, as model files.
pub fn all_models() -> Vec<ModelFile> {
    let mut models = Vec::new();

    models.push(file(
        "linear_regression",
        Signature::new(numeric(3), Task::Regression),
        Family::Linear(LinearModel {
            num_features: 3,
            coefficients: vec![0.5, -1.5, 2.25],
            intercepts: vec![0.125],
            precision: Precision::Double,
            missing: LinearMissing::Propagate,
            link: Link::Identity,
        }),
    ));
    models.push(file(
        "logistic_multinomial",
        Signature::new(numeric(3), classes(3)),
        Family::Linear(LinearModel {
            num_features: 3,
            coefficients: vec![0.5, -1.5, 2.25, 1.0, 0.0, -0.5, -1.0, 1.0, 0.25],
            intercepts: vec![0.1, -0.2, 0.3],
            precision: Precision::Double,
            missing: LinearMissing::Propagate,
            link: Link::Softmax,
        }),
    ));
    models.push(file(
        "gblinear_binary",
        Signature::new(numeric(3), classes(2)),
        Family::Linear(LinearModel {
            num_features: 3,
            coefficients: vec![0.5, -1.5, 2.25],
            intercepts: vec![-0.3],
            precision: Precision::Single,
            missing: LinearMissing::Skip,
            link: Link::Sigmoid { scale: 1.0 },
        }),
    ));

    let mut signature = Signature::new(numeric(3), classes(3));
    signature.features[2] =
        Feature::categorical("x2", vec!["a".into(), "b".into(), "c".into(), "d".into()]);
    models.push(file(
        "boosted_multiclass_f32",
        signature,
        Family::Trees(TreeEnsemble {
            num_features: 3,
            split_rule: SplitRule::LessThanF32,
            precision: Precision::Single,
            leaf_width: 1,
            base_score: vec![0.5, 0.25, -0.125],
            aggregation: Aggregation::Sum,
            link: Link::Softmax,
            trees: (0..9).map(|t| tree(t % 3, 1.0 + t as f64)).collect(),
        }),
    ));

    let mut linear_tree = tree(0, 1.0);
    linear_tree.linear = Some(LinearLeaves {
        constants: vec![1.0, 2.0, 3.0, 4.0],
        offsets: vec![0, 1, 1, 3, 3],
        features: vec![0, 0, 1],
        coefficients: vec![0.5, -0.25, 2.0],
    });
    models.push(file(
        "lightgbm_linear_regression",
        Signature::new(numeric(3), Task::Regression),
        Family::Trees(TreeEnsemble {
            num_features: 3,
            split_rule: SplitRule::LessEqualF64,
            precision: Precision::Double,
            leaf_width: 1,
            base_score: vec![0.0],
            aggregation: Aggregation::Sum,
            link: Link::Exp,
            trees: vec![linear_tree, tree(0, 2.0)],
        }),
    ));

    let mut forest_tree = tree(0, 1.0);
    forest_tree.leaf_values = vec![0.2, 0.8, 1.0, 0.0, 0.5, 0.5, 0.9, 0.1];
    // A forest averages both class probabilities, so its raw output has two columns.
    let mut forest_signature = Signature::new(numeric(3), classes(2));
    forest_signature.raw_width = 2;
    models.push(file(
        "random_forest_classifier",
        forest_signature,
        Family::Trees(TreeEnsemble {
            num_features: 3,
            split_rule: SplitRule::LessEqualF32Input,
            precision: Precision::Double,
            leaf_width: 2,
            base_score: vec![0.0, 0.0],
            aggregation: Aggregation::Average { divisor: 2.0 },
            link: Link::Identity,
            trees: vec![forest_tree.clone(), forest_tree],
        }),
    ));

    let pipeline_signature = Signature::new(
        vec![
            Feature::numeric("age"),
            Feature::categorical("city", vec!["paris".into(), "oslo".into(), "lima".into()]),
            Feature::numeric("income"),
        ],
        classes(2),
    );
    models.push(file(
        "pipeline_logistic",
        pipeline_signature,
        Family::Pipeline(Pipeline {
            num_features: 3,
            steps: vec![Step::Columns {
                branches: vec![
                    Branch {
                        columns: vec![0, 2],
                        steps: vec![
                            Step::Impute {
                                fill: vec![40.0, 1000.0],
                            },
                            Step::Standardize {
                                mean: vec![38.0, 1200.0],
                                scale: vec![12.0, 300.0],
                            },
                        ],
                    },
                    Branch {
                        columns: vec![1],
                        steps: vec![Step::OneHot {
                            columns: vec![OneHotColumn {
                                categories: 3,
                                drop: Some(0),
                                unknown: UnknownCategory::Ignore,
                            }],
                        }],
                    },
                ],
                remainder: vec![],
            }],
            model: Box::new(Family::Linear(LinearModel {
                num_features: 4,
                coefficients: vec![0.7, -0.2, 1.1, -0.9],
                intercepts: vec![0.05],
                precision: Precision::Double,
                missing: LinearMissing::Propagate,
                link: Link::Sigmoid { scale: 1.0 },
            })),
        }),
    ));
    models
}

/// Rows that exercise thresholds, missing values, zeros and categories.
pub fn inputs(features: usize) -> ndarray::Array2<f64> {
    let values = [
        0.5,
        0.5f32 as f64 + 1e-9,
        -1.25,
        0.0,
        1e-36,
        f64::NAN,
        1.0,
        2.0,
        3.0,
        -7.0,
        1e6,
        0.49999999,
    ];
    let rows = 64;
    ndarray::Array2::from_shape_fn((rows, features), |(r, c)| {
        values[(r * 7 + c * 5 + r / 3) % values.len()]
    })
}
