//! Bad XGBoost files: every one must be a clear error (or a correct model), never a panic, a
//! hang or a huge allocation.
//!
//! The tests build a small model by hand (a numeric split over a categorical one), check that
//! it predicts what XGBoost's rules say, then break it in every way a corrupted or hostile file
//! could: truncation at every length, wrong types, children out of range, cycles, huge UBJSON
//! length prefixes, deep nesting, and single-byte corruption everywhere.
//!
//! Run: `cargo test -p verdict-model --test xgboost_malformed`.

use ndarray::{Array2, array};
use serde_json::{Value, json};
use verdict_model::import::xgboost::{self, Iterations, Options};
use verdict_model::{FeatureKind, ImportError, Model, ModelFile, Output};

/// A tree as XGBoost writes it; `nodes` is the number of entries in every array.
fn tree(left: &[i64], right: &[i64], features: &[i64], conditions: &[f64]) -> Value {
    let n = left.len();
    json!({
        "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": n.to_string(),
                       "size_leaf_vector": "1"},
        "id": 0,
        "left_children": left,
        "right_children": right,
        "parents": vec![0; n],
        "split_indices": features,
        "split_conditions": conditions,
        "default_left": vec![1; n],
        "split_type": vec![0; n],
        "categories_nodes": [], "categories_segments": [], "categories_sizes": [],
        "categories": [],
        "base_weights": vec![0.0; n],
        "loss_changes": vec![0.0; n],
        "sum_hessian": vec![1.0; n],
    })
}

/// Root: `a < 0.5`. Left: leaf 1. Right: categorical on `b` with the set {1, 3}, whose
/// members go RIGHT to leaf 3 and the rest left to leaf 2. `NaN` goes left at both splits.
fn small_tree() -> Value {
    let mut t = tree(
        &[1, -1, 3, -1, -1],
        &[2, -1, 4, -1, -1],
        &[0, 0, 1, 0, 0],
        &[0.5, 1.0, f64::NAN, 2.0, 3.0],
    );
    t["split_conditions"][2] = json!(0.0);
    t["split_type"] = json!([0, 0, 1, 0, 0]);
    t["categories_nodes"] = json!([2]);
    t["categories_segments"] = json!([0]);
    t["categories_sizes"] = json!([2]);
    t["categories"] = json!([1, 3]);
    t
}

fn model_with(trees: Vec<Value>, objective: &str) -> Value {
    let n = trees.len();
    json!({
        "version": [3, 2, 0],
        "learner": {
            "attributes": {},
            "feature_names": ["a", "b"],
            "feature_types": ["float", "c"],
            "gradient_booster": {"name": "gbtree", "model": {
                "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": n.to_string()},
                "iteration_indptr": (0..=n).collect::<Vec<_>>(),
                "tree_info": vec![0; n],
                "trees": trees,
                "cats": {"enc": [{"offsets": [], "values": []},
                                 {"offsets": [0, 1, 3, 6, 8],
                                  "values": [120, 121, 121, 122, 122, 122, -61, -87]}],
                         "feature_segments": [0, 0, 4], "sorted_idx": []}
            }},
            "learner_model_param": {"base_score": "[5E-1]", "boost_from_average": "1",
                                    "num_class": "0", "num_feature": "2", "num_target": "1"},
            "objective": {"name": objective, "reg_loss_param": {"scale_pos_weight": "1"}}
        }
    })
}

fn small_model() -> Value {
    model_with(vec![small_tree()], "reg:squarederror")
}

fn json_bytes(model: &Value) -> Vec<u8> {
    serde_json::to_vec(model).unwrap()
}

/// UBJSON as XGBoost writes it: 64-bit lengths, typed arrays for numbers.
fn ubjson(value: &Value) -> Vec<u8> {
    fn length(n: usize, out: &mut Vec<u8>) {
        out.push(b'L');
        out.extend((n as i64).to_be_bytes());
    }
    fn write(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Null => out.push(b'Z'),
            Value::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
            Value::Number(n) => match n.as_i64() {
                Some(i) => {
                    out.push(b'L');
                    out.extend(i.to_be_bytes());
                }
                None => {
                    out.push(b'd');
                    out.extend((n.as_f64().unwrap() as f32).to_be_bytes());
                }
            },
            Value::String(s) => {
                out.push(b'S');
                length(s.len(), out);
                out.extend(s.as_bytes());
            }
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_f64) => {
                out.extend(b"[$d#");
                length(items.len(), out);
                for item in items {
                    out.extend((item.as_f64().unwrap() as f32).to_be_bytes());
                }
            }
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_i64) => {
                out.extend(b"[$l#");
                length(items.len(), out);
                for item in items {
                    out.extend((item.as_i64().unwrap() as i32).to_be_bytes());
                }
            }
            Value::Array(items) => {
                out.extend(b"[#");
                length(items.len(), out);
                items.iter().for_each(|item| write(item, out));
            }
            Value::Object(map) => {
                out.push(b'{');
                for (key, item) in map {
                    length(key.len(), out);
                    out.extend(key.as_bytes());
                    write(item, out);
                }
                out.push(b'}');
            }
        }
    }
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

