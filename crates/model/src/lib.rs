//! `verdict-model` holds what a trained model *is* in Verdict: the [`Model`] trait that every
//! model implements, the [`Signature`] that says what it takes and produces, the native model
//! [`family`] types that reproduce XGBoost, LightGBM and scikit-learn predictions exactly, the
//! model file [`format`](mod@format), and the [`import`]ers for the source libraries' own files.
//!
//! A model is an immutable value shared as `Arc<dyn Model>`: rows of `f64` features go in
//! (`NaN` is missing), and one of three [`Output`]s comes out: `predict`, `predict_proba` or
//! `raw`.
//!
//! This crate has no dependency on polars or any web framework; `verdict-batch` and
//! `verdict-serve` build on it.
//!
//! # Example
//!
//! ```
//! use ndarray::array;
//! use verdict_model::family::{Family, linear::{LinearMissing, LinearModel}, link::{Link, Precision}};
//! use verdict_model::format::{Codec, ModelFile, ModelInfo};
//! use verdict_model::{Feature, Model, NativeModel, Output, Signature, Task};
//!
//! // y = 1 + 2a - b
//! let family = Family::Linear(LinearModel {
//!     num_features: 2,
//!     coefficients: vec![2.0, -1.0],
//!     intercepts: vec![1.0],
//!     precision: Precision::Double,
//!     missing: LinearMissing::Propagate,
//!     link: Link::Identity,
//! });
//! let signature = Signature::new(vec![Feature::numeric("a"), Feature::numeric("b")], Task::Regression);
//! let model = NativeModel::new(signature, family)?;
//!
//! // Save and load through the model file format.
//! let file = ModelFile { info: ModelInfo::new("line", "verdict", "0.1.0"), model };
//! let loaded = ModelFile::from_bytes(&file.to_bytes(Codec::Bincode)?)?;
//!
//! let y = loaded.model.predict(array![[3.0, 1.0]].view(), Output::Predict)?;
//! assert_eq!(y, array![[6.0]]);
//! # Ok::<(), verdict_model::Error>(())
//! ```

#![deny(missing_docs)]

pub mod error;
mod explain;
pub mod family;
pub mod format;
pub mod import;
pub mod matching;
mod model;
mod output;
pub mod parallel;
mod predict;
mod signature;

pub use error::{Error, FormatError, ImportError, InvalidModel, PredictError};
pub use family::{Engine, Family, NativeModel};
pub use format::{Codec, ModelFile, ModelInfo};
pub use import::{SourceFormat, load};
pub use model::Model;
pub use output::{Output, OutputSlot, UnknownOutput};
pub use signature::{ClassLabel, Feature, FeatureKind, Signature, Task, UNKNOWN_CATEGORY};
