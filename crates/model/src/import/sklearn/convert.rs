//! From the [`schema`](super::schema) mirror to a validated [`NativeModel`], following the
//! evaluation rules of `docs/formats/sklearn.md` operation by operation.
//!
//! Transformers become preprocessing [`Step`]s and the final estimator a linear model or a tree
//! ensemble. While converting, every column carries a [`Domain`]: a number, or the code of a
//! string category in the category list of the input column it came from. The lists start as
//! the export's `input.columns[].categories` and grow when a step knows a string they lack (an
//! imputer's fill value, a second encoder's category), so that every string a step can match
//! has a code; the lists become the signature's categories.
//!
//! The arithmetic that makes predictions identical is spelled out where it happens:
//! scikit-learn's trees compare the `f32` input with `f64` thresholds, HistGradientBoosting
//! compares in `f64`, GradientBoosting adds `learning_rate * leaf` (rounded) to the raw score,
//! and forests add class fractions in tree order before dividing by the number of trees.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::FORMAT;
use super::schema::{
    self, Document, Estimator, Float, Label, NodeValue, OneHotUnknown, OrdinalUnknown, Typed, Value,
};
use crate::error::ImportError;
use crate::family::linear::{LinearMissing, LinearModel};
use crate::family::link::{Link, Precision};
use crate::family::preprocess::{
    Branch, Fallback, Indicator, IndicatorColumn, LookupColumn, MAX_INDICATORS, Step,
};
use crate::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble, limits};
use crate::family::{Family, NativeModel, Pipeline};
use crate::format::{ModelFile, ModelInfo};
use crate::signature::{ClassLabel, Feature, Signature, Task};

/// The most input columns accepted.
const MAX_FEATURES: usize = 1 << 24;

/// The most classes accepted.
const MAX_CLASSES: usize = 1 << 16;

/// HistGradientBoosting's bitsets have 256 bits: category positions must fit.
const HGB_MAX_CATEGORIES: usize = 256;

/// Words in one HistGradientBoosting bitset.
const BITSET_WORDS: usize = 8;

fn malformed(location: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        format: FORMAT,
        location: location.into(),
        message: message.into(),
    }
}

fn unsupported(what: impl Into<String>) -> ImportError {
    ImportError::Unsupported {
        format: FORMAT,
        what: what.into(),
    }
}

/// What the values of a column are while the pipeline is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    /// Numbers; `NaN` is missing.
    Number,
    /// Codes into the category list of input column `.0`; `NaN` is missing (or a string the
    /// signature does not know).
    Category(usize),
}

/// A growing list of the string categories of one input column.
#[derive(Debug, Default)]
struct CategoryList {
    names: Vec<String>,
    codes: HashMap<String, usize>,
}

impl CategoryList {
    /// The code of `name`, appended to the list if it is new.
    fn code(&mut self, name: &str) -> f64 {
        if let Some(&code) = self.codes.get(name) {
            return code as f64;
        }
        let code = self.names.len();
        self.names.push(name.to_owned());
        self.codes.insert(name.to_owned(), code);
        code as f64
    }
}

/// Keys of a lookup table, sorted, each with its payload, and the payload of the missing
/// category if there is one.
struct Keyed<T> {
    keys: Vec<f64>,
    payloads: Vec<T>,
    missing: Option<T>,
}

/// A converted model: steps (possibly none) before a family.
struct Converted {
    steps: Vec<Step>,
    family: Family,
    task: Task,
    raw_width: usize,
    /// Whether scikit-learn's estimator has `predict_proba` (see [`Signature::probabilities`]).
    probabilities: bool,
}

impl Converted {
    /// A model that takes its input columns as they are.
    fn plain(family: Family, task: Task, raw_width: usize) -> Self {
        Converted {
            steps: Vec::new(),
            family,
            task,
            raw_width,
            probabilities: true,
        }
    }

    /// The same model, marked as having no `predict_proba`.
    fn without_probabilities(self) -> Self {
        Converted {
            probabilities: false,
            ..self
        }
    }
}

/// How leaves of a scikit-learn `tree_` become leaf values.
#[derive(Debug, Clone, Copy)]
enum Leaves {
    /// One number per leaf, multiplied by `scale` (GradientBoosting's learning rate).
    Scalar { scale: Option<f64> },
    /// A row of class fractions per leaf.
    Classes(usize),
}

/// The conversion state: the category lists of the input columns.
struct Context {
    lists: Vec<CategoryList>,
}

/// Converts a parsed export into a model file named `name`.
pub(super) fn convert(doc: Document, name: &str) -> Result<ModelFile, ImportError> {
    let n = count(doc.input.n_features, "input.n_features", MAX_FEATURES)?;
    if n == 0 {
        return Err(malformed(
            "input.n_features",
            "a model needs at least one input",
        ));
    }
    if doc.input.columns.len() != n {
        return Err(malformed(
            "input.columns",
            format!(
                "expected {n} columns (input.n_features), found {}",
                doc.input.columns.len()
            ),
        ));
    }
    if let Some(names) = &doc.input.feature_names
        && names.len() != n
    {
        return Err(malformed(
            "input.feature_names",
            format!("expected {n} names, found {}", names.len()),
        ));
    }
    let mut cx = Context {
        lists: (0..n).map(|_| CategoryList::default()).collect(),
    };
    let domains = cx.input_domains(&doc.input)?;
    let converted = cx.model(&doc.estimator, "estimator", &domains)?;
    let classifier = matches!(converted.task, Task::Classification { .. });
    match (doc.output.task.as_str(), classifier) {
        ("classification", true) | ("regression", false) => {}
        ("classification" | "regression", _) => {
            return Err(malformed(
                "output.task",
                format!(
                    "`{}` disagrees with the estimator, a {}",
                    doc.output.task,
                    if classifier {
                        "classifier"
                    } else {
                        "regressor"
                    }
                ),
            ));
        }
        (other, _) => {
            return Err(malformed(
                "output.task",
                format!("unknown task `{other}` (expected classification or regression)"),
            ));
        }
    }

    let names: Vec<Option<&str>> = (0..n)
        .map(|j| {
            doc.input
                .feature_names
                .as_ref()
                .and_then(|names| names.get(j))
                .or(doc.input.columns[j].name.as_ref())
                .map(String::as_str)
        })
        .collect();
    let positional = names.iter().all(Option::is_none);
    let features = domains
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(j, (domain, name))| {
            let name = name.map_or_else(|| format!("f{j}"), str::to_owned);
            match domain {
                Domain::Number => Feature::numeric(name),
                Domain::Category(list) => {
                    Feature::categorical(name, std::mem::take(&mut cx.lists[*list].names))
                }
            }
        })
        .collect();
    let mut signature = Signature::new(features, converted.task);
    signature.raw_width = converted.raw_width;
    signature.positional = positional;
    signature.probabilities = converted.probabilities;
    let family = if converted.steps.is_empty() {
        converted.family
    } else {
        Family::Pipeline(Pipeline {
            num_features: n,
            steps: converted.steps,
            model: Box::new(converted.family),
        })
    };
    let model = NativeModel::new(signature, family).map_err(|source| ImportError::Invalid {
        format: FORMAT,
        source,
    })?;
    Ok(ModelFile {
        info: ModelInfo::new(name, "scikit-learn", doc.sklearn_version),
        model,
    })
}

