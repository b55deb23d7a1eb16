//! From a table's columns to a model's features: which column feeds each feature, and how a
//! cell of text becomes the `f64` the model reads.
//!
//! Every front end that reads tables (the batch job's files and databases, the Python
//! package's frames) matches columns and reads cells by these rules, so a frame scores the
//! same wherever it is scored and a missing column gets the same message everywhere.
//!
//! ```
//! use verdict_model::matching::{self, Matching};
//! use verdict_model::{Feature, Signature, Task};
//!
//! let signature = Signature::new(
//!     vec![Feature::numeric("mean_radius"), Feature::numeric("age")],
//!     Task::Regression,
//! );
//! // Matched by name, whatever the order; `mean radius` is LightGBM's `mean_radius`.
//! let (columns, how) = matching::match_columns(&signature, &["id", "age", "mean radius"], &[])?;
//! assert_eq!(columns, [2, 1]);
//! assert_eq!(how, Matching::ByName);
//!
//! let error = matching::match_columns(&signature, &["mean radius", "Age "], &[]).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "the input has no column for 1 of the model's 2 features: `age` (did you mean `Age `?)"
//! );
//! # Ok::<(), verdict_model::matching::MatchError>(())
//! ```

use std::collections::HashMap;
use std::fmt;

use crate::signature::{FeatureKind, Signature};

/// How the model's features were found among the input's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matching {
    /// Every feature by its name.
    ByName,
    /// By position, because the model has no feature names: `columns[i]` feeds feature `i`.
    ByPosition {
        /// The input columns, in the model's feature order.
        columns: Vec<String>,
    },
}

/// The input's columns do not provide the model's features.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchError {
    /// The input lacks columns that the model needs.
    #[error("the input has no column for {} of the model's {expected} features: {}",
        missing.len(), list(missing))]
    MissingFeatures {
        /// The features not found, each with close column names.
        missing: Vec<MissingColumn>,
        /// How many features the model has.
        expected: usize,
    },
    /// A model without feature names met an input with the wrong number of columns.
    #[error(
        "the model has no feature names, so its {expected} features are matched by position, \
         but the input has {} columns besides the passed-through ones: {}",
        found.len(), found.join(", ")
    )]
    PositionalMismatch {
        /// The model's number of features.
        expected: usize,
        /// The input's candidate feature columns, in order.
        found: Vec<String>,
    },
}

/// Finds the input column of each of the model's features: for feature `i`, `columns[i]` is
/// its position in `names`.
///
/// Features are matched by name: the column of that name, or else the one column whose name
/// becomes the feature's once its spaces are replaced by `_`. That is LightGBM's rule for its
/// training columns (`mean radius` is saved as `mean_radius`), so a LightGBM model scores the
/// very frame it was trained on. A model whose signature is `positional` (it was trained
/// without feature names) is matched by name too when the input has its `f0`, `f1`, ...
/// columns, and otherwise by position: its features are the input's columns in order, leaving
/// out `exclude` (the columns passed through by name, such as ids), and there must be exactly
/// as many as the model has features.
pub fn match_columns(
    signature: &Signature,
    names: &[&str],
    exclude: &[String],
) -> Result<(Vec<usize>, Matching), MatchError> {
    let by_name: Option<Vec<usize>> = signature
        .features
        .iter()
        .map(|f| column_for(&f.name, names))
        .collect();
    if let Some(columns) = by_name {
        return Ok((columns, Matching::ByName));
    }
    if signature.positional {
        let candidates: Vec<usize> = (0..names.len())
            .filter(|&i| !exclude.iter().any(|e| e == names[i]))
            .collect();
        let candidate_names = candidates.iter().map(|&i| names[i].to_owned()).collect();
        if candidates.len() != signature.num_features() {
            return Err(MatchError::PositionalMismatch {
                expected: signature.num_features(),
                found: candidate_names,
            });
        }
        let matching = Matching::ByPosition {
            columns: candidate_names,
        };
        return Ok((candidates, matching));
    }
    let missing = signature
        .features
        .iter()
        .filter(|f| column_for(&f.name, names).is_none())
        .map(|f| MissingColumn::new(&f.name, names.iter().copied()))
        .collect();
    Err(MatchError::MissingFeatures {
        missing,
        expected: signature.num_features(),
    })
}

