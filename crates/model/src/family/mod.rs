//! Verdict's native model families, and [`NativeModel`], which gives any of them a
//! [`Signature`] and implements [`Model`].
//!
//! Every family is plain data (`serde`-serializable) that says exactly how the source library
//! computes its predictions. Importers translate foreign files into these families; the model
//! file format stores them.

pub mod ctr;
pub mod linear;
pub mod link;
pub mod oblivious;
pub mod preprocess;
pub mod tree;

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{InvalidModel, PredictError};
use crate::explain::Explainer;
use crate::model::{Model, Output, OutputSlot};
use crate::predict::{CompiledOblivious, CompiledTrees};
use crate::signature::{Signature, Task};
use linear::LinearModel;
use link::{Link, Precision};
use oblivious::ObliviousEnsemble;
use preprocess::{Buffers, Step, run_steps, steps_output_width};
use tree::TreeEnsemble;

/// Preprocessing steps followed by a model (scikit-learn's `Pipeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// The number of input columns the first step takes.
    pub num_features: usize,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The final model, which takes the last step's output.
    pub model: Box<Family>,
}

/// One of Verdict's model families.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// A linear model.
    Linear(LinearModel),
    /// A tree ensemble.
    Trees(TreeEnsemble),
    /// Preprocessing steps and a model.
    Pipeline(Pipeline),
    /// Oblivious trees (CatBoost). Appended last: the bincode tags of the others stay put.
    Oblivious(ObliviousEnsemble),
}

impl Family {
    /// A short name: `linear`, `tree ensemble` or `pipeline`.
    pub fn name(&self) -> &'static str {
        match self {
            Family::Linear(_) => "linear",
            Family::Trees(_) => "tree ensemble",
            Family::Pipeline(_) => "pipeline",
            Family::Oblivious(_) => "oblivious trees",
        }
    }

    /// The number of input columns.
    pub fn num_features(&self) -> usize {
        match self {
            Family::Linear(m) => m.num_features,
            Family::Trees(m) => m.num_features,
            Family::Pipeline(p) => p.num_features,
            Family::Oblivious(m) => m.num_features,
        }
    }

    /// The number of raw margin outputs.
    pub fn raw_width(&self) -> usize {
        match self {
            Family::Linear(m) => m.raw_width(),
            Family::Trees(m) => m.raw_width(),
            Family::Pipeline(p) => p.model.raw_width(),
            Family::Oblivious(m) => m.raw_width(),
        }
    }

    /// The link from margins to predictions, and its arithmetic.
    pub fn link(&self) -> (Link, Precision) {
        match self {
            Family::Linear(m) => (m.link, m.precision),
            Family::Trees(m) => (m.link, m.precision),
            Family::Pipeline(p) => p.model.link(),
            Family::Oblivious(m) => (m.link, Precision::Double),
        }
    }

    /// Sizes for a model card: trees, nodes, leaves, depth, preprocessing steps.
    pub fn summary(&self) -> Summary {
        match self {
            Family::Linear(m) => Summary {
                coefficients: m.coefficients.len(),
                ..Summary::default()
            },
            Family::Trees(m) => {
                let mut summary = Summary {
                    trees: m.trees.len(),
                    ..Summary::default()
                };
                for tree in &m.trees {
                    summary.nodes += tree.nodes.len();
                    summary.leaves += tree.leaf_values.len() / m.leaf_width.max(1);
                    summary.max_depth = summary.max_depth.max(tree.depth());
                }
                summary
            }
            Family::Pipeline(p) => {
                let mut summary = p.model.summary();
                summary.steps += p.steps.len();
                summary
            }
            Family::Oblivious(m) => Summary {
                trees: m.trees.len(),
                nodes: m
                    .trees
                    .iter()
                    .map(|t| t.splits.len() + (1 << t.splits.len()))
                    .sum(),
                leaves: m.trees.iter().map(|t| 1 << t.splits.len()).sum(),
                max_depth: m.trees.iter().map(|t| t.splits.len()).max().unwrap_or(0),
                ..Summary::default()
            },
        }
    }

    /// Turns one row's raw margins into the margins the link takes, in place: random forests
    /// divide their sums here (see [`tree::Aggregation`]); every other family passes them on.
    fn finish_margins(&self, margins: &mut [f64]) {
        match self {
            Family::Linear(_) | Family::Oblivious(_) => {}
            Family::Trees(m) => m.aggregation.finish(m.precision, margins),
            Family::Pipeline(p) => p.model.finish_margins(margins),
        }
    }

    /// Checks the family's internal consistency, so prediction cannot fail on an index.
    pub fn validate(&self) -> Result<(), InvalidModel> {
        match self {
            Family::Linear(m) => m.validate(),
            Family::Trees(m) => m.validate(),
            Family::Pipeline(p) => {
                let width = steps_output_width(&p.steps, p.num_features)?;
                let mut input = p.num_features;
                for step in &p.steps {
                    if let Step::CatBoostCategorical(categorical) = step {
                        categorical.validate(input)?;
                    }
                    input = step.output_width(input)?;
                }
                if width != p.model.num_features() {
                    return Err(InvalidModel::Mismatch {
                        what: "pipeline: the model's features versus the last step's columns"
                            .into(),
                        expected: width,
                        found: p.model.num_features(),
                    });
                }
                p.model.validate()
            }
            Family::Oblivious(m) => m.validate(),
        }
    }

    /// The margins of one contiguous row.
    fn raw_row(
        &self,
        row: &[f64],
        index: usize,
        raw: &mut [f64],
        buffers: &mut Buffers,
    ) -> Result<(), PredictError> {
        match self {
            Family::Linear(m) => m.raw_row(row, index, raw)?,
            Family::Trees(m) => m.raw_row(|f| row[f], raw),
            Family::Pipeline(p) => {
                let mut input = buffers.take_empty();
                input.extend_from_slice(row);
                let input = run_steps(&p.steps, input, index, buffers)?;
                let result = p.model.raw_row(&input, index, raw, buffers);
                buffers.give(input);
                result?;
            }
            Family::Oblivious(m) => {
                m.raw_row(row, raw)
                    .map_err(|input| PredictError::ForbiddenMissing {
                        row: index,
                        feature: format!("#{input}"),
                    })?;
            }
        }
        Ok(())
    }
}