fn import(bytes: &[u8]) -> Result<ModelFile, ImportError> {
    xgboost::from_bytes(bytes, "small", &Options::default())
}

/// The error message of importing `model`, which must fail, from JSON and from UBJSON.
fn errors(model: &Value) -> [String; 2] {
    [json_bytes(model), ubjson(model)].map(|bytes| match import(&bytes) {
        Ok(_) => panic!("a malformed model was accepted: {model}"),
        Err(e) => e.to_string(),
    })
}

fn predict(model: &ModelFile, rows: Array2<f64>) -> Vec<f64> {
    model
        .model
        .predict(rows.view(), Output::Raw)
        .unwrap()
        .column(0)
        .to_vec()
}

const NAN: f64 = f64::NAN;

#[test]
fn the_small_model_follows_xgboost_rules() {
    for bytes in [json_bytes(&small_model()), ubjson(&small_model())] {
        let model = import(&bytes).unwrap();
        let rows = array![
            [0.0, 0.0],
            [NAN, 1.0],
            [1.0, 1.0],
            [1.0, 3.0],
            [1.0, 3.7],
            // Category 1 once cast to f32, as XGBoost casts every input.
            [1.0, 0.999_999_999_9],
            [1.0, 0.0],
            [1.0, 2.0],
            [1.0, -1.0],
            [1.0, NAN],
            [1.0, 33_554_432.0],
            [0.5, 1.0],
            // Below the threshold in f64, but equal to it once cast to f32: it goes right.
            [0.49999999, 3.0],
            [0.4999999, 3.0],
        ];
        let expected = [
            1.5, 1.5, 3.5, 3.5, 3.5, 3.5, 2.5, 2.5, 2.5, 2.5, 2.5, 3.5, 3.5, 1.5,
        ];
        assert_eq!(predict(&model, rows), expected);
        let b = &model.model.signature().features[1];
        // The names come from the `cats` container, as UTF-8 stored in signed bytes.
        let categories = ["x", "yy", "zzz", "é"].map(String::from).to_vec();
        assert_eq!(b.kind, FeatureKind::Categorical { categories });
    }
}

#[test]
fn truncated_json_is_an_error_at_every_length() {
    let bytes = json_bytes(&small_model());
    for len in 0..bytes.len() {
        assert!(import(&bytes[..len]).is_err(), "length {len} was accepted");
    }
}

#[test]
fn truncated_ubjson_is_an_error_at_every_length() {
    let bytes = ubjson(&small_model());
    assert!(import(&bytes).is_ok());
    for len in 0..bytes.len() {
        let err = import(&bytes[..len]).expect_err("a truncated model was accepted");
        assert!(
            matches!(err, ImportError::Malformed { .. }),
            "length {len}: {err}"
        );
    }
}

#[test]
fn wrong_types_are_clear_errors() {
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"] = json!("1,2");
    for e in errors(&m) {
        assert!(e.contains("invalid type"), "{e}");
    }
    let mut m = small_model();
    m["learner"]["learner_model_param"]["num_feature"] = json!("two");
    for e in errors(&m) {
        assert!(e.contains("num_feature") && e.contains("`two`"), "{e}");
    }
    for (field, huge) in [
        ("num_class", "99999999999"),
        ("num_feature", "1000000000000"),
    ] {
        let mut m = small_model();
        m["learner"]["learner_model_param"][field] = json!(huge);
        for e in errors(&m) {
            assert!(e.contains(field) && e.contains("over the limit"), "{e}");
        }
    }
    let mut m = small_model();
    m["learner"]["attributes"] = json!({"best_iteration": u64::MAX.to_string()});
    let options = Options {
        iterations: Iterations::Best,
    };
    assert!(xgboost::from_bytes(&json_bytes(&m), "small", &options).is_ok());
    let mut m = small_model();
    m["learner"]["learner_model_param"]["base_score"] = json!("[0.5");
    for e in errors(&m) {
        assert!(e.contains("base_score"), "{e}");
    }
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"] = json!([1, 2]);
    for e in errors(&m) {
        assert!(
            e.contains("split_conditions has 2 entries for 5 nodes"),
            "{e}"
        );
    }
    let m = json!({"learner": {}});
    for e in errors(&m) {
        assert!(e.contains("missing field"), "{e}");
    }
}

