//! Malformed LightGBM files: every truncation of real fixtures, and targeted corruptions.
//!
//! Each must give [`ImportError::Malformed`] naming the line at fault (or
//! [`ImportError::Unsupported`] for a valid file Verdict does not handle), never a panic, a
//! hang, or a model that predicts something else.
//!
//! Run: `cargo test -p verdict-model --test lightgbm_malformed`.

use std::path::Path;

use ndarray::Array2;
use proptest::prelude::*;
use verdict_model::{Error, ImportError, Model, ModelFile, Output, SourceFormat, import};

fn fixture(case: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/lightgbm")
        .join(case)
        .join("model.txt");
    std::fs::read_to_string(path).expect("the fixture exists")
}

fn import(text: &[u8]) -> Result<ModelFile, Error> {
    import::from_bytes(text, "model", Some(SourceFormat::Lightgbm))
}

/// The location and message of a malformed-model error; panics on anything else.
fn malformed(text: &str) -> (String, String) {
    match import(text.as_bytes()) {
        Err(Error::Import(ImportError::Malformed {
            format,
            location,
            message,
        })) => {
            assert_eq!(format, "LightGBM");
            (location, message)
        }
        Err(other) => panic!("expected a malformed-model error, got: {other}"),
        Ok(_) => panic!("expected a malformed-model error, the import succeeded"),
    }
}

/// Asserts that `text` is malformed at line `line` with a message containing `fragment`.
fn assert_malformed(text: &str, line: usize, fragment: &str) {
    let (location, message) = malformed(text);
    assert_eq!(location, format!("line {line}"), "{message}");
    assert!(
        message.contains(fragment),
        "`{message}` does not contain `{fragment}`"
    );
}

/// The line number (from 1) of the first line starting with `prefix` at or after line `from`.
fn line_of(text: &str, prefix: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, line)| line.starts_with(prefix))
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no line starts with `{prefix}`"))
}

/// `text` with line `line` (from 1) replaced by `replacement`.
fn replace_line(text: &str, line: usize, replacement: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { replacement } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `text` with the first line starting with `key=` at or after line `from` given a new value.
fn set(text: &str, from: usize, key: &str, value: &str) -> (String, usize) {
    let line = line_of(text, &format!("{key}="), from);
    (replace_line(text, line, &format!("{key}={value}")), line)
}

/// Rows that reach many leaves: zeros, NaN, small codes and a spread of values.
fn probe_rows(features: usize) -> Array2<f64> {
    let values = [
        0.0,
        f64::NAN,
        1.0,
        2.0,
        -0.5,
        0.25,
        -1.5,
        3.0,
        47.0,
        1e-36,
        -2.0,
    ];
    Array2::from_shape_fn((64, features), |(r, c)| {
        values[(r * 5 + c * 3 + r / 7) % values.len()]
    })
}

fn raw(model: &ModelFile) -> Array2<f64> {
    let features = model.model.signature().num_features();
    model
        .model
        .predict(probe_rows(features).view(), Output::Raw)
        .unwrap()
}

/// Every prefix of `text` that ends at a line boundary is either malformed, or (once all the
/// trees are in) a model that predicts exactly what the whole file does.
fn check_line_truncations(case: &str) {
    let text = fixture(case);
    let whole = import(text.as_bytes()).unwrap();
    let expected = raw(&whole);
    let end_of_trees = line_of(&text, "end of trees", 1);
    let parameters = line_of(&text, "parameters:", end_of_trees);
    let end_of_parameters = line_of(&text, "end of parameters", parameters);
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let kept = i; // lines 1..=i are kept
        let prefix = &text[..offset];
        offset += line.len();
        let complete = kept >= end_of_trees && !(parameters..end_of_parameters).contains(&kept);
        match import(prefix.as_bytes()) {
            Ok(model) => {
                assert!(
                    complete,
                    "{case}: the first {kept} lines were accepted as a model"
                );
                assert_eq!(raw(&model), expected, "{case}: the first {kept} lines");
            }
            Err(Error::Import(ImportError::Malformed { .. })) => {
                assert!(
                    !complete,
                    "{case}: the first {kept} lines, a complete model, were refused"
                );
            }
            Err(other) => panic!("{case}: the first {kept} lines: unexpected error {other}"),
        }
    }
}