/// A non-negative count no larger than `max`.
fn count(value: i64, at: &str, max: usize) -> Result<usize, ImportError> {
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
fn index(value: i64, len: usize, at: &str) -> Result<usize, ImportError> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v < len)
        .ok_or_else(|| malformed(at, format!("index {value} is out of range (0..{len})")))
}

/// A `0`/`1` flag.
fn flag(value: i64, at: &str) -> Result<bool, ImportError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(malformed(at, format!("expected 0 or 1, found {other}"))),
    }
}

/// Checks that an array has `expected` entries.
fn length<T>(items: &[T], expected: usize, at: &str) -> Result<(), ImportError> {
    if items.len() == expected {
        Ok(())
    } else {
        Err(malformed(
            at,
            format!("expected {expected} entries, found {}", items.len()),
        ))
    }
}

fn floats(items: &[Float]) -> Vec<f64> {
    items.iter().map(|f| f.0).collect()
}

/// Checks an estimator's `n_features_in` against the columns it receives.
fn check_inputs(declared: Option<i64>, received: usize, at: &str) -> Result<(), ImportError> {
    match declared {
        Some(n) if usize::try_from(n).ok() != Some(received) => Err(malformed(
            format!("{at}.n_features_in"),
            format!("says {n} but the estimator receives {received} columns"),
        )),
        _ => Ok(()),
    }
}