/// `row` as a slice: where it lies when contiguous, else copied into `buffer`.
fn contiguous<'a>(row: ArrayView1<'a, f64>, buffer: &'a mut Vec<f64>) -> &'a [f64] {
    match row.to_slice() {
        Some(row) => row,
        None => {
            buffer.clear();
            buffer.extend(row.iter());
            buffer
        }
    }
}

/// A CatBoost model with categorical features: its one step and its trees (oblivious or
/// not).
fn catboost_categorical(pipeline: &Pipeline) -> Option<(&ctr::Categorical, &Family)> {
    match (pipeline.steps.as_slice(), pipeline.model.as_ref()) {
        ([Step::CatBoostCategorical(step)], trees @ (Family::Oblivious(_) | Family::Trees(_))) => {
            Some((step, trees))
        }
        _ => None,
    }
}

/// The columns of CatBoost's categorical step for every row of `features`, in `columns`
/// (`rows x` the step's width, row-major), its tables looked up through `index`.
fn step_columns<'a>(
    step: &ctr::Categorical,
    index: &ctr::CtrIndex,
    features: ArrayView2<'_, f64>,
    columns: &'a mut Vec<f64>,
    hashes: &mut Vec<u32>,
) -> Result<ArrayView2<'a, f64>, PredictError> {
    let width = step.output_width();
    columns.clear();
    columns.resize(features.nrows() * width, 0.0);
    step.apply_rows(index, features, columns, hashes)?;
    Ok(
        ArrayView2::from_shape((features.nrows(), width), &columns[..])
            .expect("the columns buffer holds rows x width values"),
    )
}

/// The sizes of a model, for model cards and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Trees in an ensemble.
    pub trees: usize,
    /// Nodes in all trees, leaves included.
    pub nodes: usize,
    /// Leaves in all trees.
    pub leaves: usize,
    /// The depth of the deepest tree (a single leaf has depth 0).
    pub max_depth: usize,
    /// Coefficients of a linear model.
    pub coefficients: usize,
    /// Preprocessing steps before the model.
    pub steps: usize,
}