/// The position of the input column of `feature`: the column of that name, or else the only
/// one that LightGBM would have saved under that name (its spaces replaced by `_`).
fn column_for(feature: &str, columns: &[&str]) -> Option<usize> {
    if let Some(exact) = columns.iter().position(|&c| c == feature) {
        return Some(exact);
    }
    let mut renamed = columns
        .iter()
        .enumerate()
        .filter(|(_, column)| column.contains(' ') && column.replace(' ', "_") == feature)
        .map(|(i, _)| i);
    match (renamed.next(), renamed.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// A column asked for and not found, with the input's columns whose names are close to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingColumn {
    /// The name asked for.
    pub name: String,
    /// Input columns with close names, closest first.
    pub suggestions: Vec<String>,
}

impl MissingColumn {
    /// `name`, with up to three of `candidates` whose names are close to it (by edit distance,
    /// ignoring case, spaces, `_`, `-` and `.`).
    pub fn new<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        let key = normalize(name);
        let mut scored: Vec<(usize, &str)> = candidates
            .into_iter()
            .filter_map(|candidate| {
                let distance = strsim::levenshtein(&key, &normalize(candidate));
                // About one edit in four characters: `mean textrue` finds `mean texture`,
                // while short names (`x1`) only find spellings of themselves (`X_1`), not
                // their neighbours (`x0`).
                let allowed = key.chars().count() / 4;
                (distance <= allowed).then_some((distance, candidate))
            })
            .collect();
        scored.sort_by_key(|&(distance, candidate)| (distance, candidate.to_owned()));
        MissingColumn {
            name: name.to_owned(),
            suggestions: scored
                .into_iter()
                .take(3)
                .map(|(_, c)| c.to_owned())
                .collect(),
        }
    }
}

impl fmt::Display for MissingColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.name)?;
        if !self.suggestions.is_empty() {
            let names: Vec<String> = self.suggestions.iter().map(|s| format!("`{s}`")).collect();
            write!(f, " (did you mean {}?)", names.join(" or "))?;
        }
        Ok(())
    }
}

