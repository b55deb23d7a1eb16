//! The LightGBM model text, parsed into an exact mirror of its keys.
//!
//! The file is line-oriented (`src/boosting/gbdt_model_text.cpp` and `src/io/tree.cpp` in
//! LightGBM):
//!
//! ```text
//! tree                            header: `key=value` lines and bare flags
//! version=v4
//! num_class=1
//! ...
//! objective=binary sigmoid:1
//! average_output                  (random forests only)
//! feature_names=a b c
//! feature_infos=[0:1] -1:0:1 none
//! tree_sizes=1355 1366
//!
//! Tree=0                          one block of `key=value` lines per tree, then a blank line
//! num_leaves=12
//! ...
//!
//! end of trees
//!
//! feature_importances:            informational
//! parameters:                     the training parameters, `[key: value]` per line
//! end of parameters
//!
//! pandas_categorical:[["a", "b"]] appended by the Python package, always last
//! ```
//!
//! This module checks what the text itself promises: that values are numbers of the right
//! kind, that every array has the length its tree's counts announce, and that the file is
//! complete. What the values mean (child indices, decision types, the objective) is
//! `convert`'s business. Every value keeps the line it was read from, so any error can point
//! at it.

use crate::import::excerpt;
use std::collections::HashMap;
use std::str::FromStr;

use crate::error::ImportError;

/// The format name in error messages.
pub(super) const FORMAT: &str = "LightGBM";

/// The error for line `line` (counting from 1).
pub(super) fn malformed(line: usize, message: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        format: FORMAT,
        location: format!("line {line}"),
        message: message.into(),
    }
}

/// A value and the line it was read from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Located<T> {
    /// The value.
    pub(super) value: T,
    /// The line, counting from 1.
    pub(super) line: usize,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ModelText {
    /// The keys before the first tree.
    pub(super) header: Header,
    /// The `Tree=i` blocks, in order.
    pub(super) trees: Vec<TreeText>,
    /// The line of `end of trees`.
    pub(super) end_of_trees: usize,
    /// The `[categorical_feature: ...]` training parameter, without the brackets.
    pub(super) categorical_feature: Option<Located<String>>,
    /// The Python package's `pandas_categorical:` trailer: one list of category values per
    /// pandas `category` column, or JSON `null`.
    pub(super) pandas_categorical: Option<Located<Option<Vec<Vec<serde_json::Value>>>>>,
}

/// The header keys Verdict reads. LightGBM also writes `label_index` and
/// `monotone_constraints`, which do not affect predictions.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Header {
    /// `version=`: `v3` or `v4` (the file format, not the package version).
    pub(super) version: Option<Located<String>>,
    /// `num_class=`.
    pub(super) num_class: Located<usize>,
    /// `num_tree_per_iteration=`; LightGBM defaults it to `num_class`.
    pub(super) num_tree_per_iteration: Option<Located<usize>>,
    /// `max_feature_idx=`: the number of features minus one.
    pub(super) max_feature_idx: Located<usize>,
    /// `objective=`; absent when the model was trained with a custom objective.
    pub(super) objective: Option<Located<Objective>>,
    /// The bare `average_output` flag of random forests.
    pub(super) average_output: bool,
    /// `feature_names=`, split on spaces.
    pub(super) feature_names: Located<Vec<String>>,
    /// `feature_infos=`, split on spaces: `[min:max]`, `a:b:c` for categories, or `none`.
    pub(super) feature_infos: Located<Vec<String>>,
    /// `tree_sizes=`: the length in bytes of each tree block, so one per tree.
    pub(super) tree_sizes: Option<Located<Vec<u64>>>,
}

/// The `objective=` line: a name and its space-separated arguments (`sigmoid:1`, `sqrt`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Objective {
    /// The objective's name, such as `binary`.
    pub(super) name: String,
    /// The arguments after the name, as written.
    pub(super) args: Vec<String>,
}