#[test]
fn every_line_truncation_of_a_categorical_model_is_refused_until_its_trees_are_complete() {
    check_line_truncations("categorical_pandas_binary");
}

#[test]
fn every_line_truncation_of_a_linear_tree_model_is_refused_until_its_trees_are_complete() {
    check_line_truncations("linear_tree");
}

#[test]
fn every_line_truncation_of_a_multiclass_forest_is_refused_until_its_trees_are_complete() {
    check_line_truncations("v3_multiclass_wine");
    check_line_truncations("rf_binary");
}

#[test]
fn every_byte_truncation_of_a_small_model_is_refused_or_identical() {
    let text = fixture("constant_model");
    let expected = raw(&import(text.as_bytes()).unwrap());
    let trees_end = text.find("end of trees").unwrap() + "end of trees".len();
    for len in 0..text.len() {
        match import(&text.as_bytes()[..len]) {
            Ok(model) => {
                assert!(len >= trees_end, "the first {len} bytes were accepted");
                assert_eq!(raw(&model), expected, "the first {len} bytes");
            }
            Err(Error::Import(ImportError::Malformed { .. })) => {}
            Err(other) => panic!("the first {len} bytes: unexpected error {other}"),
        }
    }
}

#[test]
fn a_truncated_pandas_categorical_line_is_refused() {
    let text = fixture("categorical_pandas_regression");
    let line = line_of(&text, "pandas_categorical:", 1);
    let cut = text.trim_end().len() - 10;
    assert_malformed(&text[..cut], line, "pandas_categorical is not JSON");
}

#[test]
fn wrong_counts_are_refused() {
    let text = fixture("categorical_pandas_binary");
    let tree0 = line_of(&text, "Tree=0", 1);
    let (bad, line) = set(&text, tree0, "leaf_value", "0.5 0.25");
    assert_malformed(&bad, line, "tree 0: `leaf_value` has 2 values, expected 12");
    let (bad, line) = set(&text, tree0, "threshold", "0 1 2");
    assert_malformed(&bad, line, "`threshold` has 3 values, expected 11");
    let (bad, line) = set(&text, tree0, "cat_threshold", "1 2 3");
    assert_malformed(&bad, line, "`cat_threshold` has 3 values, expected 8");
    let (bad, line) = set(&text, tree0, "num_leaves", "4294967295");
    let split_feature = line_of(&bad, "split_feature=", line);
    assert_malformed(&bad, split_feature, "expected 4294967294");
    let (bad, line) = set(&text, tree0, "num_leaves", "0");
    assert_malformed(&bad, line, "num_leaves must be at least 1");
    let (bad, line) = set(&text, 1, "feature_names", "a b c");
    assert_malformed(&bad, line, "feature_names has 3 entries");
    let (bad, line) = set(&text, 1, "max_feature_idx", "18446744073709551615");
    assert_malformed(&bad, line, "too large");
    let (bad, line) = set(&text, 1, "tree_sizes", "1 2 3");
    assert_malformed(&bad, line, "tree_sizes lists 3 trees but the file has 40");
}

#[test]
fn bad_numbers_are_refused() {
    let text = fixture("categorical_pandas_binary");
    let tree3 = line_of(&text, "Tree=3", 1);
    let (bad, line) = set(&text, tree3, "threshold", "0 1 2 3 0.5 0.25 4 x 1 2 5");
    assert_malformed(
        &bad,
        line,
        "tree 3: value 7 of `threshold` is `x`, which is not a number",
    );
    let (bad, line) = set(
        &text,
        tree3,
        "left_child",
        "3 2 9 4 -1 -4 8 -5 -7 -2 99999999999",
    );
    assert_malformed(&bad, line, "which is not a 32-bit integer");
    let (bad, line) = set(&text, tree3, "split_feature", "3 3 1 1 0 0 1 0 0 -1 1");
    assert_malformed(&bad, line, "which is not a non-negative integer");
    let (bad, line) = set(&text, 1, "num_class", "one");
    assert_malformed(&bad, line, "`num_class` is `one`");
}