/// Per-thread scratch space, so that prediction allocates only on a thread's first call.
#[derive(Debug, Default)]
struct Scratch {
    row: Vec<f64>,
    /// A chunk's rows after a CatBoost categorical step, for the oblivious engine.
    columns: Vec<f64>,
    /// A chunk's category hashes and float-split bits, for that step.
    hashes: Vec<u32>,
    raw: Vec<f64>,
    scores: Vec<f64>,
    out_row: Vec<f64>,
    buffers: Buffers,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Rows whose margins are computed together before the link is applied: bounds the scratch
/// space whatever the input size.
const CHUNK_ROWS: usize = 256;

/// Which engine scores a [`NativeModel`]'s rows ([`NativeModel::engine`]): what `verdict
/// inspect` shows, and what a test checks so that a model never falls back to the slow path
/// unnoticed. Every engine computes the same numbers; they differ in speed only.
///
/// ```
/// use verdict_model::family::Engine;
///
/// let engine = Engine::Trees { complete: 280, nodes: 20, reference: 0, binned: 0 };
/// assert_eq!(engine.to_string(), "compiled trees: 280 stored complete, 20 walked node by node");
///
/// let engine = Engine::Trees { complete: 300, nodes: 0, reference: 0, binned: 300 };
/// assert_eq!(
///     engine.to_string(),
///     "compiled trees: 300 stored complete; blocks walk 300 binned (AVX-512)",
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    /// The compiled tree engine, with its trees counted by how it walks them.
    Trees {
        /// Trees stored complete (implicit children): the fastest walk.
        complete: usize,
        /// Trees walked node by node: deep or lopsided trees, and those with categorical
        /// splits.
        nodes: usize,
        /// Trees the engine hands to the reference evaluator, one by one: trees with linear
        /// leaves, and categorical splits under scikit-learn's `f32` rule.
        reference: usize,
        /// Of all these, the trees that blocks of 64 rows walk on binned features with
        /// AVX-512 (numeric trees of depth 8 or less, on a CPU that has it): the fastest walk
        /// for many rows. Single rows walk them as counted above.
        binned: usize,
    },
    /// The engine of oblivious (CatBoost's symmetric) trees.
    Oblivious {
        /// The trees.
        trees: usize,
    },
    /// The reference evaluator alone: a family with no compiled form (linear models,
    /// preprocessing before trees other than CatBoost's categorical step, ...).
    Reference,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Engine::Trees {
                complete,
                nodes,
                reference,
                binned,
            } => {
                let parts: Vec<String> = [
                    (complete, "stored complete"),
                    (nodes, "walked node by node"),
                    (reference, "left to the reference evaluator"),
                ]
                .into_iter()
                .filter(|&(count, _)| count > 0)
                .map(|(count, how)| format!("{count} {how}"))
                .collect();
                write!(f, "compiled trees: {}", parts.join(", "))?;
                if binned > 0 {
                    write!(f, "; blocks walk {binned} binned (AVX-512)")?;
                }
                Ok(())
            }
            Engine::Oblivious { trees } => write!(f, "compiled oblivious trees: {trees}"),
            Engine::Reference => f.write_str("reference evaluator"),
        }
    }
}

/// A native family with its signature: the model Verdict loads, saves and serves.
///
/// It can only be built through [`NativeModel::new`], which validates the family against the
/// signature, so prediction never indexes out of range. Tree ensembles are also compiled into
/// the fast engine (the crate's `predict` module) at construction; the family stays the
/// reference.
#[derive(Clone)]
pub struct NativeModel {
    signature: Signature,
    family: Family,
    compiled: Option<Arc<CompiledTrees>>,
    /// The fast engine of oblivious (CatBoost) trees.
    oblivious: Option<Arc<CompiledOblivious>>,
    /// Hash indexes of a CatBoost categorical step's CTR tables, for the engines' path: there
    /// only when an engine compiled the step's trees.
    ctr_index: Option<Arc<ctr::CtrIndex>>,
    /// What the `contribs` output needs, when the family can be explained.
    explainer: Option<Arc<Explainer>>,
}

impl PartialEq for NativeModel {
    fn eq(&self, other: &Self) -> bool {
        // The compiled engine is derived from the family.
        self.signature == other.signature && self.family == other.family
    }
}

impl fmt::Debug for NativeModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeModel")
            .field("signature", &self.signature)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