/// One `Tree=i` block. Arrays over internal nodes have `num_leaves - 1` entries, arrays over
/// leaves `num_leaves`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TreeText {
    /// The line of `Tree=i`.
    pub(super) line: usize,
    /// `num_leaves=`, at least 1.
    pub(super) num_leaves: Located<usize>,
    /// `num_cat=`: the number of categorical splits.
    pub(super) num_cat: Located<usize>,
    /// `split_feature=`, per internal node.
    pub(super) split_feature: Located<Vec<u32>>,
    /// `threshold=`, per internal node: the threshold, or for a categorical split the index
    /// of its bitset in `cat_boundaries`.
    pub(super) threshold: Located<Vec<f64>>,
    /// `decision_type=`, per internal node: bit 0 categorical, bit 1 default left, bits 2-3
    /// the missing type.
    pub(super) decision_type: Located<Vec<i8>>,
    /// `left_child=`, per internal node: a node index, or `!leaf` when negative.
    pub(super) left_child: Located<Vec<i32>>,
    /// `right_child=`, per internal node, encoded like `left_child`.
    pub(super) right_child: Located<Vec<i32>>,
    /// `leaf_value=`, per leaf.
    pub(super) leaf_value: Located<Vec<f64>>,
    /// `cat_boundaries=`: `num_cat + 1` offsets into `cat_threshold`.
    pub(super) cat_boundaries: Located<Vec<u32>>,
    /// `cat_threshold=`: the 32-bit words of every categorical split's bitset.
    pub(super) cat_threshold: Located<Vec<u32>>,
    /// The linear-leaf keys, when `is_linear=1`.
    pub(super) linear: Option<LinearText>,
}

/// The keys of a tree with linear leaves.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LinearText {
    /// `leaf_const=`, per leaf.
    pub(super) leaf_const: Located<Vec<f64>>,
    /// `num_features=`: how many features each leaf's model uses.
    pub(super) num_features: Located<Vec<u32>>,
    /// `leaf_features=`: every leaf's features, concatenated (LightGBM separates the leaves
    /// with two spaces; the counts in `num_features` are what delimit them).
    pub(super) leaf_features: Located<Vec<u32>>,
    /// `leaf_coeff=`: the coefficients, parallel to `leaf_features`.
    pub(super) leaf_coeff: Located<Vec<f64>>,
}

/// Parses a LightGBM model text.
pub(super) fn parse(bytes: &[u8]) -> Result<ModelText, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        malformed(line, "the text is not valid UTF-8")
    })?;
    let mut lines = Lines::new(text);
    let header = parse_header(&mut lines)?;
    let (trees, end_of_trees) = parse_trees(&mut lines)?;
    if let Some(sizes) = &header.tree_sizes
        && sizes.value.len() != trees.len()
    {
        return Err(malformed(
            sizes.line,
            format!(
                "tree_sizes lists {} trees but the file has {}",
                sizes.value.len(),
                trees.len()
            ),
        ));
    }
    let trailer = parse_trailer(&mut lines)?;
    Ok(ModelText {
        header,
        trees,
        end_of_trees,
        categorical_feature: trailer.categorical_feature,
        pandas_categorical: trailer.pandas_categorical,
    })
}

/// The lines of the text, numbered from 1, without their `\r\n` or `\n`.
struct Lines<'a> {
    inner: std::iter::Peekable<std::iter::Enumerate<std::str::Split<'a, char>>>,
    /// The number of the last line returned.
    last: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            inner: text.split('\n').enumerate().peekable(),
            last: 0,
        }
    }

    fn peek(&mut self) -> Option<&'a str> {
        self.inner.peek().map(|&(_, line)| strip_cr(line))
    }

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let (index, line) = self.inner.next()?;
        self.last = index + 1;
        Some((self.last, strip_cr(line)))
    }

    /// The error for a file that ends where more was expected.
    fn truncated(&self, expected: &str) -> ImportError {
        malformed(
            self.last,
            format!("the file ends here, before {expected}: it is truncated"),
        )
    }
}

fn strip_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

/// `key=value` lines and bare keys, by key, with their line numbers.
#[derive(Default)]
struct Block<'a> {
    /// Where the block is, for messages: `the header`, `tree 3`.
    name: String,
    /// The line of the block's first line.
    line: usize,
    keys: HashMap<&'a str, (usize, &'a str)>,
}

impl<'a> Block<'a> {
    fn insert(&mut self, line: usize, text: &'a str) -> Result<(), ImportError> {
        let (key, value) = text.split_once('=').unwrap_or((text, ""));
        if self.keys.insert(key, (line, value)).is_some() {
            return Err(malformed(
                line,
                format!("{}: the key `{key}` appears twice", self.name),
            ));
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<Located<&'a str>> {
        self.keys
            .get(key)
            .map(|&(line, value)| Located { value, line })
    }

    fn require(&self, key: &str) -> Result<Located<&'a str>, ImportError> {
        self.get(key)
            .ok_or_else(|| malformed(self.line, format!("{} has no `{key}=` line", self.name)))
    }

    fn number<T: Value>(&self, key: &str) -> Result<Located<T>, ImportError> {
        let found = self.require(key)?;
        self.parse_number(key, found)
    }

