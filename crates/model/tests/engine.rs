//! The fast tree engine computes exactly what the reference evaluator computes: random
//! ensembles of every split rule and precision, with missing values, values exactly at
//! thresholds, zero-as-missing nodes, categorical splits, linear leaves and vector leaves.

mod common;

use ndarray::Array2;
use proptest::prelude::*;
use proptest::test_runner::TestRng;
use verdict_model::family::link::{Link, Precision};
use verdict_model::family::tree::{
    Aggregation, LinearLeaves, Missing, Node, SplitRule, Tree, TreeEnsemble,
};
use verdict_model::family::{Engine, Family};
use verdict_model::{ClassLabel, Model, NativeModel, Output, OutputSlot, Signature, Task};

const FEATURES: usize = 6;
/// LightGBM's `kZeroThreshold`, which it often writes as a threshold.
const K_ZERO: f64 = 1e-35_f32 as f64;
/// Thresholds come from this small set so that inputs hit them exactly.
const THRESHOLDS: [f64; 9] = [-1.5, -0.1, -K_ZERO, 0.0, K_ZERO, 0.1, 0.5, 1.0, 2.75];

#[derive(Debug, Clone, Copy)]
struct Shape {
    rule: SplitRule,
    precision: Precision,
    leaf_width: usize,
    categorical: bool,
    linear: bool,
    zero_missing: bool,
    max_depth: usize,
}

/// Grows a random tree of at most `max_depth`, numbering nodes so children follow parents.
fn random_tree(rng: &mut TestRng, shape: Shape, output: u32) -> Tree {
    let mut nodes: Vec<Node> = vec![Node::Leaf { leaf: 0 }];
    let mut words = Vec::new();
    let mut leaves = 0u32;
    // (node index, depth) still to decide.
    let mut open = vec![(0usize, 0usize)];
    while let Some((at, depth)) = open.pop() {
        let split = depth < shape.max_depth && rng.random_bool(if depth < 3 { 0.95 } else { 0.6 });
        if !split {
            nodes[at] = Node::Leaf { leaf: leaves };
            leaves += 1;
            continue;
        }
        let left = nodes.len() as u32;
        nodes.push(Node::Leaf { leaf: 0 });
        nodes.push(Node::Leaf { leaf: 0 });
        let feature = rng.random_range(0..FEATURES as u32);
        nodes[at] = if shape.categorical && rng.random_bool(0.3) {
            let start = words.len() as u32;
            let len = rng.random_range(1..3u32);
            for _ in 0..len {
                words.push(rng.random::<u32>());
            }
            Node::Categorical {
                feature,
                words_start: start,
                words_len: len,
                set_goes_left: rng.random_bool(0.5),
                default_left: rng.random_bool(0.5),
                left,
                right: left + 1,
            }
        } else {
            let missing = match rng.random_range(0..3) {
                0 if shape.zero_missing => Missing::Zero,
                1 if shape.zero_missing => Missing::AsZero,
                _ => Missing::Nan,
            };
            Node::Numeric {
                feature,
                threshold: THRESHOLDS[rng.random_range(0..THRESHOLDS.len())],
                missing,
                default_left: rng.random_bool(0.5),
                left,
                right: left + 1,
            }
        };
        open.push((left as usize, depth + 1));
        open.push((left as usize + 1, depth + 1));
    }
    let leaf_values = (0..leaves as usize * shape.leaf_width)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let linear = shape.linear.then(|| {
        let mut offsets = vec![0u32];
        let mut features = Vec::new();
        let mut coefficients = Vec::new();
        for _ in 0..leaves {
            for _ in 0..rng.random_range(0..3) {
                features.push(rng.random_range(0..FEATURES as u32));
                coefficients.push(rng.random_range(-2.0..2.0));
            }
            offsets.push(features.len() as u32);
        }
        LinearLeaves {
            constants: (0..leaves).map(|_| rng.random_range(-1.0..1.0)).collect(),
            offsets,
            features,
            coefficients,
        }
    });
    Tree {
        output,
        nodes,
        leaf_values,
        category_words: words,
        linear,
        cover: Vec::new(),
    }
}