/// Tree 0 of `categorical_pandas_binary` with `left_child` / `right_child` replaced.
fn tree0_children(left: &str, right: &str) -> (String, usize, usize) {
    let text = fixture("categorical_pandas_binary");
    let tree0 = line_of(&text, "Tree=0", 1);
    let (text, left_line) = set(&text, tree0, "left_child", left);
    let (text, right_line) = set(&text, tree0, "right_child", right);
    (text, left_line, right_line)
}

#[test]
fn children_out_of_range_cycles_and_shared_nodes_are_refused() {
    // The original: left 3 2 9 4 -1 -4 8 -5 -7 -2 -9, right 1 -3 5 7 -6 6 -8 10 -10 -11 -12.
    let right = "1 -3 5 7 -6 6 -8 10 -10 -11 -12";
    let (bad, line, _) = tree0_children("11 2 9 4 -1 -4 8 -5 -7 -2 -9", right);
    assert_malformed(
        &bad,
        line,
        "tree 0, node 0: child 11 is out of range (the tree has 11 internal nodes and 12 leaves)",
    );
    let (bad, line, _) = tree0_children("3 2 9 4 -13 -4 8 -5 -7 -2 -9", right);
    assert_malformed(&bad, line, "child -13 is out of range");
    // Node 1 points back at the root.
    let (bad, line, _) = tree0_children("3 0 9 4 -1 -4 8 -5 -7 -2 -9", right);
    assert_malformed(
        &bad,
        line,
        "tree 0, node 1: child 0 is reached twice (a cycle",
    );
    // Node 4 points back at its parent, node 3.
    let (bad, line, _) = tree0_children("3 2 9 4 3 -4 8 -5 -7 -2 -9", right);
    assert_malformed(&bad, line, "tree 0, node 4: child 3 is reached twice");
    // Two nodes share leaf 0.
    let (bad, _, line) = tree0_children(
        "3 2 9 4 -1 -4 8 -5 -7 -2 -9",
        "1 -3 5 7 -1 6 -8 10 -10 -11 -12",
    );
    assert_malformed(&bad, line, "is reached twice (a cycle or a shared leaf)");
    // The root's right child replaced by a leaf of node 1's: node 1 is cut off.
    let (bad, line, _) = tree0_children(
        "3 2 9 4 -1 -4 8 -5 -7 -2 -9",
        "-3 -3 5 7 -6 6 -8 10 -10 -11 -12",
    );
    assert_malformed(
        &bad,
        line,
        "tree 0: internal node 1 is not reachable from the root",
    );
}

#[test]
fn bad_splits_are_refused() {
    let text = fixture("categorical_pandas_binary");
    let tree0 = line_of(&text, "Tree=0", 1);
    // decision_type=9 9 9 9 2 2 9 2 2 2 9; bits 2-3 = 3 is no missing type.
    for decision in ["12", "16", "-1"] {
        let (bad, line) = set(
            &text,
            tree0,
            "decision_type",
            &format!("9 9 9 9 {decision} 2 9 2 2 2 9"),
        );
        assert_malformed(
            &bad,
            line,
            &format!("tree 0, node 4: decision_type {decision}"),
        );
    }
    // threshold=0 1 2 3 ...: categorical node 0 uses bitset 0 of num_cat=6.
    let (bad, line) = set(
        &text,
        tree0,
        "threshold",
        "6 1 2 3 0.049663346132019309 0.0084513553129596675 4 0.80308084430854099 1.2310572391291947 -1.3960871924038789 5",
    );
    assert_malformed(
        &bad,
        line,
        "categorical split 6 is not an index below num_cat=6",
    );
    let (bad, line) = set(&text, tree0, "cat_boundaries", "0 4 2 5 6 7 8");
    assert_malformed(
        &bad,
        line,
        "cat_boundaries must start at 0 and never decrease",
    );
    let (bad, line) = set(&text, tree0, "split_feature", "3 3 1 1 0 0 1 0 0 0 4");
    assert_malformed(&bad, line, "tree 0, node 10: feature 4 is out of range");
}