impl NativeModel {
    /// Validates `family` and checks that it agrees with `signature`.
    pub fn new(mut signature: Signature, family: Family) -> Result<Self, InvalidModel> {
        family.validate()?;
        if family.num_features() != signature.num_features() {
            return Err(InvalidModel::Mismatch {
                what: "input features in the signature versus the model".into(),
                expected: signature.num_features(),
                found: family.num_features(),
            });
        }
        if family.raw_width() != signature.raw_width {
            return Err(InvalidModel::Mismatch {
                what: "raw outputs in the signature versus the model".into(),
                expected: signature.raw_width,
                found: family.raw_width(),
            });
        }
        let expected_scores = match &signature.task {
            Task::Classification { classes } if classes.len() < 2 => {
                return Err(InvalidModel::Mismatch {
                    what: "classes of a classifier (at least)".into(),
                    expected: 2,
                    found: classes.len(),
                });
            }
            Task::Classification { classes } if classes.len() == 2 => {
                (1..=2).contains(&signature.raw_width)
            }
            Task::Classification { classes } => signature.raw_width == classes.len(),
            Task::MultiOutput { targets } => signature.raw_width == targets.len(),
            Task::Regression | Task::Ranking => signature.raw_width == 1,
        };
        if !expected_scores {
            return Err(InvalidModel::Mismatch {
                what: format!(
                    "raw outputs for a {} model with this many classes or targets",
                    signature.task.name()
                ),
                expected: signature.output_width(Output::Predict).unwrap_or(1),
                found: signature.raw_width,
            });
        }
        // The engines compile the trees themselves, or a CatBoost pipeline's trees.
        let trees = match &family {
            Family::Pipeline(pipeline) => catboost_categorical(pipeline).map(|(_, trees)| trees),
            family => Some(family),
        };
        let compiled = match trees {
            Some(Family::Trees(ensemble)) => CompiledTrees::compile(ensemble).map(Arc::new),
            _ => None,
        };
        let oblivious = match trees {
            Some(Family::Oblivious(ensemble)) => CompiledOblivious::compile(ensemble).map(Arc::new),
            _ => None,
        };
        // Only the engines' path reads the step's tables through an index.
        let engine = compiled.is_some() || oblivious.is_some();
        let ctr_index = match &family {
            Family::Pipeline(pipeline) if engine => {
                catboost_categorical(pipeline).map(|(step, _)| Arc::new(ctr::CtrIndex::new(step)))
            }
            _ => None,
        };
        let explainer = Explainer::new(&family).map(Arc::new);
        signature.contributions = explainer.is_some();
        Ok(NativeModel {
            signature,
            family,
            compiled,
            oblivious,
            ctr_index,
            explainer,
        })
    }

    /// The same model evaluated only by the reference evaluator: slower, and the yardstick the
    /// fast engine is tested against.
    pub fn reference(&self) -> NativeModel {
        NativeModel {
            compiled: None,
            oblivious: None,
            ctr_index: None,
            ..self.clone()
        }
    }

    /// The margins of a chunk of rows into `raw` (`rows x raw_width`, row-major).
    fn raw_chunk(
        &self,
        features: ArrayView2<'_, f64>,
        scratch: &mut Scratch,
    ) -> Result<(), PredictError> {
        let raw_width = self.signature.raw_width;
        scratch.raw.resize(features.nrows() * raw_width, 0.0);
        let input_name = |input: u32| self.signature.features[input as usize].name.clone();
        if let Some(result) =
            self.compiled_margins(&self.family, features, &mut scratch.raw, input_name)
        {
            return result;
        }
        if let Family::Oblivious(ensemble) = &self.family {
            return ensemble
                .raw_rows(features, &mut scratch.raw)
                .map_err(|(row, input)| PredictError::ForbiddenMissing {
                    row,
                    feature: input_name(input),
                });
        }
        // A CatBoost pipeline: the step row by row into columns, then the compiled engine of
        // its trees over the chunk.
        if let Family::Pipeline(pipeline) = &self.family
            && let Some((step, trees)) = catboost_categorical(pipeline)
            && let Some(index) = &self.ctr_index
        {
            let columns = step_columns(
                step,
                index,
                features,
                &mut scratch.columns,
                &mut scratch.hashes,
            )?;
            // Only float columns refuse a missing value; column k is float feature k.
            let column_name = |column: u32| {
                step.floats
                    .get(column as usize)
                    .and_then(|&input| self.signature.features.get(input as usize))
                    .map_or_else(|| format!("#{column}"), |f| f.name.clone())
            };
            if let Some(result) =
                self.compiled_margins(trees, columns, &mut scratch.raw, column_name)
            {
                return result;
            }
        }
        for (index, (row, raw)) in features
            .rows()
            .into_iter()
            .zip(scratch.raw.chunks_exact_mut(raw_width))
            .enumerate()
        {
            let row = contiguous(row, &mut scratch.row);
            self.family.raw_row(row, index, raw, &mut scratch.buffers)?;
        }
        Ok(())
    }

    /// The margins of `features` from the compiled engine of `trees` (the family itself, or a
    /// CatBoost pipeline's trees) into `raw`; `None` when no engine compiled them.
    /// `input_name` names the column of a missing value the model forbids.
    fn compiled_margins(
        &self,
        trees: &Family,
        features: ArrayView2<'_, f64>,
        raw: &mut [f64],
        input_name: impl Fn(u32) -> String,
    ) -> Option<Result<(), PredictError>> {
        match (trees, &self.compiled, &self.oblivious) {
            (Family::Trees(ensemble), Some(compiled), _) => {
                compiled.raw_margins(ensemble, features, raw);
                Some(Ok(()))
            }
            (Family::Oblivious(ensemble), _, Some(compiled)) => Some(
                compiled
                    .raw_margins(ensemble, features, raw)
                    .map_err(|(row, input)| PredictError::ForbiddenMissing {
                        row,
                        feature: input_name(input),
                    }),
            ),
            _ => None,
        }
    }

