//! The [`Scorer`]: a model with the options of a batch run, scoring frames and streams.
//!
//! Scoring one chunk: the feature columns are read as contiguous `f64` columns
//! ([`FeatureMap::columns`]); the rows are cut into blocks of [`BLOCK_ROWS`], and on each core a
//! block is copied column-major into a scratch buffer and handed to
//! [`verdict_model::Model::predict_into`] once, with a slot for every requested output, so
//! the model walks its trees once per row and writes straight into that block's rows of the
//! output buffers. The buffers are kept from chunk to chunk, so a run allocates them once. The
//! prediction columns are then built from the output buffers and put beside the
//! passed-through input columns.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
use polars::prelude::*;
use rayon::prelude::*;
use verdict_model::{ClassLabel, Model, Output, OutputSlot, PredictError};

use crate::cancel::Cancel;
use crate::error::{Error, MissingColumn, Result};
use crate::frame::{FeatureMap, Matching, Origin, copy_block};
use crate::sink::{MemoryWriter, Sink, Writer};
use crate::source::{ReadHints, Source};

/// Rows per block handed to one core: small enough to spread a chunk over every core and to
/// keep a block's features in cache, large enough that scheduling costs nothing.
pub const BLOCK_ROWS: usize = 512;

/// The default number of rows per chunk.
pub const DEFAULT_CHUNK_ROWS: usize = 65_536;

/// Which input columns the output keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Passthrough {
    /// None: only the predictions.
    #[default]
    None,
    /// Every input column, in input order.
    All,
    /// These columns (ids, keys), in this order.
    Columns(Vec<String>),
}

/// The options of a batch run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The outputs to write, in order. Empty means the model's natural ones: `predict` for
    /// regressors, `predict` and `predict_proba` for classifiers.
    pub outputs: Vec<Output>,
    /// The input columns the output keeps, before the predictions.
    pub passthrough: Passthrough,
    /// A prefix for every prediction column (`pred_` makes `pred_label`), to avoid clashes
    /// with input columns.
    pub prefix: String,
    /// Rejects missing feature values (instead of passing `NaN`) and unknown categories
    /// (instead of passing [`UNKNOWN_CATEGORY`](verdict_model::UNKNOWN_CATEGORY)).
    pub strict: bool,
    /// The most rows read, scored and written at a time; peak memory grows with it.
    pub chunk_rows: NonZeroUsize,
    /// The number of threads that score. `None` uses polars' pool, whose size is the
    /// `POLARS_MAX_THREADS` environment variable or the number of cores; another number gets
    /// a pool of its own. Reading (CSV parsing among it) always runs on polars' pool: to
    /// bound the whole run, set `POLARS_MAX_THREADS` before polars is first used, as
    /// `verdict predict --threads` does.
    pub threads: Option<NonZeroUsize>,
    /// Counts the input's rows before the run so that progress events carry a total (a pass
    /// over CSV and NDJSON files, a `count(*)` on SQLite).
    pub count_rows: bool,
    /// Stops the run between chunks when cancelled, leaving no output.
    pub cancel: Cancel,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            outputs: Vec::new(),
            passthrough: Passthrough::None,
            prefix: String::new(),
            strict: false,
            chunk_rows: NonZeroUsize::new(DEFAULT_CHUNK_ROWS).unwrap_or(NonZeroUsize::MIN),
            threads: None,
            count_rows: false,
            cancel: Cancel::default(),
        }
    }
}

/// What happens during a [`Scorer::run`], for progress bars and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The features were matched to the input's columns. [`Matching::ByPosition`] deserves a
    /// warning: the model has no feature names, so nothing checks that the columns are the
    /// right ones.
    Matched(Matching),
    /// Scoring starts; `total_rows` is known when [`Options::count_rows`] asked for it.
    Started {
        /// The rows the run will score.
        total_rows: Option<u64>,
    },
    /// Rows scored and written so far.
    Progress {
        /// The count.
        rows: u64,
    },
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Rows scored.
    pub rows: u64,
    /// Wall time, from opening the input to the output in place.
    pub elapsed: Duration,
    /// Where the predictions went.
    pub output: String,
}