#[test]
fn out_of_range_children_are_errors() {
    for child in [5, 1000, -7] {
        let mut m = small_model();
        m["learner"]["gradient_booster"]["model"]["trees"][0]["right_children"][2] = json!(child);
        for e in errors(&m) {
            assert!(
                e.contains("tree 0, node 2")
                    && e.contains(&format!("child {child} is out of range")),
                "{e}"
            );
        }
    }
}

#[test]
fn cycles_and_shared_children_are_errors() {
    // Node 2's left child is the root: a cycle.
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][2] = json!(0);
    for e in errors(&m) {
        assert!(e.contains("cycle"), "{e}");
    }
    // A node that is its own child.
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["trees"][0]["right_children"][2] = json!(2);
    for e in errors(&m) {
        assert!(e.contains("cycle"), "{e}");
    }
    // Both children of node 2 are node 3.
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["trees"][0]["right_children"][2] = json!(3);
    for e in errors(&m) {
        assert!(e.contains("shared node"), "{e}");
    }
}

#[test]
fn deleted_and_out_of_order_nodes_are_renumbered() {
    // Root 0 splits to 3 (left) and 1 (right); 1 splits to 4 and 2. Node 5 is deleted: it is
    // unreachable and points anywhere.
    let t = tree(
        &[3, 4, -1, -1, -1, 99],
        &[1, 2, -1, -1, -1, 0],
        &[0, 0, 0, 0, 0, 7],
        &[0.0, 10.0, 30.0, -1.0, 20.0, 0.0],
    );
    let model = import(&json_bytes(&model_with(vec![t], "reg:squarederror"))).unwrap();
    let rows = array![[-1.0, 0.0], [5.0, 0.0], [15.0, 0.0], [NAN, 0.0]];
    assert_eq!(predict(&model, rows), [-0.5, 20.5, 30.5, -0.5]);
}

#[test]
fn bad_features_categories_and_outputs_are_errors() {
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["trees"][0]["split_indices"][0] = json!(2);
    for e in errors(&m) {
        assert!(e.contains("split feature 2 is out of range"), "{e}");
    }
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["trees"][0]["categories"] = json!([1, -3]);
    for e in errors(&m) {
        assert!(e.contains("category -3"), "{e}");
    }
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["trees"][0]["categories_sizes"] = json!([9]);
    for e in errors(&m) {
        assert!(e.contains("out of range"), "{e}");
    }
    let mut m = small_model();
    m["learner"]["gradient_booster"]["model"]["tree_info"] = json!([1]);
    for e in errors(&m) {
        assert!(e.contains("tree_info[0]"), "{e}");
    }
}

#[test]
fn unsupported_objectives_and_boosters_are_named() {
    let m = model_with(vec![small_tree()], "reg:madeup");
    for e in errors(&m) {
        assert!(
            e.contains("unsupported") && e.contains("`reg:madeup`"),
            "{e}"
        );
    }
    let mut m = small_model();
    m["learner"]["gradient_booster"]["name"] = json!("gbforest");
    for e in errors(&m) {
        assert!(e.contains("`gbforest`"), "{e}");
    }
}

#[test]
fn impossible_base_scores_are_errors() {
    let mut m = model_with(vec![small_tree()], "binary:logistic");
    m["learner"]["learner_model_param"]["base_score"] = json!("[1.5E0]");
    for e in errors(&m) {
        assert!(e.contains("(0, 1)"), "{e}");
    }
    let mut m = model_with(vec![small_tree()], "count:poisson");
    m["learner"]["learner_model_param"]["base_score"] = json!("0");
    for e in errors(&m) {
        assert!(e.contains("positive"), "{e}");
    }
}