fn random_model(rng: &mut TestRng, shape: Shape, trees: usize, outputs: usize) -> NativeModel {
    let raw_width = if shape.leaf_width > 1 {
        shape.leaf_width
    } else {
        outputs
    };
    let trees = (0..trees)
        .map(|t| {
            let output = if shape.leaf_width > 1 {
                0
            } else {
                (t % outputs) as u32
            };
            random_tree(rng, shape, output)
        })
        .collect();
    let aggregation = if rng.random_bool(0.3) {
        Aggregation::Average { divisor: 3.0 }
    } else {
        Aggregation::Sum
    };
    let family = Family::Trees(TreeEnsemble {
        num_features: FEATURES,
        split_rule: shape.rule,
        precision: shape.precision,
        leaf_width: shape.leaf_width,
        base_score: (0..raw_width).map(|k| 0.1 * k as f64 - 0.05).collect(),
        aggregation,
        link: if raw_width > 1 {
            Link::Softmax
        } else {
            Link::Sigmoid { scale: 1.0 }
        },
        trees,
    });
    let classes = raw_width.max(2) as i64;
    let mut signature = Signature::new(
        Signature::positional_features(FEATURES),
        Task::Classification {
            classes: (0..classes).map(ClassLabel::Int).collect(),
        },
    );
    signature.raw_width = raw_width;
    NativeModel::new(signature, family).expect("random trees are valid")
}

/// Inputs drawn from the thresholds, their f32 and f64 neighbours, zeros, tiny values, NaN
/// and category codes.
fn random_inputs(rng: &mut TestRng, rows: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, FEATURES), |_| {
        let t = THRESHOLDS[rng.random_range(0..THRESHOLDS.len())];
        match rng.random_range(0..10) {
            0 => t,
            1 => f64::from_bits(t.to_bits().wrapping_add(1)),
            2 => f64::from_bits(t.to_bits().wrapping_sub(1)),
            3 => f64::from((t as f32).next_up()),
            4 => f64::NAN,
            5 => [0.0, -0.0, 1e-36, -1e-36, 1e-34, -0.5][rng.random_range(0..6)],
            6 => f64::from(rng.random_range(-2..70i32)),
            _ => rng.random_range(-3.0..3.0),
        }
    })
}

fn assert_engine_matches_reference(model: &NativeModel, x: &Array2<f64>) {
    let reference = model.reference();
    for output in model.signature().outputs() {
        let slow = reference.predict(x.view(), output).unwrap();
        let fast = model.predict(x.view(), output).unwrap();
        assert_same_bits(&fast, &slow, &format!("{output}"));
        // A block of fewer rows than a group (a single request) walks trees side by side
        // instead of rows: the same sums.
        for row in 0..x.nrows().min(9) {
            let one = x.slice(ndarray::s![row..row + 1, ..]);
            let fast = model.predict(one, output).unwrap();
            let slow = slow.slice(ndarray::s![row..row + 1, ..]).to_owned();
            assert_same_bits(&fast, &slow, &format!("{output}, row {row} alone"));
        }
    }
}

fn assert_same_bits(fast: &Array2<f64>, slow: &Array2<f64>, what: &str) {
    assert_eq!(fast.dim(), slow.dim(), "{what}");
    for ((i, &a), &b) in fast.indexed_iter().zip(slow.iter()) {
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "{what} at {i:?}: engine {a} vs reference {b}"
        );
    }
}