impl Summary {
    /// Rows per second.
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One requested output and its columns.
#[derive(Debug, Clone)]
struct Planned {
    output: Output,
    /// Column names, prefixed.
    names: Vec<String>,
    width: usize,
}

/// How a run turns input chunks into output chunks, settled from the input's schema.
#[derive(Debug, Clone)]
pub struct Plan {
    features: FeatureMap,
    passthrough: Vec<(PlSmallStr, DataType)>,
    schema: Schema,
}

impl Plan {
    /// How the model's features were matched to the input's columns.
    pub fn matching(&self) -> &Matching {
        self.features.matching()
    }

    /// The output's columns and types.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

/// A model and the options of a batch run.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use polars::prelude::*;
/// # use verdict_model::{Feature, NativeModel, Signature, Task};
/// # use verdict_model::family::{Family, linear::{LinearMissing, LinearModel}, link::{Link, Precision}};
/// use verdict_batch::{Options, Passthrough, Scorer};
///
/// # let family = Family::Linear(LinearModel {
/// #     num_features: 2, coefficients: vec![2.0, -1.0], intercepts: vec![1.0],
/// #     precision: Precision::Double, missing: LinearMissing::Propagate, link: Link::Identity,
/// # });
/// # let signature = Signature::new(vec![Feature::numeric("a"), Feature::numeric("b")], Task::Regression);
/// # let model = Arc::new(NativeModel::new(signature, family)?);
/// // y = 1 + 2a - b
/// let options = Options { passthrough: Passthrough::Columns(vec!["id".into()]), ..Options::default() };
/// let scorer = Scorer::new(model, options)?;
/// let input = df!("b" => [1.0, 0.0], "id" => [7, 8], "a" => [3.0, 0.5])?;
/// let scored = scorer.score_frame(&input)?;
/// assert_eq!(scored, df!("id" => [7, 8], "prediction" => [6.0, 2.0])?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Scorer {
    model: Arc<dyn Model>,
    options: Options,
    outputs: Vec<Planned>,
    pool: Option<rayon::ThreadPool>,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("model", &self.model)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Scratch buffers kept from chunk to chunk.
#[derive(Debug, Default)]
struct Workspace {
    /// One column-major block of features per block of rows, all in one buffer.
    features: Vec<f64>,
    /// One row-major buffer per output.
    outputs: Vec<Vec<f64>>,
}

impl Scorer {
    /// Checks the options against the model.
    pub fn new(model: Arc<dyn Model>, options: Options) -> Result<Self> {
        let signature = model.signature();
        let requested = if options.outputs.is_empty() {
            // The label, and the probabilities when the model has them.
            let mut outputs = vec![Output::Predict];
            if signature.output_width(Output::PredictProba).is_some() {
                outputs.push(Output::PredictProba);
            }
            outputs
        } else {
            options.outputs.clone()
        };
        let mut outputs = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for output in requested {
            if outputs.iter().any(|p: &Planned| p.output == output) {
                continue;
            }
            let width = signature.require_output(output).map_err(Error::Output)?;
            let names: Vec<String> = signature
                .output_columns(output)
                .into_iter()
                .map(|name| format!("{}{name}", options.prefix))
                .collect();
            for name in &names {
                if seen.contains(name) {
                    return Err(Error::DuplicateOutput {
                        column: name.clone(),
                    });
                }
                seen.push(name.clone());
            }
            outputs.push(Planned {
                output,
                names,
                width,
            });
        }
        let pool = match options.threads {
            Some(threads)
                if threads.get() != polars_core::runtime::THREAD_POOL.current_num_threads() =>
            {
                Some(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads.get())
                        .thread_name(|i| format!("verdict-score-{i}"))
                        .build()
                        .map_err(|e| {
                            Error::InvalidOption(format!("cannot start {threads} threads: {e}"))
                        })?,
                )
            }
            _ => None,
        };
        Ok(Scorer {
            model,
            options,
            outputs,
            pool,
        })
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The prediction columns, in order.
    pub fn output_columns(&self) -> Vec<String> {
        self.outputs.iter().flat_map(|p| p.names.clone()).collect()
    }