/// Refuses a model that would read strings: scikit-learn models read numbers.
fn numbers_only(input: &[Domain], at: &str, kind: &str) -> Result<(), ImportError> {
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
fn class_labels(labels: &[Label], at: &str) -> Result<Vec<ClassLabel>, ImportError> {
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

/// The row-major `rows x cols` matrix of `coef`.
fn matrix(
    coef: &[Vec<Float>],
    rows: usize,
    cols: usize,
    at: &str,
) -> Result<Vec<f64>, ImportError> {
    length(coef, rows, at)?;
    let mut out = Vec::with_capacity(rows * cols);
    for (r, row) in coef.iter().enumerate() {
        length(row, cols, &format!("{at}[{r}]"))?;
        out.extend(row.iter().map(|f| f.0));
    }
    Ok(out)
}

/// Orders the nodes breadth-first from the root, so children follow their parents, and
/// rejects cycles, shared children and unreachable nodes. Returns the old ids in the new
/// order and the new id of each old node.
fn breadth_first(
    children: &[Option<(usize, usize)>],
    at: &str,
) -> Result<(Vec<usize>, Vec<u32>), ImportError> {
    const UNSEEN: u32 = u32::MAX;
    let mut new_id = vec![UNSEEN; children.len()];
    let mut order = Vec::with_capacity(children.len());
    new_id[0] = 0;
    order.push(0);
    let mut next = 0;
    while let Some(&node) = order.get(next) {
        next += 1;
        if let Some((left, right)) = children[node] {
            for child in [left, right] {
                if new_id[child] != UNSEEN {
                    return Err(malformed(
                        format!("{at}, node {node}"),
                        format!(
                            "child {child} is reached twice: the nodes form a cycle or share a child"
                        ),
                    ));
                }
                new_id[child] = order.len() as u32;
                order.push(child);
            }
        }
    }
    if let Some(lost) = new_id.iter().position(|&id| id == UNSEEN) {
        return Err(malformed(
            format!("{at}, node {lost}"),
            "the node is not reachable from the root",
        ));
    }
    Ok((order, new_id))
}

/// The number of nodes of a tree, at least one and within Verdict's limit.
fn node_count(value: i64, at: &str) -> Result<usize, ImportError> {
    let n = count(
        value,
        &format!("{at}.node_count"),
        limits::MAX_NODES_PER_TREE,
    )?;
    if n == 0 {
        return Err(malformed(
            format!("{at}.node_count"),
            "a tree needs at least one node",
        ));
    }
    Ok(n)
}

/// A scikit-learn `tree_` (decision trees, forests, GradientBoosting) as a Verdict tree
/// adding to raw output `output`.
fn sklearn_tree(
    tree: &schema::Tree,
    at: &str,
    num_features: usize,
    leaves: Leaves,
    output: u32,
) -> Result<Tree, ImportError> {
    let n = node_count(tree.node_count, at)?;
    length(&tree.children_left, n, &format!("{at}.children_left"))?;
    length(&tree.children_right, n, &format!("{at}.children_right"))?;
    length(&tree.feature, n, &format!("{at}.feature"))?;
    length(&tree.threshold, n, &format!("{at}.threshold"))?;
    length(
        &tree.missing_go_to_left,
        n,
        &format!("{at}.missing_go_to_left"),
    )?;
    length(&tree.value, n, &format!("{at}.value"))?;
    let children = (0..n)
        .map(|i| {
            // A leaf is `children_left == -1`, as scikit-learn tests it.
            if tree.children_left[i] == -1 {
                return Ok(None);
            }
            let left = index(
                tree.children_left[i],
                n,
                &format!("{at}.children_left[{i}]"),
            )?;
            let right = index(
                tree.children_right[i],
                n,
                &format!("{at}.children_right[{i}]"),
            )?;
            Ok(Some((left, right)))
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let (order, new_id) = breadth_first(&children, at)?;

    let mut nodes = Vec::with_capacity(n);
    let mut leaf_values = Vec::new();
    let leaf_width = match leaves {
        Leaves::Scalar { .. } => 1,
        Leaves::Classes(k) => k,
    };
    for &i in &order {
        let Some((left, right)) = children[i] else {
            let leaf = (leaf_values.len() / leaf_width) as u32;
            match (leaves, &tree.value[i]) {
                (Leaves::Scalar { scale }, NodeValue::Scalar(v)) => {
                    // GradientBoosting adds `learning_rate * leaf`, the product rounded before
                    // the sum: folding it into the leaf in f64 is the same number.
                    leaf_values.push(scale.map_or(*v, |lr| lr * v));
                }
                (Leaves::Classes(k), NodeValue::Row(row)) if row.len() == k => {
                    // Class fractions, used as they are: scikit-learn's predict_proba does.
                    leaf_values.extend_from_slice(row);
                }
                (Leaves::Scalar { .. }, _) => {
                    return Err(malformed(
                        format!("{at}.value[{i}]"),
                        "expected a number (a regression leaf)",
                    ));
                }
                (Leaves::Classes(k), _) => {
                    return Err(malformed(
                        format!("{at}.value[{i}]"),
                        format!("expected a row of {k} class fractions"),
                    ));
                }
            }
            nodes.push(Node::Leaf { leaf });
            continue;
        };
        let feature = index(tree.feature[i], num_features, &format!("{at}.feature[{i}]"))?;
        nodes.push(Node::Numeric {
            feature: feature as u32,
            threshold: tree.threshold[i].0,
            missing: Missing::Nan,
            default_left: flag(
                tree.missing_go_to_left[i],
                &format!("{at}.missing_go_to_left[{i}]"),
            )?,
            left: new_id[left],
            right: new_id[right],
        });
    }
    let cover = covers(
        tree.weighted_n_node_samples.as_deref(),
        &order,
        n,
        &format!("{at}.weighted_n_node_samples"),
    )?;
    Ok(Tree {
        output,
        nodes,
        leaf_values,
        category_words: Vec::new(),
        linear: None,
        cover,
    })
}

/// The optional per-node covers of an exported tree, in the native node order.
fn covers(
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

/// A `StandardScaler`'s `mean` or `scale`: given exactly when its parameter is set, and
/// `neutral` for every column otherwise.
fn scaler_part(
    values: Option<&[Float]>,
    wanted: bool,
    columns: usize,
    neutral: f64,
    at: &str,
    parameter: &str,
) -> Result<Vec<f64>, ImportError> {
    match (values, wanted) {
        (Some(values), true) => {
            length(values, columns, at)?;
            Ok(floats(values))
        }
        (None, false) => Ok(vec![neutral; columns]),
        (Some(_), false) | (None, true) => Err(malformed(
            at,
            format!("must be given exactly when {parameter} is true"),
        )),
    }
}

/// The number of trees per iteration (`K`) of a boosted classifier or regressor.
fn trees_per_iteration(
    declared: i64,
    classes: Option<&[ClassLabel]>,
    at: &str,
) -> Result<usize, ImportError> {
    let k = count(
        declared,
        &format!("{at}.n_trees_per_iteration"),
        MAX_CLASSES,
    )?;
    let expected = match classes {
        None => 1,
        Some(classes) if classes.len() == 2 => 1,
        Some(classes) => classes.len(),
    };
    if k != expected {
        return Err(malformed(
            format!("{at}.n_trees_per_iteration"),
            format!("expected {expected} for this task, found {k}"),
        ));
    }
    Ok(k)
}

impl Context {
    /// The domain of each input column, and the first entries of the category lists.
    fn input_domains(&mut self, input: &schema::Input) -> Result<Vec<Domain>, ImportError> {
        input
            .columns
            .iter()
            .enumerate()
            .map(|(j, column)| match column.kind.as_str() {
                // An ignored column is dropped by a ColumnTransformer: nothing reads it.
                "numeric" | "ignored" => Ok(Domain::Number),
                "categorical" => {
                    let categories = column.categories.as_deref().unwrap_or_default();
                    let strings = categories.iter().any(|c| matches!(c, Value::Text(_)));
                    let numbers = categories.iter().any(|c| matches!(c, Value::Number(_)));
                    if strings && numbers {
                        return Err(unsupported(format!(
                            "input column {j} mixes string and number categories"
                        )));
                    }
                    if numbers {
                        // Numeric categories arrive as the numbers themselves.
                        return Ok(Domain::Number);
                    }
                    for category in categories {
                        if let Value::Text(name) = category {
                            self.lists[j].code(name);
                        }
                    }
                    Ok(Domain::Category(j))
                }
                other => Err(malformed(
                    format!("input.columns[{j}].kind"),
                    format!("unknown kind `{other}` (expected numeric, categorical or ignored)"),
                )),
            })
            .collect()
    }

    /// The keys a cell of `domain` is matched against for each category, with `payloads`
    /// in category order. Categories a cell of this domain can never equal (a string in a
    /// numeric column) are left out; the first of equal categories wins.
    fn keyed<T: Copy>(
        &mut self,
        categories: &[Value],
        domain: Domain,
        payloads: impl IntoIterator<Item = T>,
    ) -> Keyed<T> {
        let mut missing = None;
        let mut pairs = Vec::with_capacity(categories.len());
        for (category, payload) in categories.iter().zip(payloads) {
            match (category, domain) {
                (Value::Missing, _) => {
                    missing = missing.or(Some(payload));
                }
                (Value::Number(x), Domain::Number) if !x.is_nan() => pairs.push((*x, payload)),
                (Value::Text(name), Domain::Category(list)) => {
                    pairs.push((self.lists[list].code(name), payload));
                }
                _ => {}
            }
        }
        // Stable: among equal keys the first category stays first, and is kept.
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        Keyed {
            keys: pairs.iter().map(|p| p.0).collect(),
            payloads: pairs.into_iter().map(|p| p.1).collect(),
            missing,
        }
    }

    /// The value `statistic` takes in a column of `domain` (an imputer's fill value).
    fn cell(
        &mut self,
        value: &Value,
        domain: Domain,
        at: &str,
    ) -> Result<Option<f64>, ImportError> {
        Ok(match (value, domain) {
            (Value::Missing, _) => Some(f64::NAN),
            (Value::Number(x), Domain::Number) => Some(*x),
            (Value::Text(name), Domain::Category(list)) => Some(self.lists[list].code(name)),
            (Value::Text(name), Domain::Number) => {
                return Err(unsupported(format!(
                    "{at}: the string `{name}` cannot fill a numeric column"
                )));
            }
            (Value::Number(x), Domain::Category(_)) => {
                return Err(unsupported(format!(
                    "{at}: the number {x} cannot fill a column of string categories"
                )));
            }
        })
    }

    /// A transformer: its steps, and the domains of its output columns.
    fn transformer(
        &mut self,
        typed: &Typed,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        let kind = typed.kind.as_str();
        match &typed.estimator {
            Estimator::Pipeline(p) => {
                check_inputs(p.n_features_in, input.len(), at)?;
                if p.steps.is_empty() {
                    return Err(malformed(format!("{at}.steps"), "a pipeline needs a step"));
                }
                let mut steps = Vec::new();
                let mut domains = input.to_vec();
                for (s, step) in p.steps.iter().enumerate() {
                    let (more, next) = self.transformer(
                        &step.estimator,
                        &format!("{at}.steps[{s}].estimator"),
                        &domains,
                    )?;
                    steps.extend(more);
                    domains = next;
                }
                Ok((steps, domains))
            }
            Estimator::ColumnTransformer(ct) => self.column_transformer(ct, at, input),
            Estimator::StandardScaler(s) => {
                check_inputs(s.n_features_in, input.len(), at)?;
                numbers_only(input, at, kind)?;
                let n = input.len();
                // Without centring or scaling, `x - 0.0` and `x / 1.0` are `x` exactly.
                let mean = scaler_part(
                    s.mean.as_deref(),
                    s.with_mean,
                    n,
                    0.0,
                    &format!("{at}.mean"),
                    "with_mean",
                )?;
                let scale = scaler_part(
                    s.scale.as_deref(),
                    s.with_std,
                    n,
                    1.0,
                    &format!("{at}.scale"),
                    "with_std",
                )?;
                Ok((vec![Step::Standardize { mean, scale }], input.to_vec()))
            }
            Estimator::MinMaxScaler(s) => {
                check_inputs(s.n_features_in, input.len(), at)?;
                numbers_only(input, at, kind)?;
                length(&s.scale, input.len(), &format!("{at}.scale"))?;
                length(&s.min, input.len(), &format!("{at}.min"))?;
                length(&s.feature_range, 2, &format!("{at}.feature_range"))?;
                let (lo, hi) = (s.feature_range[0].0, s.feature_range[1].0);
                if !matches!(lo.partial_cmp(&hi), Some(Ordering::Less | Ordering::Equal)) {
                    return Err(malformed(
                        format!("{at}.feature_range"),
                        format!("({lo}, {hi}) is not a range"),
                    ));
                }
                Ok((
                    vec![Step::MinMax {
                        scale: floats(&s.scale),
                        min: floats(&s.min),
                        clip: s.clip.then_some((lo, hi)),
                    }],
                    input.to_vec(),
                ))
            }
            Estimator::SimpleImputer(s) => self.imputer(s, at, input),
            Estimator::OneHotEncoder(e) => self.one_hot(e, at, input),
            Estimator::OrdinalEncoder(e) => self.ordinal(e, at, input),
            Estimator::Unknown => Err(unsupported(format!("estimator type `{kind}` at {at}"))),
            _ => Err(unsupported(format!(
                "{kind} at {at} is a model, but a transformer is expected here"
            ))),
        }
    }

    fn column_transformer(
        &mut self,
        ct: &schema::ColumnTransformer,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(ct.n_features_in, input.len(), at)?;
        let mut branches = Vec::new();
        let mut domains = Vec::new();
        for (e, entry) in ct.transformers.iter().enumerate() {
            let at = format!("{at}.transformers[{e}]");
            let columns = entry
                .columns
                .iter()
                .enumerate()
                .map(|(i, &c)| index(c, input.len(), &format!("{at}.columns[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let selected: Vec<Domain> = columns.iter().map(|&c| input[c]).collect();
            let (steps, out) = match entry.kind.as_str() {
                "drop" => continue,
                "passthrough" => (Vec::new(), selected),
                "transformer" => {
                    let Some(estimator) = &entry.estimator else {
                        return Err(malformed(
                            format!("{at}.estimator"),
                            "a `transformer` entry needs an estimator",
                        ));
                    };
                    self.transformer(estimator, &format!("{at}.estimator"), &selected)?
                }
                other => {
                    return Err(malformed(
                        format!("{at}.kind"),
                        format!(
                            "unknown kind `{other}` (expected transformer, passthrough or drop)"
                        ),
                    ));
                }
            };
            if usize::try_from(entry.output_width).ok() != Some(out.len()) {
                return Err(malformed(
                    format!("{at}.output_width"),
                    format!(
                        "says {} but the entry produces {} columns",
                        entry.output_width,
                        out.len()
                    ),
                ));
            }
            if entry.output_start.and_then(|s| usize::try_from(s).ok()) != Some(domains.len()) {
                return Err(malformed(
                    format!("{at}.output_start"),
                    format!("expected {}, the columns before this entry", domains.len()),
                ));
            }
            branches.push(Branch {
                columns: columns.iter().map(|&c| c as u32).collect(),
                steps,
            });
            domains.extend(out);
        }
        if usize::try_from(ct.n_output_features).ok() != Some(domains.len()) {
            return Err(malformed(
                format!("{at}.n_output_features"),
                format!(
                    "says {} but the entries produce {} columns",
                    ct.n_output_features,
                    domains.len()
                ),
            ));
        }
        Ok((
            vec![Step::Columns {
                branches,
                remainder: Vec::new(),
            }],
            domains,
        ))
    }

    fn imputer(
        &mut self,
        s: &schema::SimpleImputer,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(s.n_features_in, input.len(), at)?;
        length(&s.statistics, input.len(), &format!("{at}.statistics"))?;
        let kept = s
            .output_columns
            .iter()
            .enumerate()
            .map(|(i, &c)| index(c, input.len(), &format!("{at}.output_columns[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let domains: Vec<Domain> = kept.iter().map(|&c| input[c]).collect();
        let mut steps = Vec::new();
        if !kept.iter().copied().eq(0..input.len()) {
            steps.push(Step::Select {
                columns: kept.iter().map(|&c| c as u32).collect(),
            });
        }
        let mut fill = Vec::with_capacity(kept.len());
        for (&c, &domain) in kept.iter().zip(&domains) {
            let value = self.cell(&s.statistics[c], domain, &format!("{at}.statistics[{c}]"))?;
            fill.push(value.unwrap_or(f64::NAN));
        }
        if s.missing_values == Value::Missing {
            steps.push(Step::Impute { fill });
            return Ok((steps, domains));
        }
        // A marker value: cells equal to it are replaced; missing cells stay missing. A
        // marker of the other type (a string in a numeric column) never matches.
        let mut columns = Vec::with_capacity(kept.len());
        for (&domain, fill) in domains.iter().zip(fill) {
            let keyed = self.keyed(std::slice::from_ref(&s.missing_values), domain, [fill]);
            columns.push(LookupColumn {
                keys: keyed.keys,
                values: keyed.payloads,
                missing: Fallback::Keep,
                unknown: Fallback::Keep,
            });
        }
        steps.push(Step::Lookup { columns });
        Ok((steps, domains))
    }

    fn one_hot(
        &mut self,
        e: &schema::OneHotEncoder,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(e.n_features_in, input.len(), at)?;
        length(&e.features, input.len(), &format!("{at}.features"))?;
        let width = count(
            e.n_output_features,
            &format!("{at}.n_output_features"),
            MAX_INDICATORS as usize,
        )?;
        let target = |column: i64, at: &str| -> Result<Indicator, ImportError> {
            if column == -1 {
                return Ok(Indicator::Nothing);
            }
            index(column, width, at).map(|c| Indicator::Column(c as u32))
        };
        let mut columns = Vec::with_capacity(input.len());
        for (j, (feature, &domain)) in e.features.iter().zip(input).enumerate() {
            let at = format!("{at}.features[{j}]");
            length(
                &feature.output_index,
                feature.categories.len(),
                &format!("{at}.output_index"),
            )?;
            let outputs = feature
                .output_index
                .iter()
                .enumerate()
                .map(|(i, &o)| target(o, &format!("{at}.output_index[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let unknown = match feature.unknown {
                OneHotUnknown::Error => Indicator::Error,
                OneHotUnknown::Zeros => Indicator::Nothing,
                OneHotUnknown::Column(c) => target(c, &format!("{at}.unknown"))?,
            };
            let keyed = self.keyed(&feature.categories, domain, outputs);
            columns.push(IndicatorColumn {
                keys: keyed.keys,
                outputs: keyed.payloads,
                // Without a missing category, a missing cell is an unknown one.
                missing: keyed.missing.unwrap_or(unknown),
                unknown,
            });
        }
        Ok((
            vec![Step::Indicators {
                width: width as u32,
                columns,
            }],
            vec![Domain::Number; width],
        ))
    }

    fn ordinal(
        &mut self,
        e: &schema::OrdinalEncoder,
        at: &str,
        input: &[Domain],
    ) -> Result<(Vec<Step>, Vec<Domain>), ImportError> {
        check_inputs(e.n_features_in, input.len(), at)?;
        length(&e.features, input.len(), &format!("{at}.features"))?;
        let mut columns = Vec::with_capacity(input.len());
        for (j, (feature, &domain)) in e.features.iter().zip(input).enumerate() {
            length(
                &feature.codes,
                feature.categories.len(),
                &format!("{at}.features[{j}].codes"),
            )?;
            let unknown = match feature.unknown {
                OrdinalUnknown::Error => Fallback::Error,
                OrdinalUnknown::Value(v) => Fallback::Value(v),
            };
            let keyed = self.keyed(&feature.categories, domain, floats(&feature.codes));
            columns.push(LookupColumn {
                keys: keyed.keys,
                values: keyed.payloads,
                missing: keyed.missing.map_or(unknown, Fallback::Value),
                unknown,
            });
        }
        Ok((
            vec![Step::Lookup { columns }],
            vec![Domain::Number; input.len()],
        ))
    }

    /// A model, with the steps it needs before it.
    fn model(
        &mut self,
        typed: &Typed,
        at: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let kind = typed.kind.as_str();
        let n = input.len();
        match &typed.estimator {
            Estimator::Pipeline(p) => {
                check_inputs(p.n_features_in, n, at)?;
                let Some((last, before)) = p.steps.split_last() else {
                    return Err(malformed(format!("{at}.steps"), "a pipeline needs a step"));
                };
                let mut steps = Vec::new();
                let mut domains = input.to_vec();
                for (s, step) in before.iter().enumerate() {
                    let (more, next) = self.transformer(
                        &step.estimator,
                        &format!("{at}.steps[{s}].estimator"),
                        &domains,
                    )?;
                    steps.extend(more);
                    domains = next;
                }
                let mut converted = self.model(
                    &last.estimator,
                    &format!("{at}.steps[{}].estimator", before.len()),
                    &domains,
                )?;
                steps.append(&mut converted.steps);
                converted.steps = steps;
                Ok(converted)
            }
            Estimator::LinearRegressor(m) => {
                check_inputs(m.n_features_in, n, at)?;
                numbers_only(input, at, kind)?;
                let outputs = count(m.n_outputs, &format!("{at}.n_outputs"), MAX_CLASSES)?;
                if outputs == 0 {
                    return Err(malformed(format!("{at}.n_outputs"), "expected at least 1"));
                }
                let coefficients = matrix(&m.coef, outputs, n, &format!("{at}.coef"))?;
                length(&m.intercept, outputs, &format!("{at}.intercept"))?;
                let task = if outputs == 1 {
                    Task::Regression
                } else {
                    Task::MultiOutput {
                        targets: (0..outputs).map(|k| format!("prediction_{k}")).collect(),
                    }
                };
                Ok(Converted::plain(
                    linear(n, coefficients, floats(&m.intercept), Link::Identity),
                    task,
                    outputs,
                ))
            }
            Estimator::LinearClassifier(m) => {
                check_inputs(m.n_features_in, n, at)?;
                numbers_only(input, at, kind)?;
                let classes = class_labels(&m.classes, at)?;
                let binary = classes.len() == 2;
                let rows = if binary { 1 } else { classes.len() };
                let coefficients = matrix(&m.coef, rows, n, &format!("{at}.coef"))?;
                length(&m.intercept, rows, &format!("{at}.intercept"))?;
                let link = match (m.proba.as_deref(), binary) {
                    // LinearSVC has no predict_proba: its link serves only the label (the sign
                    // or the arg-max of the decision function), and the model says it has none.
                    (Some("sigmoid" | "ovr") | None, true) => margin_sigmoid(1.0, false),
                    (Some("softmax") | None, false) => Link::Softmax,
                    (Some("ovr"), false) => Link::NormalizedSigmoid,
                    (Some(other), _) => {
                        return Err(unsupported(format!(
                            "{kind} at {at}: probabilities `{other}` for {} classes",
                            classes.len()
                        )));
                    }
                };
                let converted = Converted::plain(
                    linear(n, coefficients, floats(&m.intercept), link),
                    Task::Classification { classes },
                    rows,
                );
                Ok(if m.proba.is_some() {
                    converted
                } else {
                    converted.without_probabilities()
                })
            }
            Estimator::OneVsRest(o) => self.one_vs_rest(o, at, input),
            Estimator::DecisionTree(m) => {
                check_inputs(m.n_features_in, n, at)?;
                numbers_only(input, at, kind)?;
                let (task, leaves, width) = tree_task(m.classes.as_deref(), at)?;
                let tree = sklearn_tree(&m.tree, &format!("{at}.tree"), n, leaves, 0)?;
                Ok(Converted::plain(
                    trees(
                        n,
                        SplitRule::LessEqualF32Input,
                        width,
                        vec![0.0; width],
                        Aggregation::Sum,
                        Link::Identity,
                        vec![tree],
                    ),
                    task,
                    width,
                ))
            }
            Estimator::Forest(m) => {
                check_inputs(m.n_features_in, n, at)?;
                numbers_only(input, at, kind)?;
                let (task, leaves, width) = tree_task(m.classes.as_deref(), at)?;
                if m.trees.is_empty() {
                    return Err(malformed(format!("{at}.trees"), "a forest needs a tree"));
                }
                let members = m
                    .trees
                    .iter()
                    .enumerate()
                    .map(|(t, tree)| sklearn_tree(tree, &format!("{at}.trees[{t}]"), n, leaves, 0))
                    .collect::<Result<Vec<_>, _>>()?;
                // Leaf values (class fractions) summed in tree order from 0.0, then divided by
                // the number of trees: scikit-learn's order, so the same bits.
                let aggregation = Aggregation::Average {
                    divisor: members.len() as f64,
                };
                Ok(Converted::plain(
                    trees(
                        n,
                        SplitRule::LessEqualF32Input,
                        width,
                        vec![0.0; width],
                        aggregation,
                        Link::Identity,
                        members,
                    ),
                    task,
                    width,
                ))
            }
            Estimator::GradientBoosting(m) => self.gradient_boosting(m, at, kind, input),
            Estimator::HistGradientBoosting(m) => self.hist_gradient_boosting(m, at, input),
            Estimator::Unknown => Err(unsupported(format!("estimator type `{kind}` at {at}"))),
            Estimator::ColumnTransformer(_)
            | Estimator::StandardScaler(_)
            | Estimator::MinMaxScaler(_)
            | Estimator::SimpleImputer(_)
            | Estimator::OneHotEncoder(_)
            | Estimator::OrdinalEncoder(_) => Err(unsupported(format!(
                "{kind} at {at} is a transformer; the model must end in an estimator that predicts"
            ))),
        }
    }

    fn one_vs_rest(
        &mut self,
        o: &schema::OneVsRest,
        at: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(o.n_features_in, n, at)?;
        numbers_only(input, at, "OneVsRestClassifier")?;
        let classes = class_labels(&o.classes, at)?;
        if classes.len() < 3 {
            return Err(unsupported(format!(
                "OneVsRestClassifier at {at} with {} classes (export the binary estimator itself)",
                classes.len()
            )));
        }
        length(&o.estimators, classes.len(), &format!("{at}.estimators"))?;
        let mut coefficients = Vec::with_capacity(classes.len() * n);
        let mut intercepts = Vec::with_capacity(classes.len());
        for (k, member) in o.estimators.iter().enumerate() {
            let at = format!("{at}.estimators[{k}]");
            let kind = member.estimator.kind.as_str();
            let Estimator::LinearClassifier(m) = &member.estimator.estimator else {
                return Err(unsupported(format!(
                    "{kind} at {at}.estimator as a one-vs-rest member (Verdict supports \
                     LogisticRegression and LinearSVC members)"
                )));
            };
            let at = format!("{at}.estimator");
            check_inputs(m.n_features_in, n, &at)?;
            if m.classes != [Label::Int(0), Label::Int(1)] {
                return Err(malformed(
                    format!("{at}.classes"),
                    "a one-vs-rest member must separate the classes [0, 1]",
                ));
            }
            if member.score != "decision_function" {
                return Err(unsupported(format!(
                    "{kind} at {at} scored by `{}` (linear members score by their decision function)",
                    member.score
                )));
            }
            if o.has_predict_proba && !matches!(m.proba.as_deref(), Some("sigmoid" | "ovr")) {
                return Err(malformed(
                    format!("{at}.proba"),
                    "has_predict_proba is set but this member has no sigmoid probabilities",
                ));
            }
            coefficients.extend(matrix(&m.coef, 1, n, &format!("{at}.coef"))?);
            length(&m.intercept, 1, &format!("{at}.intercept"))?;
            intercepts.push(m.intercept[0].0);
        }
        // predict is the arg-max of the decision values; predict_proba normalizes the
        // members' sigmoids. Without member probabilities there is no predict_proba, and the
        // softmax link serves only the arg-max.
        let link = if o.has_predict_proba {
            Link::NormalizedSigmoid
        } else {
            Link::Softmax
        };
        let width = classes.len();
        let converted = Converted::plain(
            linear(n, coefficients, intercepts, link),
            Task::Classification { classes },
            width,
        );
        Ok(if o.has_predict_proba {
            converted
        } else {
            converted.without_probabilities()
        })
    }

    fn gradient_boosting(
        &mut self,
        m: &schema::GradientBoosting,
        at: &str,
        kind: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(m.n_features_in, n, at)?;
        numbers_only(input, at, kind)?;
        let classes = m
            .classes
            .as_deref()
            .map(|labels| class_labels(labels, at))
            .transpose()?;
        let k = trees_per_iteration(m.n_trees_per_iteration, classes.as_deref(), at)?;
        length(&m.init_raw, k, &format!("{at}.init_raw"))?;
        let link = match (&classes, m.loss.as_str()) {
            (None, "squared_error" | "absolute_error" | "huber" | "quantile") => Link::Identity,
            // The label is `raw >= 0`; the exponential loss's probability is expit(2 raw).
            (Some(_), "log_loss") if k == 1 => margin_sigmoid(1.0, true),
            (Some(_), "exponential") if k == 1 => margin_sigmoid(2.0, true),
            (Some(_), "log_loss") => Link::Softmax,
            (_, loss) => {
                return Err(unsupported(format!(
                    "{kind} at {at}: loss `{loss}`{}",
                    if classes.is_some() {
                        " for this many classes"
                    } else {
                        ""
                    }
                )));
            }
        };
        let learning_rate = m.learning_rate.0;
        let mut members = Vec::with_capacity(m.trees.len() * k);
        for (s, stage) in m.trees.iter().enumerate() {
            length(stage, k, &format!("{at}.trees[{s}]"))?;
            for (j, tree) in stage.iter().enumerate() {
                members.push(sklearn_tree(
                    tree,
                    &format!("{at}.trees[{s}][{j}]"),
                    n,
                    Leaves::Scalar {
                        scale: Some(learning_rate),
                    },
                    j as u32,
                )?);
            }
        }
        let task = classes.map_or(Task::Regression, |classes| Task::Classification { classes });
        // The exported init_raw is the raw score scikit-learn starts from; it is never
        // recomputed (its clipping epsilon changed between releases).
        Ok(Converted::plain(
            trees(
                n,
                SplitRule::LessEqualF32Input,
                1,
                floats(&m.init_raw),
                Aggregation::Sum,
                link,
                members,
            ),
            task,
            k,
        ))
    }

    fn hist_gradient_boosting(
        &mut self,
        m: &schema::HistGradientBoosting,
        at: &str,
        input: &[Domain],
    ) -> Result<Converted, ImportError> {
        let n = input.len();
        check_inputs(m.n_features_in, n, at)?;
        let classes = m
            .classes
            .as_deref()
            .map(|labels| class_labels(labels, at))
            .transpose()?;
        let k = trees_per_iteration(m.n_trees_per_iteration, classes.as_deref(), at)?;
        length(
            &m.baseline_prediction,
            k,
            &format!("{at}.baseline_prediction"),
        )?;
        let link = match (&classes, m.link.as_str()) {
            (Some(_), "logit") if k == 1 => margin_sigmoid(1.0, false),
            (Some(_), "softmax") if k > 1 => Link::Softmax,
            (None, "identity") => Link::Identity,
            (None, "log") => Link::Exp,
            (_, other) => {
                return Err(unsupported(format!(
                    "HistGradientBoosting at {at}: link `{other}` for this task"
                )));
            }
        };

        // The trees read x[j] = encoded[feature_order[j]]: categorical columns (as positions
        // in their category list) first, then numeric ones.
        length(&m.input_columns, n, &format!("{at}.input_columns"))?;
        length(&m.feature_order, n, &format!("{at}.feature_order"))?;
        length(&m.is_categorical, n, &format!("{at}.is_categorical"))?;
        length(&m.f_idx_map, n, &format!("{at}.f_idx_map"))?;
        let mut order = Vec::with_capacity(n);
        let mut used = vec![false; n];
        for (j, &c) in m.feature_order.iter().enumerate() {
            let c = index(c, n, &format!("{at}.feature_order[{j}]"))?;
            if std::mem::replace(&mut used[c], true) {
                return Err(malformed(
                    format!("{at}.feature_order[{j}]"),
                    format!("column {c} appears twice"),
                ));
            }
            order.push(c);
        }
        let mut categorical = vec![false; n];
        let mut lookup = Vec::with_capacity(n);
        for (j, &c) in order.iter().enumerate() {
            let column = &m.input_columns[c];
            let at_c = format!("{at}.input_columns[{c}]");
            categorical[j] = match column.kind.as_str() {
                "categorical" => true,
                "numeric" => false,
                other => {
                    return Err(malformed(
                        format!("{at_c}.kind"),
                        format!("unknown kind `{other}` (expected numeric or categorical)"),
                    ));
                }
            };
            if flag(m.is_categorical[j], &format!("{at}.is_categorical[{j}]"))? != categorical[j] {
                return Err(malformed(
                    format!("{at}.is_categorical[{j}]"),
                    format!("disagrees with the kind of input column {c}"),
                ));
            }
            if !categorical[j] {
                numbers_only(&input[c..=c], at, "HistGradientBoosting")?;
                lookup.push(LookupColumn {
                    keys: Vec::new(),
                    values: Vec::new(),
                    missing: Fallback::Keep,
                    unknown: Fallback::Keep,
                });
                continue;
            }
            let categories = column.categories.as_deref().unwrap_or_default();
            if categories.len() > HGB_MAX_CATEGORIES {
                return Err(unsupported(format!(
                    "{at_c}: {} categories (HistGradientBoosting has at most {HGB_MAX_CATEGORIES})",
                    categories.len()
                )));
            }
            // Missing and unknown categories both become NaN, which follows the split's
            // missing direction.
            let keyed = self.keyed(
                categories,
                input[c],
                (0..categories.len()).map(|p| p as f64),
            );
            lookup.push(LookupColumn {
                keys: keyed.keys,
                values: keyed.payloads,
                missing: Fallback::Value(f64::NAN),
                unknown: Fallback::Value(f64::NAN),
            });
        }
        let known = m
            .known_cat_bitsets
            .iter()
            .enumerate()
            .map(|(r, row)| bitset(row, &format!("{at}.known_cat_bitsets[{r}]")))
            .collect::<Result<Vec<_>, _>>()?;

        let mut members = Vec::with_capacity(m.predictors.len() * k);
        for (i, iteration) in m.predictors.iter().enumerate() {
            length(iteration, k, &format!("{at}.predictors[{i}]"))?;
            for (j, tree) in iteration.iter().enumerate() {
                members.push(hgb_tree(
                    tree,
                    &format!("{at}.predictors[{i}][{j}]"),
                    &m.f_idx_map,
                    &known,
                    j as u32,
                    &format!("{at}.f_idx_map"),
                )?);
            }
        }
        let mut steps = Vec::new();
        if !order.iter().copied().eq(0..n) {
            steps.push(Step::Select {
                columns: order.iter().map(|&c| c as u32).collect(),
            });
        }
        if categorical.contains(&true) {
            steps.push(Step::Lookup { columns: lookup });
        }
        let task = classes.map_or(Task::Regression, |classes| Task::Classification { classes });
        Ok(Converted {
            steps,
            family: trees(
                n,
                SplitRule::LessEqualF64,
                1,
                floats(&m.baseline_prediction),
                Aggregation::Sum,
                link,
                members,
            ),
            task,
            raw_width: k,
            probabilities: true,
        })
    }
}

/// The task, leaf layout and raw width of a decision tree or forest.
fn tree_task(labels: Option<&[Label]>, at: &str) -> Result<(Task, Leaves, usize), ImportError> {
    Ok(match labels {
        Some(labels) => {
            let classes = class_labels(labels, at)?;
            let k = classes.len();
            // The raw output of a tree classifier is its class probabilities.
            (Task::Classification { classes }, Leaves::Classes(k), k)
        }
        None => (Task::Regression, Leaves::Scalar { scale: None }, 1),
    })
}

fn margin_sigmoid(scale: f64, positive_at_zero: bool) -> Link {
    Link::MarginSigmoid {
        scale,
        positive_at_zero,
    }
}

fn linear(num_features: usize, coefficients: Vec<f64>, intercepts: Vec<f64>, link: Link) -> Family {
    Family::Linear(LinearModel {
        num_features,
        coefficients,
        intercepts,
        precision: Precision::Double,
        // scikit-learn raises on NaN input to its linear models.
        missing: LinearMissing::Reject,
        link,
    })
}

fn trees(
    num_features: usize,
    split_rule: SplitRule,
    leaf_width: usize,
    base_score: Vec<f64>,
    aggregation: Aggregation,
    link: Link,
    trees: Vec<Tree>,
) -> Family {
    Family::Trees(TreeEnsemble {
        num_features,
        split_rule,
        precision: Precision::Double,
        leaf_width,
        base_score,
        aggregation,
        link,
        trees,
    })
}

/// An 8-word bitset of 32-bit words.
fn bitset(row: &[i64], at: &str) -> Result<[u32; BITSET_WORDS], ImportError> {
    length(row, BITSET_WORDS, at)?;
    let mut words = [0u32; BITSET_WORDS];
    for (w, (word, &value)) in words.iter_mut().zip(row).enumerate() {
        *word = u32::try_from(value).map_err(|_| {
            malformed(
                format!("{at}[{w}]"),
                format!("{value} is not a 32-bit word"),
            )
        })?;
    }
    Ok(words)
}

/// One of HistGradientBoosting's predictors as a Verdict tree adding to raw output `output`.
fn hgb_tree(
    tree: &schema::HgbTree,
    at: &str,
    f_idx_map: &[i64],
    known: &[[u32; BITSET_WORDS]],
    output: u32,
    f_idx_at: &str,
) -> Result<Tree, ImportError> {
    let n = node_count(tree.node_count, at)?;
    let features = f_idx_map.len();
    for (field, len) in [
        ("value", tree.value.len()),
        ("feature_idx", tree.feature_idx.len()),
        ("num_threshold", tree.num_threshold.len()),
        ("missing_go_to_left", tree.missing_go_to_left.len()),
        ("left", tree.left.len()),
        ("right", tree.right.len()),
        ("is_leaf", tree.is_leaf.len()),
        ("is_categorical", tree.is_categorical.len()),
        ("bitset_idx", tree.bitset_idx.len()),
    ] {
        if len != n {
            return Err(malformed(
                format!("{at}.{field}"),
                format!("expected {n} entries (node_count), found {len}"),
            ));
        }
    }
    let children = (0..n)
        .map(|i| {
            if flag(tree.is_leaf[i], &format!("{at}.is_leaf[{i}]"))? {
                return Ok(None);
            }
            let left = index(tree.left[i], n, &format!("{at}.left[{i}]"))?;
            let right = index(tree.right[i], n, &format!("{at}.right[{i}]"))?;
            Ok(Some((left, right)))
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let (order, new_id) = breadth_first(&children, at)?;

    let mut nodes = Vec::with_capacity(n);
    let mut leaf_values = Vec::new();
    let mut category_words = Vec::new();
    for &i in &order {
        let Some((left, right)) = children[i] else {
            // The learning rate is already in the leaf.
            nodes.push(Node::Leaf {
                leaf: leaf_values.len() as u32,
            });
            leaf_values.push(tree.value[i].0);
            continue;
        };
        let feature = index(
            tree.feature_idx[i],
            features,
            &format!("{at}.feature_idx[{i}]"),
        )?;
        let missing_left = flag(
            tree.missing_go_to_left[i],
            &format!("{at}.missing_go_to_left[{i}]"),
        )?;
        let (left, right) = (new_id[left], new_id[right]);
        if !flag(tree.is_categorical[i], &format!("{at}.is_categorical[{i}]"))? {
            // f64 input against the f64 threshold; "Infinity" sends every number left and
            // NaN to its missing side.
            nodes.push(Node::Numeric {
                feature: feature as u32,
                threshold: tree.num_threshold[i].0,
                missing: Missing::Nan,
                default_left: missing_left,
                left,
                right,
            });
            continue;
        }
        let row = index(
            tree.bitset_idx[i],
            tree.raw_left_cat_bitsets.len(),
            &format!("{at}.bitset_idx[{i}]"),
        )?;
        let goes_left = bitset(
            &tree.raw_left_cat_bitsets[row],
            &format!("{at}.raw_left_cat_bitsets[{row}]"),
        )?;
        let known_row = index(
            f_idx_map[feature],
            known.len(),
            &format!("{f_idx_at}[{feature}]"),
        )?;
        // scikit-learn: in the left bitset goes left, other known categories go right, and
        // unknown ones take the missing side. A category set sends its members one way and
        // everything else the other, so the set is whichever side is not the missing one.
        let (words, set_goes_left) = if missing_left {
            let mut right_side = known[known_row];
            for (word, left_word) in right_side.iter_mut().zip(goes_left) {
                *word &= !left_word;
            }
            (right_side, false)
        } else {
            (goes_left, true)
        };
        nodes.push(Node::Categorical {
            feature: feature as u32,
            words_start: category_words.len() as u32,
            words_len: BITSET_WORDS as u32,
            set_goes_left,
            default_left: missing_left,
            left,
            right,
        });
        category_words.extend_from_slice(&words);
    }
    let cover = covers(tree.count.as_deref(), &order, n, &format!("{at}.count"))?;
    Ok(Tree {
        output,
        nodes,
        leaf_values,
        category_words,
        linear: None,
        cover,
    })
}