    fn parse_number<T: Value>(
        &self,
        key: &str,
        found: Located<&str>,
    ) -> Result<Located<T>, ImportError> {
        let value = found.value.trim().parse().map_err(|_| {
            malformed(
                found.line,
                format!(
                    "{}: `{key}` is `{}`, which is not a {}",
                    self.name,
                    excerpt(found.value),
                    T::KIND
                ),
            )
        })?;
        Ok(Located {
            value,
            line: found.line,
        })
    }

    /// The space-separated values of `key`, which must number `len`.
    fn list<T: Value>(&self, key: &str, len: usize) -> Result<Located<Vec<T>>, ImportError> {
        let found = self.require(key)?;
        self.parse_list(key, found, len)
    }

    /// Like [`list`](Self::list), but an absent key is an empty list, which must then be
    /// allowed (`len == 0`).
    fn list_or_empty<T: Value>(
        &self,
        key: &str,
        len: usize,
    ) -> Result<Located<Vec<T>>, ImportError> {
        match self.get(key) {
            Some(found) => self.parse_list(key, found, len),
            None if len == 0 => Ok(Located {
                value: Vec::new(),
                line: self.line,
            }),
            None => Err(malformed(
                self.line,
                format!("{} has no `{key}=` line", self.name),
            )),
        }
    }

    fn parse_list<T: Value>(
        &self,
        key: &str,
        found: Located<&str>,
        len: usize,
    ) -> Result<Located<Vec<T>>, ImportError> {
        let mut values = Vec::new();
        for (i, token) in found.value.split_ascii_whitespace().enumerate() {
            if i == len {
                break;
            }
            values.push(token.parse().map_err(|_| {
                malformed(
                    found.line,
                    format!(
                        "{}: value {i} of `{key}` is `{token}`, which is not a {}",
                        self.name,
                        T::KIND
                    ),
                )
            })?);
        }
        let count = found.value.split_ascii_whitespace().count();
        if count != len {
            return Err(malformed(
                found.line,
                format!("{}: `{key}` has {count} values, expected {len}", self.name),
            ));
        }
        Ok(Located {
            value: values,
            line: found.line,
        })
    }
}

/// A number type the file holds, with what it is called in messages.
trait Value: FromStr {
    const KIND: &'static str;
}

impl Value for f64 {
    const KIND: &'static str = "number";
}

impl Value for i8 {
    const KIND: &'static str = "small integer";
}

impl Value for i32 {
    const KIND: &'static str = "32-bit integer";
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Value for $t {
            const KIND: &'static str = "non-negative integer";
        }
    )*};
}

unsigned!(u8, u32, u64, usize);

fn parse_header<'a>(lines: &mut Lines<'a>) -> Result<Header, ImportError> {
    let first = loop {
        match lines.next() {
            Some((_, "")) => continue,
            Some(found) => break found,
            None => return Err(lines.truncated("the first line `tree`")),
        }
    };
    if first.1.trim_start_matches('\u{feff}') != "tree" {
        return Err(malformed(
            first.0,
            format!(
                "a LightGBM model starts with the line `tree`, found `{}`",
                excerpt(first.1)
            ),
        ));
    }
    let mut block = Block {
        name: "the header".into(),
        line: first.0,
        ..Block::default()
    };
    loop {
        match lines.peek() {
            None => return Err(lines.truncated("the first tree")),
            Some(line) if line.starts_with("Tree=") || line == "end of trees" => break,
            Some(_) => {}
        }
        if let Some((number, line)) = lines.next()
            && !line.is_empty()
        {
            block.insert(number, line)?;
        }
    }
    let split_words = |found: Located<&str>| Located {
        value: found
            .value
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>(),
        line: found.line,
    };
    let tree_sizes = match block.get("tree_sizes") {
        Some(found) => {
            let len = found.value.split_ascii_whitespace().count();
            Some(block.parse_list("tree_sizes", found, len)?)
        }
        None => None,
    };
    Ok(Header {
        version: block.get("version").map(|found| Located {
            value: found.value.to_owned(),
            line: found.line,
        }),
        num_class: block.number("num_class")?,
        num_tree_per_iteration: match block.get("num_tree_per_iteration") {
            Some(found) => Some(block.parse_number("num_tree_per_iteration", found)?),
            None => None,
        },
        max_feature_idx: block.number("max_feature_idx")?,
        objective: block.get("objective").map(|found| {
            let mut words = found.value.split(' ').filter(|w| !w.is_empty());
            Located {
                value: Objective {
                    name: words.next().unwrap_or_default().to_owned(),
                    args: words.map(str::to_owned).collect(),
                },
                line: found.line,
            }
        }),
        average_output: block.get("average_output").is_some(),
        feature_names: split_words(block.require("feature_names")?),
        feature_infos: split_words(block.require("feature_infos")?),
        tree_sizes,
    })
}