    /// Matches the model to an input schema and settles the output's schema.
    pub fn plan(&self, schema: &Schema) -> Result<Plan> {
        let names = || schema.iter_names().map(|n| n.as_str());
        let (passthrough, exclude): (Vec<&str>, Vec<String>) = match &self.options.passthrough {
            Passthrough::None => (Vec::new(), Vec::new()),
            Passthrough::All => (names().collect(), Vec::new()),
            Passthrough::Columns(columns) => {
                let missing: Vec<MissingColumn> = columns
                    .iter()
                    .filter(|c| !schema.contains(c.as_str()))
                    .map(|c| MissingColumn::new(c, names()))
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::MissingPassthrough { missing });
                }
                (
                    columns.iter().map(String::as_str).collect(),
                    columns.clone(),
                )
            }
        };
        let features = FeatureMap::new(self.model.signature(), schema, &exclude)?;

        let mut output = Schema::default();
        let mut kept = Vec::new();
        for name in passthrough {
            let dtype = schema.get(name).cloned().unwrap_or(DataType::Null);
            if output.contains(name) {
                return Err(Error::InvalidOption(format!(
                    "column `{name}` is passed through twice"
                )));
            }
            output.with_column(name.into(), dtype.clone());
            kept.push((PlSmallStr::from(name), dtype));
        }
        for planned in &self.outputs {
            let dtype = self.dtype_of(planned.output);
            for name in &planned.names {
                if output.contains(name) {
                    return Err(Error::ColumnClash {
                        column: name.clone(),
                    });
                }
                output.with_column(name.as_str().into(), dtype.clone());
            }
        }
        Ok(Plan {
            features,
            passthrough: kept,
            schema: output,
        })
    }

    /// The type of an output's columns: labels are integers or text as the classes are,
    /// everything else `f64`.
    fn dtype_of(&self, output: Output) -> DataType {
        match (output, self.model.signature().classes()) {
            (Output::Predict, Some(classes)) => {
                if classes.iter().all(|c| matches!(c, ClassLabel::Int(_))) {
                    DataType::Int64
                } else {
                    DataType::String
                }
            }
            _ => DataType::Float64,
        }
    }

    /// Scores a whole frame in memory, as one chunk.
    pub fn score_frame(&self, frame: &DataFrame) -> Result<DataFrame> {
        let plan = self.plan(frame.schema())?;
        let mut work = Workspace::default();
        let origin = Origin {
            file: None,
            first_row: 1,
        };
        self.score_chunk(&plan, frame, &origin, &mut work)
    }

    /// Scores a lazy frame on polars' streaming engine, chunk by chunk, and gathers the
    /// predictions in memory.
    pub fn score_lazy(&self, frame: LazyFrame) -> Result<DataFrame> {
        let mut memory = MemoryWriter::default();
        let (plan, _) = self.stream(Source::lazy(frame), &mut memory, None, &mut |_| {})?;
        let mut all = DataFrame::empty_with_schema(plan.schema());
        for chunk in &memory.chunks {
            all.vstack_mut(chunk)
                .map_err(Error::polars("cannot gather the predictions"))?;
        }
        all.rechunk_mut();
        Ok(all)
    }

    /// Streams `source` through the model into `sink`, `chunk_rows` rows at a time.
    ///
    /// The output appears only if the whole run succeeds. `events` hears how the features
    /// were matched and how far the run has got.
    pub fn run(
        &self,
        source: Source,
        sink: &Sink,
        events: &mut dyn FnMut(Event),
    ) -> Result<Summary> {
        let started = Instant::now();
        sink.check(&source)?;
        let mut writer: Option<Box<dyn Writer>> = None;
        let (_, rows) = self.stream(source, &mut writer, Some(sink), events)?;
        Ok(Summary {
            rows,
            elapsed: started.elapsed(),
            output: sink.to_string(),
        })
    }