    /// Which engine scores the rows: the compiled trees, the oblivious trees, or the
    /// reference evaluator alone.
    pub fn engine(&self) -> Engine {
        if let Some(compiled) = &self.compiled {
            compiled.report()
        } else if let Some(oblivious) = &self.oblivious {
            Engine::Oblivious {
                trees: oblivious.trees(),
            }
        } else {
            Engine::Reference
        }
    }

    /// The family.
    pub fn family(&self) -> &Family {
        &self.family
    }

    /// Splits the model into its signature and family.
    pub fn into_parts(self) -> (Signature, Family) {
        (self.signature, self.family)
    }

    /// Writes the requested output of one row from its margins.
    fn finish_row(&self, output: Output, raw: &[f64], scores: &mut [f64], out: &mut [f64]) {
        if output == Output::Raw {
            out.copy_from_slice(raw);
            return;
        }
        let (link, precision) = self.family.link();
        scores.copy_from_slice(raw);
        self.family.finish_margins(scores);
        link.apply_in_place(precision, scores);
        match (&self.signature.task, output) {
            (Task::Classification { .. }, Output::PredictProba) => {
                if scores.len() == 1 {
                    out[0] = 1.0 - scores[0];
                    out[1] = scores[0];
                } else {
                    out.copy_from_slice(scores);
                }
            }
            (Task::Classification { .. }, _) => {
                out[0] = if scores.len() == 1 {
                    f64::from(u8::from(link.binary_positive(raw[0], scores[0])))
                } else if link.is_monotone() {
                    // The arg-max of the margins is the source libraries' rule, and immune
                    // to ties created by rounding the probabilities.
                    argmax(raw) as f64
                } else {
                    argmax(scores) as f64
                };
            }
            _ => out.copy_from_slice(scores),
        }
    }
}

/// The index of the first largest value.
fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

impl Model for NativeModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict_into(
        &self,
        features: ArrayView2<'_, f64>,
        outputs: &mut [OutputSlot<'_>],
    ) -> Result<(), PredictError> {
        self.signature.check_shapes(&features, outputs)?;
        // Contributions come from a pass of their own over the trees; every other output
        // from the margins below.
        for slot in outputs.iter_mut() {
            if slot.output == Output::Contribs
                && let Some(explainer) = &self.explainer
            {
                explainer.contribs_into(&self.family, features, slot.out.view_mut())?;
            }
        }
        if outputs.iter().all(|slot| slot.output == Output::Contribs) {
            return Ok(());
        }
        let raw_width = self.signature.raw_width;
        let mut fresh = Scratch::default();
        SCRATCH.with(|cell| {
            // A nested call on the same thread (a model inside a model) gets fresh buffers.
            let mut borrowed = cell.try_borrow_mut();
            let scratch = match borrowed.as_deref_mut() {
                Ok(scratch) => scratch,
                Err(_) => &mut fresh,
            };
            scratch.scores.resize(raw_width, 0.0);
            let rows = features.nrows();
            let mut start = 0;
            while start < rows {
                let end = (start + CHUNK_ROWS).min(rows);
                // The margins once; every requested output is derived from them.
                self.raw_chunk(features.slice(ndarray::s![start..end, ..]), scratch)
                    .map_err(|e| e.offset_rows(start))?;
                for (i, raw) in scratch.raw.chunks_exact(raw_width).enumerate() {
                    for slot in outputs
                        .iter_mut()
                        .filter(|slot| slot.output != Output::Contribs)
                    {
                        let mut dst = slot.out.row_mut(start + i);
                        match dst.as_slice_mut() {
                            Some(dst) => {
                                self.finish_row(slot.output, raw, &mut scratch.scores, dst);
                            }
                            None => {
                                // A strided output (column-major, a slice with a step).
                                scratch.out_row.resize(dst.len(), 0.0);
                                self.finish_row(
                                    slot.output,
                                    raw,
                                    &mut scratch.scores,
                                    &mut scratch.out_row,
                                );
                                dst.assign(&ndarray::ArrayView1::from(&scratch.out_row[..]));
                            }
                        }
                    }
                }
                start = end;
            }
            Ok(())
        })
    }
}