fn shapes() -> impl Strategy<Value = Shape> {
    (
        prop_oneof![
            Just((SplitRule::LessThanF32, Precision::Single)),
            Just((SplitRule::LessEqualF32Input, Precision::Double)),
            Just((SplitRule::LessEqualF64, Precision::Double)),
            Just((SplitRule::LightGbm, Precision::Double)),
        ],
        prop_oneof![Just(1usize), Just(3usize)],
        any::<bool>(),
        any::<bool>(),
        1usize..14,
    )
        .prop_map(
            |((rule, precision), leaf_width, categorical, linear, max_depth)| Shape {
                rule,
                precision,
                leaf_width,
                categorical,
                linear: linear && leaf_width == 1,
                zero_missing: matches!(rule, SplitRule::LessEqualF64 | SplitRule::LightGbm),
                max_depth,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_equals_reference(
        shape in shapes(),
        trees in 1usize..12,
        rows in 1usize..300,
        seed in any::<[u8; 32]>(),
    ) {
        let mut rng = TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed);
        let outputs = if shape.leaf_width == 1 && trees % 2 == 0 { 3 } else { 1 };
        let model = random_model(&mut rng, shape, trees, outputs);
        let x = random_inputs(&mut rng, rows);
        assert_engine_matches_reference(&model, &x);
    }
}

#[test]
fn engine_equals_reference_on_the_hand_built_models() {
    for file in common::all_models() {
        let x = common::inputs(file.model.signature().num_features());
        assert_engine_matches_reference(&file.model, &x);
    }
}

#[test]
fn strided_inputs_and_outputs_give_the_same_answer() {
    let mut rng = TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha);
    let shape = Shape {
        rule: SplitRule::LessThanF32,
        precision: Precision::Single,
        leaf_width: 1,
        categorical: false,
        linear: false,
        zero_missing: false,
        max_depth: 6,
    };
    let model = random_model(&mut rng, shape, 20, 1);
    let x = random_inputs(&mut rng, 500);
    let column_major = x.t().to_owned().reversed_axes();
    let expected = model.predict(x.view(), Output::PredictProba).unwrap();
    let mut out = Array2::zeros((2, 500));
    model
        .predict_into(
            column_major.view(),
            &mut [OutputSlot::new(
                Output::PredictProba,
                out.view_mut().reversed_axes(),
            )],
        )
        .unwrap();
    assert_eq!(out.t(), expected);
}

#[test]
fn one_call_for_every_output_equals_one_call_per_output() {
    // Every model of every family, asked for all its outputs at once (some twice, some
    // strided), must give what separate calls give, bit for bit.
    for file in common::all_models() {
        let model = &file.model;
        let x = common::inputs(model.signature().num_features());
        let mut outputs = model.signature().outputs();
        outputs.push(outputs[0]);
        let together = model.predict_outputs(x.view(), &outputs).unwrap();
        for (output, got) in outputs.iter().zip(&together) {
            assert_eq!(
                bits(got),
                bits(&model.predict(x.view(), *output).unwrap()),
                "{}: {output} from one call",
                file.info.name
            );
        }
        let width = model.signature().output_width(outputs[0]).unwrap();
        let mut column_major = Array2::zeros((width, x.nrows()));
        let mut row_major = Array2::zeros((x.nrows(), width));
        model
            .predict_into(
                x.view(),
                &mut [
                    OutputSlot::new(outputs[0], column_major.view_mut().reversed_axes()),
                    OutputSlot::new(outputs[0], row_major.view_mut()),
                ],
            )
            .unwrap();
        assert_eq!(bits(&column_major.t().to_owned()), bits(&row_major));
        assert_eq!(bits(&row_major), bits(&together[0]));
    }
}

/// The bits of every value: NaN outputs compare equal to themselves.
fn bits(values: &Array2<f64>) -> Array2<u64> {
    values.mapv(f64::to_bits)
}

#[test]
fn a_slot_of_the_wrong_shape_is_refused_before_any_work() {
    let file = &common::all_models()[0];
    let x = common::inputs(file.model.signature().num_features());
    let mut good = Array2::zeros((x.nrows(), 1));
    let mut bad = Array2::zeros((x.nrows() + 1, 1));
    let error = file
        .model
        .predict_into(
            x.view(),
            &mut [
                OutputSlot::new(Output::Predict, good.view_mut()),
                OutputSlot::new(Output::Raw, bad.view_mut()),
            ],
        )
        .unwrap_err();
    assert!(error.to_string().contains("`raw` must be"), "{error}");
}

