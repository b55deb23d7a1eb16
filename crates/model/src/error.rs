//! The errors of `verdict-model`.
//!
//! Each error names what is wrong and where (the file section and byte offset, the tree and
//! node, the feature), because the user who reads it has to fix a file or a request.

use std::path::PathBuf;

use crate::output::Output;

/// Any error from this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A Verdict model file is malformed.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A model's structure is inconsistent.
    #[error(transparent)]
    Invalid(#[from] InvalidModel),
    /// A foreign model file could not be imported.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A prediction could not be made.
    #[error(transparent)]
    Predict(#[from] PredictError),
}

/// A Verdict model file (`.vdm`) that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The file does not start with the `VERDICT ` magic.
    #[error("not a Verdict model file: it does not start with the `VERDICT ` magic bytes")]
    BadMagic,
    /// The header line is missing, too long or malformed.
    #[error("malformed header line: {reason}")]
    MalformedHeader {
        /// What is wrong with it.
        reason: String,
    },
    /// The file was written by a newer Verdict.
    #[error(
        "model file format version {found} is newer than this Verdict supports (up to {supported}); upgrade Verdict"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The codec named in the header is unknown.
    #[error("unknown codec `{0}` in the header (expected `bincode` or `json`)")]
    UnknownCodec(String),
    /// A section claims to be larger than Verdict allows.
    #[error("the {section} section claims {len} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// `metadata` or `payload`.
        section: &'static str,
        /// The length claimed by the header.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// The file ends before the sections the header announces.
    #[error(
        "the file is truncated: the header announces {expected} bytes in all but it has {found}"
    )]
    Truncated {
        /// Bytes the header announces.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// There are bytes after the payload.
    #[error("unexpected bytes after the payload, from byte offset {offset}")]
    TrailingBytes {
        /// Where the unexpected bytes start.
        offset: u64,
    },
    /// The separator between metadata and payload is not a newline.
    #[error("expected a newline at byte offset {offset}, after the metadata")]
    MissingSeparator {
        /// Where the newline should be.
        offset: u64,
    },
    /// The checksum does not match the content: the file is corrupted.
    #[error(
        "checksum mismatch: the header says {expected:08x} but the content hashes to {found:08x}; the file is corrupted"
    )]
    ChecksumMismatch {
        /// The CRC-32 in the header.
        expected: u32,
        /// The CRC-32 of the content.
        found: u32,
    },
    /// A section could not be decoded.
    #[error("cannot decode the {section} section (bytes {offset}..): {message}")]
    Decode {
        /// `metadata` or `payload`.
        section: &'static str,
        /// The byte offset at which the section starts.
        offset: u64,
        /// The decoder's message.
        message: String,
    },
    /// A model could not be encoded.
    #[error("cannot encode the model as {codec}: {message}")]
    Encode {
        /// The codec.
        codec: &'static str,
        /// The encoder's message.
        message: String,
    },
}

/// A model whose structure is inconsistent: a hostile or corrupted file, or a bug in an importer.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum InvalidModel {
    /// A tree node points at a child that does not exist or does not come after it.
    #[error(
        "tree {tree}, node {node}: child {child} must be a node after this one and before {nodes}"
    )]
    BadChild {
        /// The tree.
        tree: usize,
        /// The node.
        node: usize,
        /// The child index found.
        child: u32,
        /// The number of nodes in the tree.
        nodes: usize,
    },
    /// A node is not reachable from the root, or is reached twice.
    #[error("tree {tree}, node {node}: every node must have exactly one parent, except the root")]
    NotATree {
        /// The tree.
        tree: usize,
        /// The node.
        node: usize,
    },
    /// A node tests a feature the model does not have.
    #[error(
        "tree {tree}, node {node}: feature {feature} is out of range (the model has {features} features)"
    )]
    FeatureOutOfRange {
        /// The tree.
        tree: usize,
        /// The node.
        node: usize,
        /// The feature index found.
        feature: u32,
        /// The number of features.
        features: usize,
    },
    /// A leaf or category-set reference points outside its array.
    #[error("tree {tree}, node {node}: {what} {index} is out of range ({len} available)")]
    IndexOutOfRange {
        /// The tree.
        tree: usize,
        /// The node.
        node: usize,
        /// What the index is for.
        what: &'static str,
        /// The index found.
        index: u64,
        /// How many there are.
        len: usize,
    },
    /// A size exceeds the bounds Verdict accepts.
    #[error("{what} is {found}, over the limit of {limit}")]
    TooLarge {
        /// What was counted.
        what: String,
        /// The count found.
        found: u64,
        /// The limit.
        limit: u64,
    },
    /// Two parts of the model disagree about a size.
    #[error("{what}: expected {expected}, found {found}")]
    Mismatch {
        /// What disagrees.
        what: String,
        /// The expected size.
        expected: usize,
        /// The size found.
        found: usize,
    },
    /// A value that must be finite or positive is not.
    #[error("{what} must be {requirement}, found {value}")]
    BadValue {
        /// What the value is.
        what: String,
        /// What it must be.
        requirement: &'static str,
        /// The value found.
        value: f64,
    },
}

