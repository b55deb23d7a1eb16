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

/// A text that is not a number, where a number was needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a number")]
pub struct NotANumber;

/// Reads a number written as text: the one rule by which every front end (the HTTP and gRPC
/// decoders, the batch job's CSV parse and its text columns, the Python package) turns a
/// text into a numeric feature's value.
///
/// - Surrounding white space is ignored, and a blank cell is missing (`Ok(None)`). Nothing
///   else is missing here: `null`, `NA` or `None` spelt out are not numbers (a front end may
///   name more missing spellings, as the CSV reader's `null_values` do, before asking).
/// - A number is what Rust's `f64::from_str` reads, case aside for the words: an optional
///   sign, digits with an optional `.` and exponent (`1`, `-0.5`, `.5`, `5.`, `1E5`), or
///   `nan`, `inf` and `infinity` in any case. Integers are read as the nearest `f64`.
/// - Anything else (`1,5`, `0x10`, `1_000`, `true`) is [`NotANumber`]: a boolean spelt as
///   text is not a number; booleans given as booleans are 1 and 0 ([`flag_value`]).
///
/// See [`NUMBER_TEXTS`] for the rule as a table.
///
/// ```
/// use verdict_model::matching::parse_number;
/// assert_eq!(parse_number(" 2.5 "), Ok(Some(2.5)));
/// assert_eq!(parse_number(""), Ok(None));
/// assert!(parse_number("x1").is_err());
/// ```
pub fn parse_number(text: &str) -> Result<Option<f64>, NotANumber> {
    parse_number_bytes(text.as_bytes())
}

/// [`parse_number`] on the bytes of a text, for readers that hold bytes (a CSV field): the
/// same rule, without checking that the bytes are UTF-8 first.
pub fn parse_number_bytes(text: &[u8]) -> Result<Option<f64>, NotANumber> {
    let text = trim(text);
    if text.is_empty() {
        return Ok(None);
    }
    fast_float2::parse(text).map(Some).map_err(|_| NotANumber)
}

/// `text` without the white space around it, as [`str::trim`] has it: ASCII white space
/// byte by byte, and other Unicode white space (a no-break space) where a non-ASCII byte
/// stands at an end.
fn trim(text: &[u8]) -> &[u8] {
    let text = text.trim_ascii();
    let non_ascii_end =
        text.first().is_some_and(|b| !b.is_ascii()) || text.last().is_some_and(|b| !b.is_ascii());
    if !non_ascii_end {
        // The common case: no UTF-8 to check.
        return text;
    }
    std::str::from_utf8(text).map_or(text, |valid| valid.trim().as_bytes())
}

/// The value of a boolean given as a boolean (a JSON `true`, a boolean column) to a feature
/// read as a number: 1 or 0.
pub fn flag_value(flag: bool) -> f64 {
    f64::from(u8::from(flag))
}

/// What a text reads as under [`parse_number`], in [`NUMBER_TEXTS`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reads {
    /// A number, to the bit (`NaN` for the spellings of NaN).
    Number(f64),
    /// Missing: the model is given `NaN`, or a strict reader refuses the cell.
    Missing,
    /// Not a number: the reader stops with an error naming the cell.
    NotANumber,
}

