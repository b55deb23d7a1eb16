//! The fast prediction engine.
//!
//! The families in [`crate::family`] say *what* a model computes and are evaluated one row and
//! one node at a time: that is the reference. This module compiles a [`TreeEnsemble`] into a
//! layout built for speed and computes the same numbers, bit for bit:
//!
//! - one flat array of 12- or 16-byte nodes for all trees, laid out breadth-first with the two
//!   children of a node side by side, so a step is `next = left + go_right`;
//! - rows scored in blocks, tree by tree, so each tree stays in cache while a block passes
//!   through it, with the block's features copied once into a contiguous buffer of the
//!   comparison type (`f32` for XGBoost and scikit-learn trees, `f64` for LightGBM);
//! - for shallow trees, several rows walk the same tree in lock-step for exactly `depth` steps,
//!   with leaves that point to themselves, so the walk has no data-dependent branches;
//! - trees with categorical splits or linear leaves fall back to the reference evaluator, tree
//!   by tree, keeping the summation order.
//!
//! `tests/engine.rs` checks that this engine equals the reference on random ensembles with
//! missing values, thresholds hit exactly, and every split rule.

mod tree;

pub(crate) use tree::CompiledTrees;

#[cfg(doc)]
use crate::family::tree::TreeEnsemble;