fn parse_trees(lines: &mut Lines<'_>) -> Result<(Vec<TreeText>, usize), ImportError> {
    let mut trees = Vec::new();
    loop {
        let Some((number, line)) = lines.next() else {
            return Err(lines.truncated("`end of trees`"));
        };
        if line.is_empty() {
            continue;
        }
        if line == "end of trees" {
            return Ok((trees, number));
        }
        let Some(index) = line.strip_prefix("Tree=") else {
            return Err(malformed(
                number,
                format!(
                    "expected `Tree={}` or `end of trees`, found `{}`",
                    trees.len(),
                    excerpt(line)
                ),
            ));
        };
        if index.parse::<usize>().ok() != Some(trees.len()) {
            return Err(malformed(
                number,
                format!("expected `Tree={}`, found `{}`", trees.len(), excerpt(line)),
            ));
        }
        let mut block = Block {
            name: format!("tree {}", trees.len()),
            line: number,
            ..Block::default()
        };
        // A tree's keys run to the next blank line.
        loop {
            match lines.peek() {
                None => return Err(lines.truncated("`end of trees`")),
                Some(next) if next.is_empty() || next.starts_with("Tree=") => break,
                Some(_) => {}
            }
            if let Some((number, line)) = lines.next() {
                if !line.contains('=') {
                    return Err(malformed(
                        number,
                        format!(
                            "{}: expected a `key=value` line, found `{}`",
                            block.name,
                            excerpt(line)
                        ),
                    ));
                }
                block.insert(number, line)?;
            }
        }
        trees.push(parse_tree(&block)?);
    }
}

fn parse_tree(block: &Block<'_>) -> Result<TreeText, ImportError> {
    let num_leaves = block.number::<usize>("num_leaves")?;
    if num_leaves.value == 0 {
        return Err(malformed(
            num_leaves.line,
            format!("{}: num_leaves must be at least 1", block.name),
        ));
    }
    let leaves = num_leaves.value;
    let is_linear = match block.get("is_linear") {
        Some(found) => match block.parse_number::<u8>("is_linear", found)? {
            Located { value: 0, .. } => false,
            Located { value: 1, .. } => true,
            Located { value, line } => {
                return Err(malformed(
                    line,
                    format!("{}: is_linear must be 0 or 1, found {value}", block.name),
                ));
            }
        },
        None => false,
    };
    // LightGBM reads no split arrays for a single-leaf tree (it writes them empty).
    let internal = leaves - 1;
    let num_cat = block.number::<usize>("num_cat")?;
    let (cat_boundaries, cat_threshold) = if num_cat.value > 0 {
        let boundaries = block.list::<u32>("cat_boundaries", num_cat.value.saturating_add(1))?;
        let words = boundaries.value.last().map_or(0, |&w| w as usize);
        let threshold = block.list::<u32>("cat_threshold", words)?;
        (boundaries, threshold)
    } else {
        (
            block.list_or_empty::<u32>("cat_boundaries", 0)?,
            block.list_or_empty::<u32>("cat_threshold", 0)?,
        )
    };
    let linear = if is_linear {
        let leaf_const = block.list("leaf_const", leaves)?;
        let num_features = block.list::<u32>("num_features", leaves)?;
        let total = num_features
            .value
            .iter()
            .map(|&n| n as usize)
            .fold(0usize, usize::saturating_add);
        Some(LinearText {
            leaf_const,
            leaf_features: block.list_or_empty("leaf_features", total)?,
            leaf_coeff: block.list_or_empty("leaf_coeff", total)?,
            num_features,
        })
    } else {
        None
    };
    Ok(TreeText {
        line: block.line,
        num_cat,
        split_feature: block.list_or_empty("split_feature", internal)?,
        threshold: block.list_or_empty("threshold", internal)?,
        decision_type: block.list_or_empty("decision_type", internal)?,
        left_child: block.list_or_empty("left_child", internal)?,
        right_child: block.list_or_empty("right_child", internal)?,
        leaf_value: block.list("leaf_value", leaves)?,
        cat_boundaries,
        cat_threshold,
        linear,
        num_leaves,
    })
}

/// What follows `end of trees`.
struct Trailer {
    categorical_feature: Option<Located<String>>,
    pandas_categorical: Option<Located<Option<Vec<Vec<serde_json::Value>>>>>,
}