/// `missing`, as a comma-separated list for a message.
pub fn list(missing: &[MissingColumn]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lower case without separators, so `Mean_Radius` and `mean radius` compare equal.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// How the cells of a feature's column are read: the one rule every table reader follows.
#[derive(Debug, Clone)]
pub enum Reading {
    /// As numbers; text holding a number is parsed ([`parse_number`]). A numeric feature, or
    /// a categorical one whose source model knows its codes but not their names.
    Number,
    /// As category names, turned into codes; a name the model never saw is
    /// [`UNKNOWN_CATEGORY`](crate::UNKNOWN_CATEGORY).
    Category(CategoryCodes),
    /// Not at all: the model never reads the column ([`FeatureKind::Unused`]), so any value
    /// of any type is accepted and the model is given `NaN`.
    Skipped,
    /// As CatBoost category values ([`FeatureKind::HashedCategory`]): a text cell gives
    /// [`hashed_text`], exactly as written (no trimming: CatBoost tells `"red "` from `"red"`);
    /// a number cell gives [`hashed_number`]; a missing cell gives `NaN`, which the model
    /// refuses with the row and feature.
    Hashed,
}

/// The model's value for the category `text` of a [`Reading::Hashed`] column.
pub fn hashed_text(text: &str) -> f64 {
    f64::from(crate::family::ctr::category_hash(text))
}

/// The model's value for the number `x` in a [`Reading::Hashed`] column: the hash of the
/// integer, or `NaN` (refused by the model) for a missing value or a fraction.
pub fn hashed_number(x: f64) -> f64 {
    crate::family::ctr::number_category_hash(x).map_or(f64::NAN, f64::from)
}

impl Reading {
    /// How the cells of feature `feature` are read.
    ///
    /// ```
    /// use verdict_model::matching::Reading;
    /// use verdict_model::{Feature, Signature, Task};
    ///
    /// let signature = Signature::new(
    ///     vec![Feature::numeric("age"), Feature::categorical("plan", vec!["basic".into()]), Feature::unused("note")],
    ///     Task::Regression,
    /// );
    /// assert!(matches!(Reading::of(&signature, 0), Reading::Number));
    /// assert!(matches!(Reading::of(&signature, 1), Reading::Category(codes) if codes.code("basic") == Some(0.0)));
    /// assert!(matches!(Reading::of(&signature, 2), Reading::Skipped));
    /// ```
    pub fn of(signature: &Signature, feature: usize) -> Self {
        match signature.features.get(feature).map(|f| &f.kind) {
            Some(FeatureKind::Unused) => Reading::Skipped,
            Some(FeatureKind::HashedCategory) => Reading::Hashed,
            _ => CategoryCodes::of(signature, feature).map_or(Reading::Number, Reading::Category),
        }
    }

    /// What the reading is called in messages: `numeric`, `categorical` or `unused`.
    pub fn name(&self) -> &'static str {
        match self {
            Reading::Number => "numeric",
            Reading::Category(_) => "categorical",
            Reading::Skipped => "unused",
            Reading::Hashed => "categorical",
        }
    }
}

/// The codes of a categorical feature's category names, for reading a column of names.
///
/// It holds the answer of [`Signature::encode_category`] for every known category, so a
/// lookup costs one hash instead of a scan of the category list; a name not in it is unknown
/// ([`UNKNOWN_CATEGORY`](crate::UNKNOWN_CATEGORY)).
#[derive(Debug, Clone)]
pub struct CategoryCodes(HashMap<String, f64>);

impl CategoryCodes {
    /// The codes of feature `feature`, or `None` when its values are read as numbers: a
    /// numeric feature, or a categorical one whose source model knows codes but not names.
    pub fn of(signature: &Signature, feature: usize) -> Option<Self> {
        match &signature.features.get(feature)?.kind {
            FeatureKind::Categorical { categories } if !categories.is_empty() => {
                Some(CategoryCodes(
                    categories
                        .iter()
                        .map(|c| (c.clone(), signature.encode_category(feature, c)))
                        .collect(),
                ))
            }
            _ => None,
        }
    }

    /// The code of the category called `name`, or `None` when the model never saw it.
    pub fn code(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }
}

