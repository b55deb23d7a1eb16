//! The fast prediction engine.
//!
//! The families in [`crate::family`] say *what* a model computes and are evaluated one row and
//! one node at a time: that is the reference. This module compiles a [`TreeEnsemble`] into a
//! layout built for speed and computes the same numbers, bit for bit:
//!
//! - trees of depth 10 or less (unless padding would more than quadruple them) are stored
//!   *complete*: `2^depth - 1` splits of 8 or 16 bytes with implicit children, so a step is
//!   `next = 2i + 1 + go_right` with no child pointer to load, and a leaf above the last
//!   level becomes a chain of splits that always go left;
//! - deeper trees go into one flat array of 12- or 16-byte nodes, laid out breadth-first with
//!   the two children of a node side by side, so a step is `next = left + go_right`;
//! - rows scored in blocks (64 rows; 256 when the compiled trees outgrow a 2 MB cache),
//!   tree by tree, so each tree stays in cache while a block passes through it, with the
//!   block's features copied once into a contiguous buffer of the comparison type (`f32` for
//!   XGBoost and scikit-learn trees, `f64` for LightGBM);
//! - sixteen rows walk a tree in lock-step, so their independent walks (and cache misses)
//!   overlap; leaves point to themselves, so shallow trees are walked for exactly `depth`
//!   steps with no data-dependent branch, and deep ones stop once all sixteen rows rest;
//! - the rows of a last group of fewer than sixteen (a single request) turn this around:
//!   each walks sixteen trees in lock-step, then adds their leaves in tree order, so one row
//!   is not one long chain of dependent loads through every tree (300 trees of depth 8: 13 µs
//!   a row one tree at a time, about 5 µs sixteen at a time); a tree too sparse to be walked
//!   complete by blocks keeps a complete copy for these walks (when it costs at most 16 times
//!   its nodes), so that sixteen trees of one depth step with no test per step;
//! - on a CPU with AVX-512, blocks walk the numeric trees of depth 8 or less *binned*
//!   ([`tree::binned`](tree)): each feature value becomes once per row the count of its
//!   feature's thresholds below it (a byte, as gradient boosting's histograms leave at most 254
//!   thresholds a feature), so 64 rows fill a register and a level of a tree is a few vector
//!   instructions for all of them (2.4x the scalar walk with 300 trees of depth 8); the rows
//!   of a last, partial group are binned too, and walk sixteen binned trees side by side on
//!   splits of four bytes rather than 8 or 16 (one row through 300 trees of depth 8 in about
//!   4.5 µs rather than 5.3 with LightGBM's `f64` thresholds);
//! - a categorical split (XGBoost's and LightGBM's) is a node of the same array with a flag:
//!   its step looks the row's category up in the node's bitset exactly as the reference
//!   does, so trees with categorical splits stay in the engine (walked by nodes, never stored
//!   complete);
//! - trees with linear leaves, and categorical splits under scikit-learn's `f32` rule (whose
//!   block holds `f32(x)`, not the `x` the category is read from), fall back to the
//!   reference evaluator, tree by tree, keeping the summation order.
//!
//! Oblivious trees (CatBoost's) have an engine of their own, [`oblivious`]: each feature is
//! binarised once per row against all its borders, and a leaf index is a bit per level.
//!
//! `tests/engine.rs` checks that this engine equals the reference on random ensembles with
//! missing values, thresholds hit exactly, and every split rule.

mod oblivious;
mod tree;

pub(crate) use oblivious::CompiledOblivious;
pub(crate) use tree::CompiledTrees;

#[cfg(doc)]
use crate::family::tree::TreeEnsemble;
