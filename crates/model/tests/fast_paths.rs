//! Every fixture model of every library is scored by the engine its trees call for, never by
//! the reference evaluator unnoticed.
//!
//! The parity tests compare predictions with the libraries' own, and `tests/engine.rs`
//! compares the engines with the reference evaluator: both would still pass if a model fell
//! back to the reference (correct, and many times slower). Here the engine a model reports is
//! checked against what its trees are: only trees with linear leaves may be left to the
//! reference, and only models without trees the engines take (linear models, scikit-learn
//! pipelines) are scored by the reference alone.

use std::fs;
use std::path::{Path, PathBuf};

use verdict_model::family::Engine;
use verdict_model::family::preprocess::Step;
use verdict_model::{Family, load};

/// The model files of every fixture case of every library.
fn fixture_models() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut models = Vec::new();
    for library in ["xgboost", "lightgbm", "sklearn", "catboost"] {
        let cases = fs::read_dir(root.join(library))
            .unwrap_or_else(|e| panic!("the {library} fixtures are in tests/fixtures: {e}"));
        for case in cases {
            let case = case.unwrap().path();
            // Fixtures of what Verdict refuses to load (the parity tests check the error).
            if case.to_string_lossy().ends_with("_refused") {
                continue;
            }
            for file in ["model.json", "model.ubj", "model.txt", "model.cbm"] {
                if case.join(file).is_file() {
                    models.push(case.join(file));
                }
            }
        }
    }
    models.sort();
    models
}

/// The engine a family's trees call for: the one a model must report, read from the model's
/// structure rather than from the engine.
fn expected(family: &Family) -> Expected {
    match family {
        Family::Trees(ensemble) => Expected::Trees {
            trees: ensemble.trees.len(),
            linear_leaves: ensemble.trees.iter().filter(|t| t.linear.is_some()).count(),
        },
        Family::Oblivious(ensemble) => Expected::Oblivious {
            trees: ensemble.trees.len(),
        },
        // CatBoost's categorical step feeds its trees' engine; other steps (scikit-learn's
        // preprocessing) leave the whole pipeline to the reference.
        Family::Pipeline(pipeline) => match pipeline.steps.as_slice() {
            [Step::CatBoostCategorical(_)] => expected(&pipeline.model),
            _ => Expected::Reference,
        },
        Family::Linear(_) => Expected::Reference,
    }
}

#[derive(Debug)]
enum Expected {
    Trees { trees: usize, linear_leaves: usize },
    Oblivious { trees: usize },
    Reference,
}

fn matches(engine: Engine, expected: &Expected) -> bool {
    match (expected, engine) {
        (
            Expected::Trees {
                trees,
                linear_leaves,
            },
            Engine::Trees {
                complete,
                nodes,
                reference,
                binned,
            },
        ) => {
            complete + nodes + reference == *trees
                && reference == *linear_leaves
                && binned <= *trees - linear_leaves
        }
        (Expected::Oblivious { trees }, Engine::Oblivious { trees: compiled }) => {
            compiled == *trees
        }
        (Expected::Reference, Engine::Reference) => true,
        _ => false,
    }
}

#[test]
fn every_fixture_is_scored_by_the_engine_its_trees_call_for() {
    let models = fixture_models();
    assert!(
        models.len() >= 150,
        "only {} fixture models found",
        models.len()
    );
    let mut wrong = Vec::new();
    let mut compiled = 0;
    for path in &models {
        let file = load(path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let engine = file.model.engine();
        let expected = expected(file.model.family());
        if !matches(engine, &expected) {
            wrong.push(format!(
                "{}: {engine:?}, expected {expected:?}",
                path.display()
            ));
        }
        compiled += usize::from(engine != Engine::Reference);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    println!("{compiled} of {} fixture models compiled", models.len());
}