fn parse_trailer(lines: &mut Lines<'_>) -> Result<Trailer, ImportError> {
    let mut trailer = Trailer {
        categorical_feature: None,
        pandas_categorical: None,
    };
    let mut parameters_from = None;
    let mut parameters_done = false;
    while let Some((number, line)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some(pandas) = &trailer.pandas_categorical {
            return Err(malformed(
                number,
                format!(
                    "unexpected text after the pandas_categorical line (line {}), which must be the last",
                    pandas.line
                ),
            ));
        }
        if parameters_from.is_some() {
            if line == "end of parameters" {
                parameters_from = None;
                parameters_done = true;
            } else if let Some(value) = line.strip_prefix("[categorical_feature:") {
                trailer.categorical_feature = Some(Located {
                    value: value.trim_end_matches(']').trim().to_owned(),
                    line: number,
                });
            }
        } else if line == "parameters:" {
            if parameters_done {
                return Err(malformed(number, "a second parameters section"));
            }
            parameters_from = Some(number);
        } else if let Some(json) = line.strip_prefix("pandas_categorical:") {
            let value = serde_json::from_str(json).map_err(|e| {
                malformed(
                    number,
                    format!("pandas_categorical is not JSON null or a list of category lists: {e}"),
                )
            })?;
            trailer.pandas_categorical = Some(Located {
                value,
                line: number,
            });
        }
        // Anything else is the informational feature importances.
    }
    if let Some(from) = parameters_from {
        return Err(malformed(
            lines.last,
            format!(
                "the parameters section opened at line {from} has no `end of parameters`: the file is truncated"
            ),
        ));
    }
    Ok(trailer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(error: ImportError) -> String {
        match error {
            ImportError::Malformed {
                location, message, ..
            } => format!("{location}: {message}"),
            other => panic!("expected a malformed-model error, got {other}"),
        }
    }

    const STUMP: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\nfeature_names=a b\nfeature_infos=[0:1] [0:1]\ntree_sizes=1\n\nTree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nthreshold=0.5\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=-1 1\nshrinkage=1\n\n\nend of trees\n\nfeature_importances:\nb=1\n\nparameters:\n[categorical_feature: ]\nend of parameters\n\npandas_categorical:null\n";

    #[test]
    fn parses_every_key_with_its_line() {
        let text = parse(STUMP.as_bytes()).unwrap();
        assert_eq!(text.header.num_class.value, 1);
        assert_eq!(text.header.max_feature_idx.line, 6);
        let objective = text.header.objective.unwrap();
        assert_eq!(objective.value.name, "binary");
        assert_eq!(objective.value.args, ["sigmoid:1"]);
        assert_eq!(text.header.feature_names.value, ["a", "b"]);
        assert_eq!(text.trees.len(), 1);
        let tree = &text.trees[0];
        assert_eq!(tree.line, 12);
        assert_eq!(tree.threshold.value, [0.5]);
        assert_eq!(tree.left_child.line, 18);
        assert_eq!(tree.leaf_value.value, [-1.0, 1.0]);
        assert_eq!(text.end_of_trees, 24);
        assert_eq!(text.categorical_feature.unwrap().value, "");
        assert_eq!(text.pandas_categorical.unwrap().value, None);
    }

    #[test]
    fn windows_line_endings_parse_the_same() {
        let crlf = STUMP.replace('\n', "\r\n");
        assert_eq!(
            parse(crlf.as_bytes()).unwrap(),
            parse(STUMP.as_bytes()).unwrap()
        );
    }

    #[test]
    fn errors_point_at_the_line() {
        let bad = STUMP.replace("threshold=0.5", "threshold=zero");
        assert_eq!(
            location(parse(bad.as_bytes()).unwrap_err()),
            "line 16: tree 0: value 0 of `threshold` is `zero`, which is not a number"
        );
        let bad = STUMP.replace("leaf_value=-1 1", "leaf_value=-1");
        assert_eq!(
            location(parse(bad.as_bytes()).unwrap_err()),
            "line 20: tree 0: `leaf_value` has 1 values, expected 2"
        );
        let bad = STUMP.replace("Tree=0", "Tree=1");
        assert!(
            location(parse(bad.as_bytes()).unwrap_err()).starts_with("line 12: expected `Tree=0`")
        );
        let bad = STUMP.replace("tree_sizes=1", "tree_sizes=1 2");
        assert!(
            location(parse(bad.as_bytes()).unwrap_err())
                .starts_with("line 10: tree_sizes lists 2 trees")
        );
        let bad = STUMP.replace("\nend of parameters", "");
        assert!(location(parse(bad.as_bytes()).unwrap_err()).contains("no `end of parameters`"));
    }
}