#[test]
fn bad_linear_leaves_are_refused() {
    let text = fixture("linear_tree");
    let tree1 = line_of(&text, "Tree=1", 1);
    let (bad, line) = set(
        &text,
        tree1,
        "leaf_features",
        "0 1  0 1  0 1  0 1  0 1  0  ",
    );
    assert_malformed(&bad, line, "`leaf_features` has 11 values, expected 12");
    let (bad, line) = set(
        &text,
        tree1,
        "leaf_features",
        "0 1  0 1  0 1  0 1  0 1  0 4  ",
    );
    assert_malformed(
        &bad,
        line,
        "tree 1: linear leaf feature 4 (value 11) is out of range",
    );
    let (bad, line) = set(&text, tree1, "is_linear", "2");
    assert_malformed(&bad, line, "is_linear must be 0 or 1");
}

#[test]
fn bad_structure_is_refused() {
    let text = fixture("multiclass_wine");
    let tree5 = line_of(&text, "Tree=5", 1);
    assert_malformed(
        &replace_line(&text, tree5, "Tree=6"),
        tree5,
        "expected `Tree=5`, found `Tree=6`",
    );
    let line = line_of(&text, "num_leaves=", tree5);
    assert_malformed(
        &replace_line(&text, line + 1, "num_leaves=6"),
        line + 1,
        "tree 5: the key `num_leaves` appears twice",
    );
    assert_malformed(
        &replace_line(&text, line, "num_leaves"),
        line,
        "tree 5: expected a `key=value` line",
    );
    // Drop the last tree (and its size): 89 trees are not whole iterations of 3.
    let last = line_of(&text, "Tree=89", 1);
    let end = line_of(&text, "end of trees", last);
    let sizes_line = line_of(&text, "tree_sizes=", 1);
    let sizes = text.lines().nth(sizes_line - 1).unwrap();
    let fewer_sizes = &sizes[..sizes.rfind(' ').unwrap()];
    let lines: Vec<&str> = text.lines().collect();
    let dropped = [&lines[..last - 1], &lines[end - 1..]].concat().join("\n") + "\n";
    let dropped = replace_line(&dropped, sizes_line, fewer_sizes);
    assert_malformed(
        &dropped,
        last,
        "89 trees, not a whole number of iterations of 3 trees",
    );
    assert_malformed(
        &replace_line(&text, 1, "three"),
        1,
        "starts with the line `tree`",
    );
    assert_malformed("", 1, "before the first line `tree`");
    assert_malformed("tree\n", 2, "before the first tree");
    let mut latin1 = text.clone().into_bytes();
    let at = text.find("magnesium").unwrap();
    latin1[at] = 0xE9;
    let line = text[..at].matches('\n').count() + 1;
    match import(&latin1) {
        Err(Error::Import(ImportError::Malformed { location, .. })) => {
            assert_eq!(location, format!("line {line}"));
        }
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[test]
fn bad_objectives_are_refused() {
    let text = fixture("binary_breast_cancer");
    let line = line_of(&text, "objective=", 1);
    assert_malformed(
        &replace_line(&text, line, "objective=binary"),
        line,
        "objective binary has no sigmoid: argument",
    );
    assert_malformed(
        &replace_line(&text, line, "objective=binary sigmoid:-1"),
        line,
        "sigmoid:-1 is not a positive number",
    );
    match import(replace_line(&text, line, "objective=focal_loss alpha:0.25").as_bytes()) {
        Err(Error::Import(ImportError::Unsupported { what, .. })) => {
            assert!(what.contains("`focal_loss`"), "{what}");
        }
        other => panic!("expected unsupported, got {other:?}"),
    }
    let text = fixture("multiclass_wine");
    let line = line_of(&text, "objective=", 1);
    assert_malformed(
        &replace_line(&text, line, "objective=multiclass num_class:4"),
        line,
        "objective multiclass has num_class:4, but the header says num_class=3",
    );
    // Consistent but absurd class counts are bounded by the trees in the file, before any
    // allocation.
    let huge = "1000000000000";
    let absurd = replace_line(
        &text,
        line,
        &format!("objective=multiclass num_class:{huge}"),
    );
    let (absurd, _) = set(&absurd, 1, "num_class", huge);
    let (absurd, classes) = set(&absurd, 1, "num_tree_per_iteration", huge);
    assert_malformed(
        &absurd,
        classes,
        "1000000000000 trees per iteration, but the file has 90 trees",
    );
    let (none, _) = set(&text, 1, "num_tree_per_iteration", "0");
    assert_malformed(&none, classes, "0 trees per iteration");
    let regression = replace_line(&text, line, "objective=regression");
    assert_malformed(
        &regression,
        classes,
        "objective regression has one output, but the header announces 3 trees per iteration",
    );
}

#[test]
fn bad_pandas_categorical_trailers_are_refused() {
    let text = fixture("categorical_pandas_binary");
    let line = line_of(&text, "pandas_categorical:", 1);
    assert_malformed(
        &replace_line(&text, line, "pandas_categorical:[[\"a\", null], [\"b\"]]"),
        line,
        "pandas_categorical holds null",
    );
    match import(replace_line(&text, line, "pandas_categorical:[[\"a\", \"b\"]]").as_bytes()) {
        Err(Error::Import(ImportError::Unsupported { what, .. })) => {
            assert!(what.contains("has 1 category lists but the model has 2 categorical features"));
        }
        other => panic!("expected unsupported, got {other:?}"),
    }
    let extra = text.clone() + "something else\n";
    assert_malformed(&extra, line + 1, "after the pandas_categorical line");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any line of a real model replaced by junk, a copy of another line, or nothing gives a
    /// model or an error, never a panic.
    #[test]
    fn corrupted_lines_never_panic(
        target in 0usize..500,
        source in 0usize..500,
        junk in "[-0-9a-z= .:]{0,24}",
        mode in 0u8..3,
    ) {
        let text = fixture("early_stopping_multiclass");
        let lines: Vec<&str> = text.lines().collect();
        let target = target % lines.len();
        let source_line = lines[source % lines.len()];
        let mut edited: Vec<&str> = lines.clone();
        match mode {
            0 => edited[target] = &junk,
            1 => edited[target] = source_line,
            _ => { edited.remove(target); }
        }
        let _ = import((edited.join("\n") + "\n").as_bytes());
    }

    /// Random children and decision types in a real tree (4 internal nodes, 5 leaves, so
    /// `-6..5` reaches past both ends) give a model or an error, never a panic or a hang.
    #[test]
    fn random_tree_arrays_never_panic(
        left in proptest::collection::vec(-6i32..5, 4),
        right in proptest::collection::vec(-6i32..5, 4),
        decision in proptest::collection::vec(0i8..16, 4),
    ) {
        let text = fixture("early_stopping_multiclass");
        let tree0 = line_of(&text, "Tree=0", 1);
        let join = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(" ");
        let (text, _) = set(&text, tree0, "left_child", &join(&left));
        let (text, _) = set(&text, tree0, "right_child", &join(&right));
        let decision: Vec<i32> = decision.iter().map(|&d| i32::from(d)).collect();
        let (text, _) = set(&text, tree0, "decision_type", &join(&decision));
        if let Ok(model) = import(text.as_bytes()) {
            let _ = raw(&model);
        }
    }
}

#[test]
fn num_class_must_fit_a_single_output_objective() {
    let text =
        fixture("binary_breast_cancer").replacen("num_class=1\n", "num_class=1000000000\n", 1);
    let line = line_of(&text, "num_class=", 0);
    assert_malformed(&text, line, "num_class=1000000000 with objective binary");
}

#[test]
fn a_huge_line_is_quoted_in_part() {
    let text = "x".repeat(200_000);
    let (_, message) = malformed(&text);
    assert!(
        message.len() < 300,
        "{} bytes: {}",
        message.len(),
        &message[..300]
    );
    assert!(message.contains("(199920 more bytes)"), "{message}");
}