/// Reads a number written as text, as every front end reads a numeric feature given as text:
/// surrounding white space is ignored and a blank cell is missing (`Ok(None)`). Anything that
/// is not a number is an `Err`.
///
/// ```
/// use verdict_model::matching::parse_number;
/// assert_eq!(parse_number(" 2.5 "), Ok(Some(2.5)));
/// assert_eq!(parse_number(""), Ok(None));
/// assert!(parse_number("x1").is_err());
/// ```
pub fn parse_number(text: &str) -> Result<Option<f64>, std::num::ParseFloatError> {
    match text.trim() {
        "" => Ok(None),
        value => value.parse().map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{Feature, Task};

    #[test]
    fn spaces_match_lightgbm_underscores_when_unambiguous() {
        let signature = Signature::new(
            vec![Feature::numeric("mean_radius"), Feature::numeric("a_b")],
            Task::Regression,
        );
        // An exact name wins over a renamed one.
        let (columns, _) = match_columns(&signature, &["mean radius", "a_b", "a b"], &[]).unwrap();
        assert_eq!(columns, [0, 1]);
        let signature = Signature::new(vec![Feature::numeric("x_y")], Task::Regression);
        assert!(match_columns(&signature, &["x y", "x  y", "x y "], &[]).is_ok());
        assert!(match_columns(&signature, &["x y", "x_y ", "x\ty"], &[]).is_ok());
        // Two columns that both become `x_y` are ambiguous.
        let ambiguous = ["a", "x y", "x y"];
        assert!(match_columns(&signature, &ambiguous, &[]).is_err());
        // Only spaces are replaced, as LightGBM does; a tab is kept.
        assert!(match_columns(&signature, &["x\ty"], &[]).is_err());
    }

    #[test]
    fn positional_models_take_the_columns_left_after_the_excluded_ones() {
        let mut signature = Signature::new(Signature::positional_features(2), Task::Regression);
        signature.positional = true;
        let (columns, how) = match_columns(&signature, &["id", "p", "q"], &["id".into()]).unwrap();
        assert_eq!(columns, [1, 2]);
        assert_eq!(
            how,
            Matching::ByPosition {
                columns: vec!["p".into(), "q".into()]
            }
        );
        // Their own names win over positions.
        let (columns, how) = match_columns(&signature, &["f1", "x", "f0"], &[]).unwrap();
        assert_eq!((columns, how), (vec![2, 0], Matching::ByName));
        let error = match_columns(&signature, &["p"], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the model has no feature names, so its 2 features are matched by position, but \
             the input has 1 columns besides the passed-through ones: p"
        );
    }

    #[test]
    fn suggests_names_that_differ_by_separators_and_typos() {
        let columns = [
            "id",
            "mean radius",
            "mean texture",
            "worst radius",
            "target",
        ];
        let missing = MissingColumn::new("mean_radius", columns);
        assert_eq!(missing.suggestions[0], "mean radius");
        let missing = MissingColumn::new("mean textrue", columns);
        assert_eq!(missing.suggestions, vec!["mean texture"]);
        assert!(MissingColumn::new("area", columns).suggestions.is_empty());
    }

    #[test]
    fn hashed_cells_follow_catboosts_python_package() {
        // (cell, the text CatBoost hashes for it, or None when it has no category)
        let numbers: [(f64, Option<&str>); 7] = [
            (7.0, Some("7")),
            (-5.0, Some("-5")),
            (0.0, Some("0")),
            (-0.0, Some("0")),
            (1_099_511_627_776.0, Some("1099511627776")),
            (2.5, None),
            (f64::NAN, None),
        ];
        for (cell, text) in numbers {
            let found = hashed_number(cell);
            match text {
                Some(text) => assert_eq!(found, hashed_text(text), "{cell}"),
                None => assert!(found.is_nan(), "{cell}"),
            }
        }
        // Text is hashed exactly as written: no trimming, no case folding.
        for (a, b) in [("red", "red "), ("red", "Red"), ("", " ")] {
            assert_ne!(hashed_text(a), hashed_text(b), "{a:?} and {b:?}");
        }
        assert_eq!(hashed_text(""), 797_982_799.0);
        let signature = Signature::new(vec![Feature::hashed_category("city")], Task::Regression);
        assert!(matches!(Reading::of(&signature, 0), Reading::Hashed));
        assert_eq!(Reading::of(&signature, 0).name(), "categorical");
    }

    #[test]
    fn category_codes_follow_encode_category() {
        let signature = Signature::new(
            vec![
                Feature::numeric("a"),
                Feature::categorical("colour", vec!["red".into(), "green".into()]),
                Feature::categorical("coded", vec![]),
            ],
            Task::Regression,
        );
        assert!(CategoryCodes::of(&signature, 0).is_none());
        assert!(CategoryCodes::of(&signature, 2).is_none());
        let codes = CategoryCodes::of(&signature, 1).unwrap();
        assert_eq!(codes.code("green"), Some(1.0));
        assert_eq!(codes.code("blue"), None);
    }
}