/// A tree that splits `feature` at each of `thresholds` in turn, a leaf to the left of
/// each split: its depth is the number of thresholds.
fn chain(rng: &mut TestRng, feature: u32, thresholds: &[f64]) -> Tree {
    let mut nodes = Vec::new();
    for (i, &threshold) in thresholds.iter().enumerate() {
        let at = nodes.len() as u32;
        nodes.push(Node::Numeric {
            feature,
            threshold,
            missing: Missing::Nan,
            default_left: i % 2 == 0,
            left: at + 1,
            right: at + 2,
        });
        nodes.push(Node::Leaf { leaf: i as u32 });
    }
    nodes.push(Node::Leaf {
        leaf: thresholds.len() as u32,
    });
    Tree {
        output: 0,
        nodes,
        leaf_values: (0..=thresholds.len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
        category_words: Vec::new(),
        linear: None,
        cover: Vec::new(),
    }
}

/// An XGBoost-like model of `trees`, on `FEATURES` features.
fn model_of(trees: Vec<Tree>) -> NativeModel {
    let family = Family::Trees(TreeEnsemble {
        num_features: FEATURES,
        split_rule: SplitRule::LessThanF32,
        precision: Precision::Single,
        leaf_width: 1,
        base_score: vec![0.25],
        aggregation: Aggregation::Sum,
        link: Link::Sigmoid { scale: 1.0 },
        trees,
    });
    let signature = Signature::new(
        Signature::positional_features(FEATURES),
        Task::Classification {
            classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
        },
    );
    NativeModel::new(signature, family).expect("chains are valid")
}

/// The trees that blocks walk binned, or `None` when this CPU's blocks never do.
fn binned_trees(model: &NativeModel) -> Option<usize> {
    let avx512 = std::env::var_os("VERDICT_NO_AVX512").is_none()
        && cfg!(target_arch = "x86_64")
        && std::arch::is_x86_feature_detected!("avx512vbmi")
        && std::arch::is_x86_feature_detected!("avx512bw");
    match model.engine() {
        Engine::Trees { binned, .. } => avx512.then_some(binned),
        other => panic!("not the tree engine: {other}"),
    }
}

/// Rows at, just above and just below every threshold, and missing values.
fn rows_around(rng: &mut TestRng, thresholds: &[f64], rows: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, FEATURES), |_| {
        let t = thresholds[rng.random_range(0..thresholds.len())] as f32;
        match rng.random_range(0..5) {
            0 => f64::from(t),
            1 => f64::from(t.next_up()),
            2 => f64::from(t.next_down()),
            3 => f64::NAN,
            _ => rng.random_range(-40.0..40.0),
        }
    })
}

#[test]
fn the_binned_walk_takes_up_to_254_thresholds_a_feature() {
    // Bins are bytes, with 255 for missing values: 254 distinct thresholds of a feature fit,
    // 255 do not, and then the scalar walk scores every tree.
    let mut rng = TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha);
    let all: Vec<f64> = (0..255).map(|k| f64::from(k) * 0.25 - 30.0).collect();
    for count in [254, 255] {
        let trees: Vec<Tree> = all[..count]
            .chunks(8)
            .map(|thresholds| chain(&mut rng, 1, thresholds))
            .collect();
        let model = model_of(trees);
        let x = rows_around(&mut rng, &all, 300);
        assert_engine_matches_reference(&model, &x);
        if let Some(binned) = binned_trees(&model) {
            let expected = if count == 254 { count.div_ceil(8) } else { 0 };
            assert_eq!(binned, expected, "{count} thresholds");
        }
    }
}

#[test]
fn a_nan_threshold_leaves_its_tree_to_the_scalar_walk() {
    // No library writes one, but a model file can hold one (the catboost_cbm fuzz target made
    // such a file, and the binned walk's compile panicked): every value then goes right, as
    // the reference walks it.
    let mut rng = TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha);
    let thresholds = [-1.0, 0.5, 2.0];
    let trees = vec![
        chain(&mut rng, 0, &thresholds),
        chain(&mut rng, 1, &[0.25, f64::NAN, 1.0]),
    ];
    let model = model_of(trees);
    let x = rows_around(&mut rng, &thresholds, 64 * 2 + 5);
    assert_engine_matches_reference(&model, &x);
    if let Some(binned) = binned_trees(&model) {
        assert_eq!(binned, 1);
    }
}

#[test]
fn the_binned_walk_leaves_trees_deeper_than_8_to_the_scalar_walk() {
    let mut rng = TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha);
    let thresholds: Vec<f64> = (0..9).map(|k| f64::from(k) - 4.5).collect();
    let trees = vec![
        chain(&mut rng, 0, &thresholds[..4]),
        chain(&mut rng, 2, &thresholds),
        chain(&mut rng, 3, &thresholds[..8]),
        chain(&mut rng, 0, &thresholds[1..6]),
    ];
    let model = model_of(trees);
    // 64-row vectors and the rows left over, walked by the scalar engine.
    let x = rows_around(&mut rng, &thresholds, 64 * 3 + 21);
    assert_engine_matches_reference(&model, &x);
    if let Some(binned) = binned_trees(&model) {
        assert_eq!(binned, 3);
    }
}