/// The offset in `bytes` just after the first occurrence of `key`.
fn after(bytes: &[u8], key: &[u8]) -> usize {
    bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len()
}

#[test]
fn huge_ubjson_length_prefixes_are_errors_without_allocating() {
    let bytes = ubjson(&small_model());
    // The count of the `split_conditions` typed array, and the length of a string.
    let count_at = after(&bytes, b"split_conditions[$d#L");
    let string_at = after(&bytes, b"nameSL");
    for (at, value) in [
        (count_at, 1i64 << 62),
        (count_at, i64::MAX),
        (count_at, -1),
        (string_at, 1i64 << 40),
        (string_at, -5),
    ] {
        let mut patched = bytes.clone();
        patched[at..at + 8].copy_from_slice(&value.to_be_bytes());
        let err = import(&patched).expect_err("a huge length was accepted");
        let text = err.to_string();
        assert!(
            text.contains("claims") || text.contains("negative") || text.contains("truncated"),
            "{value}: {text}"
        );
    }
}

#[test]
fn deep_nesting_is_an_error() {
    // Under a key the importer skips, so that only the nesting limit can stop the reader.
    let depth = 100_000;
    let json = [
        b"{\"skipped\":".to_vec(),
        vec![b'['; depth],
        vec![b']'; depth],
        b"}".to_vec(),
    ]
    .concat();
    // serde_json skips ignored values without recursing (and limits recursion to 128 where it
    // does recurse): the document is read to its end and found to lack a `learner`.
    let err = import(&json).unwrap_err().to_string();
    assert!(err.contains("missing field `learner`"), "{err}");
    let mut ubj = b"{L\x00\x00\x00\x00\x00\x00\x00\x07skipped".to_vec();
    ubj.extend(vec![b'['; depth]);
    ubj.extend(vec![b']'; depth]);
    ubj.push(b'}');
    let err = import(&ubj).unwrap_err().to_string();
    assert!(err.contains("nest deeper than 128"), "{err}");
}

#[test]
fn corrupting_any_byte_never_panics() {
    for bytes in [json_bytes(&small_model()), ubjson(&small_model())] {
        for at in 0..bytes.len() {
            for value in [0x00, 0xff, b'L', b'[', b'{', b'}', b'#', b'$', b'1', b'-'] {
                let mut corrupt = bytes.clone();
                corrupt[at] = value;
                // Whatever imports must also predict without panicking.
                if let Ok(model) = import(&corrupt) {
                    let rows = array![[0.0, 1.0], [NAN, NAN], [1e30, -1e30]];
                    let _ = model.model.predict(rows.view(), Output::Raw);
                }
            }
        }
    }
}

