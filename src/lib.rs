//! Verdict runs trained machine-learning models — scikit-learn, XGBoost and LightGBM — in batch
//! jobs and behind HTTP, from one safe model format, with the source library's predictions.
//!
//! This facade re-exports the workspace crates so an application can depend on one package and
//! pick what it needs with features:
//!
//! - [`model`] (always): the [`Model`](model::Model) trait, native model families, the model
//!   file format and the importers.
//! - [`batch`] (feature `batch`): scoring polars frames and files, streaming, on every core.
//! - [`serve`] (feature `serve`): actix-web handlers and a standalone inference server.

pub use verdict_model as model;

#[cfg(feature = "batch")]
pub use verdict_batch as batch;

#[cfg(feature = "serve")]
pub use verdict_serve as serve;