/// The number rule as a table: texts and what they read as. It is the specification that
/// [`parse_number`] is tested against, and that front ends with a faster path of their own
/// (the batch job's CSV parse of plain numbers) test theirs against too.
pub const NUMBER_TEXTS: &[(&str, Reads)] = &[
    // Integers and decimals, signed or not.
    ("0", Reads::Number(0.0)),
    ("-0", Reads::Number(-0.0)),
    ("42", Reads::Number(42.0)),
    ("+7", Reads::Number(7.0)),
    ("007", Reads::Number(7.0)),
    ("-2.5", Reads::Number(-2.5)),
    ("0.1", Reads::Number(0.1)),
    (".5", Reads::Number(0.5)),
    ("5.", Reads::Number(5.0)),
    ("-.5e-3", Reads::Number(-0.0005)),
    ("1e3", Reads::Number(1000.0)),
    ("1E5", Reads::Number(100_000.0)),
    ("1.7976931348623157e308", Reads::Number(f64::MAX)),
    ("1e400", Reads::Number(f64::INFINITY)),
    ("9007199254740993", Reads::Number(9_007_199_254_740_992.0)),
    (
        "0.18905338179353307",
        Reads::Number(0.189_053_381_793_533_07),
    ),
    // NaN and infinity, in any case, infinity with a sign.
    ("NaN", Reads::Number(f64::NAN)),
    ("nan", Reads::Number(f64::NAN)),
    ("NAN", Reads::Number(f64::NAN)),
    ("inf", Reads::Number(f64::INFINITY)),
    ("+inf", Reads::Number(f64::INFINITY)),
    ("-inf", Reads::Number(f64::NEG_INFINITY)),
    ("Infinity", Reads::Number(f64::INFINITY)),
    ("-Infinity", Reads::Number(f64::NEG_INFINITY)),
    ("INF", Reads::Number(f64::INFINITY)),
    // White space around a number is ignored; a blank cell is missing.
    (" 2.5 ", Reads::Number(2.5)),
    ("\t8", Reads::Number(8.0)),
    ("3\r", Reads::Number(3.0)),
    ("\u{a0}4\u{a0}", Reads::Number(4.0)),
    ("", Reads::Missing),
    ("   ", Reads::Missing),
    ("\t", Reads::Missing),
    // Spelt-out missing values, booleans and other notations are not numbers.
    ("null", Reads::NotANumber),
    ("NA", Reads::NotANumber),
    ("None", Reads::NotANumber),
    ("true", Reads::NotANumber),
    ("false", Reads::NotANumber),
    ("1,5", Reads::NotANumber),
    ("1_000", Reads::NotANumber),
    ("0x10", Reads::NotANumber),
    ("1.5x", Reads::NotANumber),
    ("2 3", Reads::NotANumber),
    ("1e", Reads::NotANumber),
    (".", Reads::NotANumber),
    ("-", Reads::NotANumber),
    ("infinit", Reads::NotANumber),
    ("nana", Reads::NotANumber),
    ("\"1\"", Reads::NotANumber),
];

impl Reads {
    /// Whether `read` (a reader's answer for a text) is what this entry says.
    pub fn matches(self, read: Result<Option<f64>, NotANumber>) -> bool {
        match (self, read) {
            (Reads::Number(expected), Ok(Some(found))) => {
                expected.to_bits() == found.to_bits() || (expected.is_nan() && found.is_nan())
            }
            (Reads::Missing, Ok(None)) => true,
            (Reads::NotANumber, Err(NotANumber)) => true,
            _ => false,
        }
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

    #[test]
    fn texts_read_as_the_table_says() {
        for &(text, expected) in NUMBER_TEXTS {
            let read = parse_number(text);
            assert!(
                expected.matches(read),
                "{text:?}: expected {expected:?}, read {read:?}"
            );
            assert!(
                expected.matches(parse_number_bytes(text.as_bytes())),
                "{text:?} as bytes"
            );
        }
    }

    #[test]
    fn the_rule_reads_numbers_as_rusts_own_parser_does() {
        // Front ends read numbers with `str::parse::<f64>` on the trimmed text before this
        // rule was shared; the shared rule must not read any text differently.
        for &(text, _) in NUMBER_TEXTS {
            let std = match text.trim() {
                "" => Ok(None),
                trimmed => trimmed.parse::<f64>().map(Some).map_err(|_| NotANumber),
            };
            let ours = parse_number(text);
            let same = match (std, ours) {
                (Ok(Some(a)), Ok(Some(b))) => {
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
                }
                (a, b) => a == b,
            };
            assert!(same, "{text:?}: std {std:?}, rule {ours:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn number_like_texts_read_as_rusts_parser_reads_them(
            text in "[ +\\-0-9.eE_xinfatyINFATY]{0,12}"
        ) {
            let std = match text.trim() {
                "" => Ok(None),
                trimmed => trimmed.parse::<f64>().map(Some).map_err(|_| NotANumber),
            };
            let ours = parse_number(&text);
            let same = match (std, ours) {
                (Ok(Some(a)), Ok(Some(b))) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                (a, b) => a == b,
            };
            proptest::prop_assert!(same, "{:?}: std {:?}, rule {:?}", text, std, ours);
        }
    }

    #[test]
    fn flags_are_one_and_zero() {
        assert_eq!((flag_value(true), flag_value(false)), (1.0, 0.0));
    }
}