/// A foreign model file (XGBoost, LightGBM, scikit-learn export) that cannot be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is not in any format Verdict recognises.
    #[error(
        "cannot tell what kind of model this is: {reason}; expected a Verdict model, an XGBoost JSON/UBJSON model, a LightGBM text model, a scikit-learn export or a CatBoost JSON model (use --from to say which)"
    )]
    UnknownFormat {
        /// Why detection failed.
        reason: String,
    },
    /// The file's format is known, but this build of Verdict was compiled without its
    /// importer.
    #[error(
        "this is a {format} model, but this build of Verdict has no {format} importer (enable the `{format}` cargo feature of verdict-model)"
    )]
    NotCompiled {
        /// The source format, which is also the name of the feature.
        format: &'static str,
    },
    /// The file is in a known format but is malformed.
    #[error("malformed {format} model at {location}: {message}")]
    Malformed {
        /// The source format.
        format: &'static str,
        /// Where: a JSON path, a line number, a tree and node.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The file uses a feature Verdict does not support.
    #[error("unsupported {format} model: {what}")]
    Unsupported {
        /// The source format.
        format: &'static str,
        /// What is unsupported, by name.
        what: String,
    },
    /// The converted model failed validation.
    #[error("the {format} model converted to an invalid Verdict model: {source}")]
    Invalid {
        /// The source format.
        format: &'static str,
        /// The validation failure.
        source: InvalidModel,
    },
}

#[cfg(any(feature = "xgboost", feature = "lightgbm", feature = "sklearn"))]
impl ImportError {
    /// A [`Malformed`](ImportError::Malformed) error of the `format` importer.
    pub(crate) fn malformed(
        format: &'static str,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ImportError::Malformed {
            format,
            location: location.into(),
            message: message.into(),
        }
    }

    /// An [`Unsupported`](ImportError::Unsupported) error of the `format` importer.
    pub(crate) fn unsupported(format: &'static str, what: impl Into<String>) -> Self {
        ImportError::Unsupported {
            format,
            what: what.into(),
        }
    }
}

impl PredictError {
    /// The same error with row numbers shifted by `offset`, for errors found in a chunk that
    /// starts at row `offset`.
    pub fn offset_rows(self, offset: usize) -> Self {
        match self {
            PredictError::UnknownCategory {
                row,
                feature,
                value,
            } => PredictError::UnknownCategory {
                row: row + offset,
                feature,
                value,
            },
            PredictError::ForbiddenMissing { row, feature } => PredictError::ForbiddenMissing {
                row: row + offset,
                feature,
            },
            PredictError::MissingValue { row, input } => PredictError::MissingValue {
                row: row + offset,
                input,
            },
            PredictError::MissingCategory { row, feature } => PredictError::MissingCategory {
                row: row + offset,
                feature,
            },
            other => other,
        }
    }
}

/// A prediction that cannot be made for the given input.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum PredictError {
    /// The input has the wrong number of feature columns.
    #[error("expected {expected} feature columns, got {found}")]
    FeatureCount {
        /// Features the model takes.
        expected: usize,
        /// Columns given.
        found: usize,
    },
    /// The output buffer has the wrong shape.
    #[error(
        "the output buffer for `{output}` must be {expected_rows} x {expected_cols}, got {found_rows} x {found_cols}"
    )]
    OutputShape {
        /// The output requested.
        output: Output,
        /// Rows it must have.
        expected_rows: usize,
        /// Columns it must have.
        expected_cols: usize,
        /// Rows it has.
        found_rows: usize,
        /// Columns it has.
        found_cols: usize,
    },
    /// The model has no such output (for example `predict_proba` of a regressor).
    #[error("this {task} model has no `{output}` output (it has: {available})")]
    UnsupportedOutput {
        /// The output requested.
        output: Output,
        /// The model's task.
        task: &'static str,
        /// The outputs it has, comma-separated.
        available: String,
    },
    /// A missing value (`NaN`) reached a linear model that rejects it, as scikit-learn's do.
    #[error(
        "row {row}: input {input} of the linear model is missing (NaN); scikit-learn's linear \
         models reject missing values, so fill them or put an imputer before the model"
    )]
    MissingValue {
        /// The row, counting from 0.
        row: usize,
        /// The linear model's input (the feature, unless a pipeline step comes first).
        input: usize,
    },
    /// A missing value (`NaN`) reached a CatBoost model trained with `nan_mode=Forbidden`.
    #[error(
        "row {row}: feature `{feature}` is missing (NaN), but the CatBoost model was trained \
         with nan_mode=Forbidden and has no rule for it; fill the value before scoring"
    )]
    ForbiddenMissing {
        /// The row, counting from 0.
        row: usize,
        /// The feature's name.
        feature: String,
    },
    /// A categorical value the model's encoder was told to reject.
    #[error(
        "row {row}: feature `{feature}` has category code {value}, which the model did not see in training"
    )]
    UnknownCategory {
        /// The row, counting from 0.
        row: usize,
        /// The feature's name.
        feature: String,
        /// The value.
        value: f64,
    },
    /// A categorical feature of a CatBoost model has no category: a missing value, or a number
    /// that is not a whole number.
    #[error(
        "row {row}: categorical feature `{feature}` has no category (a missing value, or a \
         number with a fraction); CatBoost has no missing category, so give the text the model \
         was trained with for it (for example \"nan\" or \"\")"
    )]
    MissingCategory {
        /// The row, counting from 0.
        row: usize,
        /// The feature's name.
        feature: String,
    },
}
