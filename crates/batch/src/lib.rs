//! Batch scoring: a model, rows in, predictions out, on every core, in bounded memory.
//!
//! A [`Scorer`] holds an `Arc<dyn Model>` and the [`Options`] of a run. It scores a polars
//! [`DataFrame`](polars::prelude::DataFrame) in memory ([`Scorer::score_frame`]), a
//! [`LazyFrame`](polars::prelude::LazyFrame) on polars' streaming engine
//! ([`Scorer::score_lazy`]), or streams a [`Source`] (CSV, Parquet, Arrow IPC and NDJSON
//! files, directories and globs of them, local or in object storage: `s3://`, `gs://`,
//! `az://`, `https://`; SQLite and PostgreSQL tables and queries) into a [`Sink`] (the same
//! file formats, local or objects, or a SQLite or PostgreSQL table) chunk by chunk
//! ([`Scorer::run`]). Peak memory depends on [`Options::chunk_rows`], not on the input;
//! output appears atomically, and only if the run succeeds.
//!
//! Features are matched to the model's [`Signature`](verdict_model::Signature) by name, so
//! the order of the input's columns does not matter; models without feature names are
//! matched by position ([`Matching`]). Category names are encoded with
//! [`Signature::encode_category`](verdict_model::Signature::encode_category). Prediction
//! columns are named by [`Signature::output_columns`](verdict_model::Signature::output_columns):
//! `prediction` for regressors, `label` (the class label, not its index) and
//! `proba_<class>` for classifiers, `raw` or `raw_<k>` on request, the target names for
//! multi-output models; [`Options::prefix`] keeps them apart from input columns.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use polars::prelude::*;
//! use verdict_batch::{Options, Passthrough, Scorer, Sink, Source};
//! use verdict_model::family::{Family, linear::{LinearMissing, LinearModel}, link::{Link, Precision}};
//! use verdict_model::{ClassLabel, Feature, NativeModel, Signature, Task};
//!
//! // A logistic regression on two features: P(yes) = sigmoid(2a - b).
//! let family = Family::Linear(LinearModel {
//!     num_features: 2,
//!     coefficients: vec![2.0, -1.0],
//!     intercepts: vec![0.0],
//!     precision: Precision::Double,
//!     missing: LinearMissing::Propagate,
//!     link: Link::Sigmoid { scale: 1.0 },
//! });
//! let classes = vec![ClassLabel::Text("no".into()), ClassLabel::Text("yes".into())];
//! let signature = Signature::new(
//!     vec![Feature::numeric("a"), Feature::numeric("b")],
//!     Task::Classification { classes },
//! );
//! let model = Arc::new(NativeModel::new(signature, family)?);
//!
//! let dir = tempfile::tempdir()?;
//! let input = dir.path().join("rows.csv");
//! std::fs::write(&input, "id,b,a\n1,0.5,3\n2,4,1\n")?;
//! let output = dir.path().join("scored.parquet");
//!
//! let options = Options { passthrough: Passthrough::Columns(vec!["id".into()]), ..Options::default() };
//! let scorer = Scorer::new(model, options)?;
//! let summary = scorer.run(Source::path(&input, None)?, &Sink::path(&output, None)?, &mut |_| {})?;
//! assert_eq!(summary.rows, 2);
//!
//! let scored = LazyFrame::scan_parquet(PlRefPath::try_from_path(&output)?, Default::default())?.collect()?;
//! let names: Vec<&str> = scored.get_column_names().into_iter().map(|n| n.as_str()).collect();
//! assert_eq!(names, ["id", "label", "proba_no", "proba_yes"]);
//! assert_eq!(scored.column("label")?.str()?.get(0), Some("yes"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod cancel;
pub mod error;
pub mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod io;
mod partial;
pub mod score;
pub mod sink;
pub mod source;

pub use cancel::Cancel;
pub use error::{Error, Location, MissingColumn, Result};
pub use frame::{FeatureMap, Matching, Origin};
pub use io::cloud;
pub use io::postgres;
pub use polars;
pub use score::{Event, Options, Passthrough, Plan, Scorer, Summary};
pub use sink::{IfExists, Sink};
pub use source::{CsvOptions, FileRef, Format, ObjectUrl, Shard, Source, SqliteInput};
