//! The checks every conversion shares: counts, indices, flags and array lengths, each
//! failing with the JSON location of the offending field.

use super::{Domain, MAX_CLASSES, malformed, unsupported};
use crate::error::ImportError;
use crate::import::sklearn::schema::{Float, Label};
use crate::signature::ClassLabel;

/// A non-negative count no larger than `max`.
pub(super) fn count(value: i64, at: &str, max: usize) -> Result<usize, ImportError> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v <= max)
        .ok_or_else(|| {
            malformed(
                at,
                format!("expected a count from 0 to {max}, found {value}"),
            )
        })
}

/// An index into something of length `len`.
pub(super) fn index(value: i64, len: usize, at: &str) -> Result<usize, ImportError> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v < len)
        .ok_or_else(|| malformed(at, format!("index {value} is out of range (0..{len})")))
}

/// A `0`/`1` flag.
pub(super) fn flag(value: i64, at: &str) -> Result<bool, ImportError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(malformed(at, format!("expected 0 or 1, found {other}"))),
    }
}

/// Checks that an array has `expected` entries.
pub(super) fn length<T>(items: &[T], expected: usize, at: &str) -> Result<(), ImportError> {
    if items.len() == expected {
        Ok(())
    } else {
        Err(malformed(
            at,
            format!("expected {expected} entries, found {}", items.len()),
        ))
    }
}

/// Checks that the per-node arrays of the tree at `at` all have one entry per node.
pub(super) fn node_arrays(
    at: &str,
    nodes: usize,
    arrays: &[(&str, usize)],
) -> Result<(), ImportError> {
    for &(field, len) in arrays {
        if len != nodes {
            return Err(malformed(
                format!("{at}.{field}"),
                format!("expected {nodes} entries (node_count), found {len}"),
            ));
        }
    }
    Ok(())
}

/// The values of JSON floats.
pub(super) fn floats(items: &[Float]) -> Vec<f64> {
    items.iter().map(|f| f.0).collect()
}

/// Checks an estimator's `n_features_in` against the columns it receives.
pub(super) fn check_inputs(
    declared: Option<i64>,
    received: usize,
    at: &str,
) -> Result<(), ImportError> {
    match declared {
        Some(n) if usize::try_from(n).ok() != Some(received) => Err(malformed(
            format!("{at}.n_features_in"),
            format!("says {n} but the estimator receives {received} columns"),
        )),
        _ => Ok(()),
    }
}

/// Refuses a step that would read a column the export marks `ignored`: only a
/// `ColumnTransformer` may receive one, to drop it.
pub(super) fn reads_no_ignored(input: &[Domain], at: &str, kind: &str) -> Result<(), ImportError> {
    match input.iter().position(|d| *d == Domain::Unused) {
        Some(column) => Err(malformed(
            at,
            format!(
                "{kind} reads its input column {column}, which comes from a column that \
                 input.columns marks `ignored` (one a ColumnTransformer drops)"
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses a model that would read strings: scikit-learn models read numbers.
pub(super) fn numbers_only(input: &[Domain], at: &str, kind: &str) -> Result<(), ImportError> {
    match input.iter().position(|d| *d != Domain::Number) {
        Some(column) => Err(unsupported(format!(
            "{kind} at {at} reads column {column}, which holds string categories (scikit-learn \
             would reject the string; encode the column first)"
        ))),
        None => Ok(()),
    }
}

/// The signature's class labels. scikit-learn returns numpy booleans and floats; Verdict
/// names them as Python prints them.
pub(super) fn class_labels(labels: &[Label], at: &str) -> Result<Vec<ClassLabel>, ImportError> {
    if labels.len() < 2 || labels.len() > MAX_CLASSES {
        return Err(malformed(
            format!("{at}.classes"),
            format!(
                "expected 2 to {MAX_CLASSES} classes, found {}",
                labels.len()
            ),
        ));
    }
    Ok(labels
        .iter()
        .map(|label| match label {
            Label::Int(i) => ClassLabel::Int(*i),
            Label::Text(s) => ClassLabel::Text(s.clone()),
            Label::Bool(b) => ClassLabel::Text(if *b { "True" } else { "False" }.to_owned()),
            Label::Float(f) => ClassLabel::Text(format!("{f:?}")),
        })
        .collect())
}

/// The optional per-node covers of an exported tree (`n` nodes), in the native node `order`.
pub(super) fn covers(
    samples: Option<&[Float]>,
    order: &[usize],
    n: usize,
    at: &str,
) -> Result<Vec<f64>, ImportError> {
    match samples {
        None => Ok(Vec::new()),
        Some(samples) => {
            length(samples, n, at)?;
            Ok(order.iter().map(|&i| samples[i].0).collect())
        }
    }
}