#[test]
fn dart_weights_load_from_every_layout() {
    let mut base = small_model();
    let trees = json!([small_tree(), small_tree()]);
    base["learner"]["gradient_booster"]["model"]["trees"] = trees;
    base["learner"]["gradient_booster"]["model"]["tree_info"] = json!([0, 0]);
    base["learner"]["gradient_booster"]["model"]["iteration_indptr"] = json!([0, 1, 2]);
    base["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] = json!("2");
    let model = base["learner"]["gradient_booster"]["model"].clone();
    let weights = json!([0.5, 0.25]);

    // Up to 3.2: a `dart` booster wrapping a gbtree, weights beside it.
    let mut v32 = base.clone();
    v32["learner"]["gradient_booster"] = json!({
        "name": "dart", "gbtree": {"name": "gbtree", "model": model}, "weight_drop": weights});
    // 3.3: a `gbtree` booster with the weights beside `model`.
    let mut v33 = base.clone();
    v33["learner"]["gradient_booster"]["weight_drop"] = weights.clone();
    // 3.4: the weights inside `model`.
    let mut v34 = base.clone();
    v34["learner"]["gradient_booster"]["model"]["weight_drop"] = weights;

    let rows = array![[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]];
    // 0.5 + 0.5 * leaf + 0.25 * leaf
    let expected = [1.25, 2.75, 2.0];
    for layout in [v32, v33, v34] {
        for bytes in [json_bytes(&layout), ubjson(&layout)] {
            let model = import(&bytes).unwrap();
            assert_eq!(predict(&model, rows.clone()), expected, "{layout}");
        }
        let mut short = layout.clone();
        for path in [
            "/learner/gradient_booster/weight_drop",
            "/learner/gradient_booster/model/weight_drop",
        ] {
            if let Some(slot) = short.pointer_mut(path) {
                *slot = json!([1.0]);
            }
        }
        for e in errors(&short) {
            assert!(
                e.contains("1 DART weights (weight_drop) for 2 trees"),
                "{e}"
            );
        }
    }
}

#[test]
fn best_iteration_keeps_the_trees_up_to_it() {
    let mut m = small_model();
    let second = tree(&[-1], &[-1], &[0], &[100.0]);
    m["learner"]["gradient_booster"]["model"]["trees"] = json!([small_tree(), second]);
    m["learner"]["gradient_booster"]["model"]["tree_info"] = json!([0, 0]);
    m["learner"]["gradient_booster"]["model"]["iteration_indptr"] = json!([0, 1, 2]);
    m["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] = json!("2");
    m["learner"]["attributes"] = json!({"best_iteration": "0"});
    let bytes = json_bytes(&m);
    let rows = array![[0.0, 0.0]];
    let all = import(&bytes).unwrap();
    assert_eq!(predict(&all, rows.clone()), [101.5]);
    let best = Options {
        iterations: Iterations::Best,
    };
    let best = xgboost::from_bytes(&bytes, "small", &best).unwrap();
    assert_eq!(predict(&best, rows), [1.5]);
    assert!(best.info.description.contains("best_iteration 0"));

    m["learner"]["attributes"] = json!({"best_iteration": "soon"});
    let options = Options {
        iterations: Iterations::Best,
    };
    let err = xgboost::from_bytes(&json_bytes(&m), "small", &options).unwrap_err();
    assert!(err.to_string().contains("best_iteration"), "{err}");
}

#[test]
fn vector_leaves_load_from_both_layouts() {
    // Two targets; root `a < 0`, leaves (1, 2) on the left and (3, 4) on the right.
    let mut t = tree(&[1, -1, -1], &[2, -1, -1], &[0, 0, 0], &[0.0, 0.0, 0.0]);
    t["tree_param"]["size_leaf_vector"] = json!("2");
    let mut m = model_with(vec![], "reg:squarederror");
    m["learner"]["learner_model_param"]["num_target"] = json!("2");
    m["learner"]["learner_model_param"]["base_score"] = json!("[1E0,2E0]");
    m["learner"]["feature_types"] = json!(["float", "float"]);

    // 3.2+: `leaf_weights`, indexed by the leaf's right child.
    let mut indexed = t.clone();
    indexed["right_children"] = json!([2, 1, 0]);
    indexed["leaf_weights"] = json!([3.0, 4.0, 1.0, 2.0]);
    // Before: `base_weights`, two per node.
    let mut by_node = t;
    by_node["base_weights"] = json!([0.0, 0.0, 1.0, 2.0, 3.0, 4.0]);

    let rows = array![[-1.0, 0.0], [1.0, 0.0]];
    for layout in [indexed, by_node] {
        let mut model = m.clone();
        model["learner"]["gradient_booster"]["model"]["trees"] = json!([layout]);
        model["learner"]["gradient_booster"]["model"]["tree_info"] = json!([0]);
        model["learner"]["gradient_booster"]["model"]["iteration_indptr"] = json!([0, 1]);
        model["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] =
            json!("1");
        for bytes in [json_bytes(&model), ubjson(&model)] {
            let imported = import(&bytes).unwrap();
            let raw = imported.model.predict(rows.view(), Output::Raw).unwrap();
            assert_eq!(raw, array![[2.0, 4.0], [4.0, 6.0]]);
        }
    }
}

#[test]
fn a_nan_split_condition_is_refused() {
    let mut model = small_model();
    model["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"][0] =
        json!(12345.5);
    // XGBoost's JSON writes a NaN float as the bare word `NaN`; UBJSON as its bits.
    let json = String::from_utf8(json_bytes(&model))
        .unwrap()
        .replacen("12345.5", "NaN", 1)
        .into_bytes();
    let mut binary = ubjson(&model);
    let at = binary
        .windows(4)
        .position(|w| w == 12345.5f32.to_be_bytes())
        .unwrap();
    binary[at..at + 4].copy_from_slice(&f32::NAN.to_be_bytes());
    for bytes in [json, binary] {
        match import(&bytes) {
            Err(error) => assert!(
                error.to_string().contains("split condition is NaN"),
                "{error}"
            ),
            Ok(_) => panic!("a NaN split was accepted"),
        }
    }
}