    /// The run loop: plan, open, then read, score and write chunk by chunk.
    fn stream<W: WriterSlot>(
        &self,
        source: Source,
        writer: &mut W,
        sink: Option<&Sink>,
        events: &mut dyn FnMut(Event),
    ) -> Result<(Plan, u64)> {
        let input_schema = source.schema()?;
        let plan = self.plan(&input_schema)?;
        events(Event::Matched(plan.matching().clone()));
        let (numeric, text) = plan.features.column_kinds();
        let hints = ReadHints {
            numeric: numeric.into_iter().map(str::to_owned).collect(),
            text: text.into_iter().map(str::to_owned).collect(),
        };
        let mut reader = source.open(&hints, self.options.chunk_rows)?;
        // The reader's schema has the types the chunks will have (CSV features as `f64`).
        let plan = self.plan(reader.schema())?;
        writer.open(sink, plan.schema())?;
        let total_rows = if self.options.count_rows {
            Some(reader.total_rows()?)
        } else {
            None
        };
        events(Event::Started { total_rows });
        let mut work = Workspace::default();
        let mut rows = 0u64;
        while let Some((chunk, origin)) = reader.next_chunk()? {
            self.check_cancel(rows)?;
            let scored = self.score_chunk(&plan, &chunk, &origin, &mut work)?;
            writer.get()?.write(&scored)?;
            rows += chunk.height() as u64;
            events(Event::Progress { rows });
        }
        self.check_cancel(rows)?;
        writer.get()?.finish()?;
        Ok((plan, rows))
    }

    fn check_cancel(&self, rows: u64) -> Result<()> {
        if self.options.cancel.is_cancelled() {
            return Err(Error::Cancelled { rows });
        }
        Ok(())
    }

    /// Scores one chunk: passed-through columns, then the prediction columns.
    fn score_chunk(
        &self,
        plan: &Plan,
        chunk: &DataFrame,
        origin: &Origin,
        work: &mut Workspace,
    ) -> Result<DataFrame> {
        let height = chunk.height();
        let columns = plan.features.columns(chunk, origin, self.options.strict)?;
        let columns = columns.slices()?;
        let width = columns.len();

        work.features.resize(height * width, 0.0);
        work.outputs.resize_with(self.outputs.len(), Vec::new);
        for (buffer, planned) in work.outputs.iter_mut().zip(&self.outputs) {
            buffer.resize(height * planned.width, 0.0);
        }

        // Cut every buffer into the same blocks of rows, so each task owns its slices.
        let mut tasks: Vec<Block<'_>> = if width == 0 {
            // A model without features still has one prediction per row.
            (0..height.div_ceil(BLOCK_ROWS))
                .map(|i| Block::new(i * BLOCK_ROWS, &mut [][..]))
                .collect()
        } else {
            work.features
                .chunks_mut(BLOCK_ROWS * width)
                .enumerate()
                .map(|(i, block)| Block::new(i * BLOCK_ROWS, block))
                .collect()
        };
        for (buffer, planned) in work.outputs.iter_mut().zip(&self.outputs) {
            for (task, out) in tasks
                .iter_mut()
                .zip(buffer.chunks_mut(BLOCK_ROWS * planned.width))
            {
                task.outputs.push(out);
            }
        }

        let model = self.model.as_ref();
        let outputs = &self.outputs;
        let score = || {
            tasks.into_par_iter().try_for_each(|task| {
                let Block {
                    start,
                    block,
                    outputs: outs,
                } = task;
                let rows = (height - start).min(BLOCK_ROWS);
                copy_block(&columns, start, block);
                let features = ArrayView2::from_shape((rows, width).f(), &*block)
                    .map_err(|_| shape_error(start, rows))?;
                // Every requested output of the block from one pass over the model.
                let mut slots = outputs
                    .iter()
                    .zip(outs)
                    .map(|(planned, out)| {
                        ArrayViewMut2::from_shape((rows, planned.width), out)
                            .map(|out| OutputSlot::new(planned.output, out))
                            .map_err(|_| shape_error(start, rows))
                    })
                    .collect::<Result<Vec<_>>>()?;
                model
                    .predict_into(features, &mut slots)
                    .map_err(|source| predict_error(origin, start, rows, source))
            })
        };
        match &self.pool {
            Some(pool) => pool.install(score)?,
            None => polars_core::runtime::THREAD_POOL.install(score)?,
        }

        let mut result: Vec<Column> = Vec::with_capacity(plan.schema.len());
        for (name, dtype) in &plan.passthrough {
            let column = chunk.column(name).map_err(Error::polars(format!(
                "cannot pass column `{name}` through"
            )))?;
            let column = if column.dtype() == dtype {
                column.clone()
            } else {
                // Later files of a many-file input may type a column differently.
                column.cast(dtype).map_err(Error::polars(format!(
                    "cannot pass column `{name}` through"
                )))?
            };
            result.push(column);
        }
        for (planned, buffer) in self.outputs.iter().zip(&work.outputs) {
            for (k, name) in planned.names.iter().enumerate() {
                let values = buffer.iter().skip(k).step_by(planned.width).copied();
                result.push(self.output_column(planned.output, name, values, height));
            }
        }
        let mut scored =
            DataFrame::new(height, result).map_err(Error::polars("cannot assemble the output"))?;
        // Passed-through columns keep the reader's chunking; the file writers need every
        // column cut the same way.
        scored.align_chunks_par();
        Ok(scored)
    }

    /// One output column: class labels for `predict` of classifiers, else the numbers.
    fn output_column(
        &self,
        output: Output,
        name: &str,
        values: impl Iterator<Item = f64>,
        height: usize,
    ) -> Column {
        let signature = self.model.signature();
        match (output, self.dtype_of(output)) {
            (Output::Predict, DataType::Int64) => {
                let labels: Int64Chunked = values
                    .map(|index| match signature.class_label(index) {
                        Some(ClassLabel::Int(label)) => Some(*label),
                        _ => None,
                    })
                    .collect();
                labels.with_name(name.into()).into_column()
            }
            (Output::Predict, DataType::String) => {
                let labels: StringChunked = values
                    .map(|index| signature.class_label(index).map(|label| label.to_string()))
                    .collect();
                labels.with_name(name.into()).into_column()
            }
            _ => {
                let mut numbers = Vec::with_capacity(height);
                numbers.extend(values);
                Float64Chunked::from_vec(name.into(), numbers).into_column()
            }
        }
    }
}

/// One block of rows: where it starts, its features and its rows of each output.
struct Block<'a> {
    start: usize,
    block: &'a mut [f64],
    outputs: Vec<&'a mut [f64]>,
}

impl<'a> Block<'a> {
    fn new(start: usize, block: &'a mut [f64]) -> Self {
        Block {
            start,
            block,
            outputs: Vec::new(),
        }
    }
}

/// Where chunks go: a sink opened once the schema is known, or memory.
trait WriterSlot {
    fn open(&mut self, sink: Option<&Sink>, schema: &Schema) -> Result<()>;
    fn get(&mut self) -> Result<&mut dyn Writer>;
}

impl WriterSlot for Option<Box<dyn Writer>> {
    fn open(&mut self, sink: Option<&Sink>, schema: &Schema) -> Result<()> {
        if let Some(sink) = sink {
            *self = Some(sink.open(schema)?);
        }
        Ok(())
    }

    fn get(&mut self) -> Result<&mut dyn Writer> {
        match self {
            Some(writer) => Ok(writer.as_mut()),
            None => Err(Error::InvalidOption("no output to write to".to_owned())),
        }
    }
}

impl WriterSlot for MemoryWriter {
    fn open(&mut self, _: Option<&Sink>, _: &Schema) -> Result<()> {
        Ok(())
    }

    fn get(&mut self) -> Result<&mut dyn Writer> {
        Ok(self)
    }
}

fn shape_error(start: usize, rows: usize) -> Error {
    Error::InvalidOption(format!(
        "internal error: a block of {rows} rows at row {start} does not fit its buffer"
    ))
}

/// Places a model's error in the user's input.
fn predict_error(origin: &Origin, start: usize, rows: usize, source: PredictError) -> Error {
    match source {
        PredictError::UnknownCategory {
            row,
            feature,
            value,
        } => Error::RejectedCategory {
            column: feature,
            location: origin.at(start + row),
            code: value,
        },
        PredictError::MissingValue { row, input } => Error::RejectedMissing {
            location: origin.at(start + row),
            input,
        },
        source => Error::Predict {
            first: origin.at(start),
            rows,
            source,
        },
    }
}
