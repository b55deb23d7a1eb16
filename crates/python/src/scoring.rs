//! Rows scored on every core, block by block, into columns of results.
//!
//! The rows are cut into tasks of [`TASK_ROWS`] for the thread pool (a few rows for
//! contributions, as [`min_task_rows`] asks), and each task into
//! blocks of [`BLOCK_ROWS`]: a block's features are copied into one column-major buffer per
//! thread (each Arrow column's run of rows in one piece), scored with one call of
//! [`Model::predict_into`] for every output, and written straight into the result columns.
//! Memory beyond the input and the results is one block per thread.

use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use ndarray::{Array2, ArrayView2, Axis, ShapeBuilder, s};
use rayon::prelude::*;
use verdict_model::parallel::min_task_rows;
use verdict_model::{ClassLabel, Model, Output, OutputSlot, PredictError, Signature};

use crate::errors::InputError;
use crate::features::Values;

/// Rows per block: the features of a block stay in the core's cache while the trees walk them.
const BLOCK_ROWS: usize = 512;
/// Rows per task of the thread pool: enough to amortise scheduling.
const TASK_ROWS: usize = 8 * BLOCK_ROWS;

/// The rows to score, as they came from Python.
pub(crate) enum Rows<'a> {
    /// A 2-D array of `float64`, in any layout, read where it lies.
    F64(ArrayView2<'a, f64>),
    /// A 2-D array of `float32`, widened block by block.
    F32(ArrayView2<'a, f32>),
    /// Feature columns, one [`Part`] per Arrow batch.
    Columns(Vec<Part<'a>>),
}

/// The feature columns of one Arrow batch.
pub(crate) struct Part<'a> {
    /// The batch's first row, counted over the whole input.
    pub(crate) start: usize,
    /// The batch's number of rows.
    pub(crate) rows: usize,
    /// One column per feature.
    pub(crate) columns: Vec<Values<'a>>,
}

impl Rows<'_> {
    /// The number of rows.
    pub(crate) fn len(&self) -> usize {
        match self {
            Rows::F64(view) => view.nrows(),
            Rows::F32(view) => view.nrows(),
            Rows::Columns(parts) => parts.last().map_or(0, |p| p.start + p.rows),
        }
    }

    /// Rows `start .. start + rows` as a view of `features` columns: the input itself when it
    /// is a `float64` array, else copied into `buffer`.
    fn block<'s>(
        &'s self,
        start: usize,
        rows: usize,
        features: usize,
        buffer: &'s mut Vec<f64>,
    ) -> ArrayView2<'s, f64> {
        let end = start + rows;
        match self {
            Rows::F64(view) => return view.slice(s![start..end, ..]),
            Rows::F32(view) => {
                buffer.clear();
                let block = view.slice(s![start..end, ..]);
                buffer.extend(block.iter().map(|&v| f64::from(v)));
            }
            Rows::Columns(parts) => {
                // Column-major, so that each feature's run of the block is one contiguous
                // copy (a row-major copy writes every value to another cache line); the
                // model reads the rows through the view's strides.
                buffer.resize(rows * features, 0.0);
                // The first part that ends after `start`; a block may span several batches.
                let first = parts.partition_point(|p| p.start + p.rows <= start);
                for part in &parts[first..] {
                    if part.start >= end {
                        break;
                    }
                    let from = start.max(part.start);
                    let to = end.min(part.start + part.rows);
                    for (j, column) in part.columns.iter().enumerate() {
                        let values = &column.as_slice()[from - part.start..to - part.start];
                        buffer[j * rows + from - start..][..values.len()].copy_from_slice(values);
                    }
                }
                return ArrayView2::from_shape((rows, features).f(), &buffer[..])
                    .expect("the buffer holds rows x features values");
            }
        }
        ArrayView2::from_shape((rows, features), &buffer[..])
            .expect("the buffer holds rows x features values")
    }
}

/// Every requested output for every row, each as a column-major `rows x width` array, on
/// `pool` (rayon's global pool, every core, when `None`). Inputs of one task are scored on
/// the calling thread: a pool would cost more than it saves.
pub(crate) fn score(
    model: &dyn Model,
    rows: &Rows<'_>,
    outputs: &[Output],
    pool: Option<&rayon::ThreadPool>,
) -> Result<Vec<Array2<f64>>, PredictError> {
    let signature = model.signature();
    let features = signature.num_features();
    let height = rows.len();
    let mut arrays = outputs
        .iter()
        .map(|&output| {
            let width = signature.require_output(output)?;
            Ok(Array2::zeros((height, width).f()))
        })
        .collect::<Result<Vec<_>, PredictError>>()?;

    // Contributions cost thousands of predictions a row: the model asks for tasks under a
    // block, and gets them, so a small frame still spreads over every core.
    let task_rows = match min_task_rows(outputs) {
        rows if rows < BLOCK_ROWS => rows.max(1),
        _ => TASK_ROWS,
    };
    // One set of slots per task: slot k of task t views task t's rows of output k.
    let mut tasks: Vec<Vec<OutputSlot<'_>>> = (0..height.div_ceil(task_rows))
        .map(|_| Vec::new())
        .collect();
    for (array, &output) in arrays.iter_mut().zip(outputs) {
        for (slots, out) in tasks
            .iter_mut()
            .zip(array.axis_chunks_iter_mut(Axis(0), task_rows))
        {
            slots.push(OutputSlot::new(output, out));
        }
    }
    let task = |buffer: &mut Vec<f64>, (t, slots): (usize, Vec<OutputSlot<'_>>)| {
        score_task(model, rows, features, t * task_rows, slots, buffer)
    };
    if tasks.len() <= 1 {
        let mut buffer = Vec::new();
        for item in tasks.into_iter().enumerate() {
            task(&mut buffer, item)?;
        }
    } else {
        let parallel = move || {
            tasks
                .into_par_iter()
                .enumerate()
                .try_for_each_init(Vec::new, task)
        };
        match pool {
            Some(pool) => pool.install(parallel)?,
            None => parallel()?,
        }
    }
    Ok(arrays)
}

/// Scores the rows from `start` on into `slots`, one block at a time.
fn score_task(
    model: &dyn Model,
    rows: &Rows<'_>,
    features: usize,
    start: usize,
    mut slots: Vec<OutputSlot<'_>>,
    buffer: &mut Vec<f64>,
) -> Result<(), PredictError> {
    let task_rows = slots.first().map_or(0, |slot| slot.out.nrows());
    for offset in (0..task_rows).step_by(BLOCK_ROWS) {
        let n = BLOCK_ROWS.min(task_rows - offset);
        let input = rows.block(start + offset, n, features, buffer);
        let mut block: Vec<OutputSlot<'_>> = slots
            .iter_mut()
            .map(|slot| {
                OutputSlot::new(slot.output, slot.out.slice_mut(s![offset..offset + n, ..]))
            })
            .collect();
        model
            .predict_into(input, &mut block)
            .map_err(|e| e.offset_rows(start + offset))?;
    }
    Ok(())
}

/// The thread pool of a call: the global pool (every core) for `None`, else a pool of that
/// many threads, made once per size and kept.
pub(crate) fn pool(threads: Option<usize>) -> Result<Option<Arc<rayon::ThreadPool>>, InputError> {
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let Some(threads) = threads else {
        return Ok(None);
    };
    if threads == 0 {
        return Err(InputError::Threads(threads));
    }
    let mut pools = POOLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, pool)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(Some(pool.clone()));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("verdict-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|_| InputError::Threads(threads))?;
    pools.push((threads, pool.clone()));
    Ok(Some(pool))
}

/// The results as one Arrow batch, with the column names and types of `verdict predict`:
/// labels as integers or text as the classes are, everything else `float64`.
pub(crate) fn to_batch(
    signature: &Signature,
    outputs: &[Output],
    arrays: Vec<Array2<f64>>,
) -> Result<RecordBatch, ArrowError> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (&output, array) in outputs.iter().zip(arrays) {
        let names = signature.output_columns(output);
        let height = array.nrows();
        if output == Output::Predict
            && let Some(classes) = signature.classes()
        {
            let (name, column) = labels(signature, classes, &names[0], array.column(0));
            fields.push(Field::new(name, column.data_type().clone(), true));
            columns.push(column);
            continue;
        }
        // Column-major: column k is values k * rows .. (k + 1) * rows of one buffer, which
        // every column shares without a copy.
        let (values, offset) = array.into_raw_vec_and_offset();
        let buffer = Buffer::from_vec(values);
        let offset = offset.unwrap_or(0);
        for (k, name) in names.iter().enumerate() {
            let values = ScalarBuffer::<f64>::new(buffer.clone(), offset + k * height, height);
            fields.push(Field::new(name, DataType::Float64, false));
            columns.push(Arc::new(Float64Array::new(values, None)));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    RecordBatch::try_new(schema, columns)
}

/// The label column of a classifier from its class indices.
fn labels(
    signature: &Signature,
    classes: &[ClassLabel],
    name: &str,
    indices: ndarray::ArrayView1<'_, f64>,
) -> (String, ArrayRef) {
    let label = |index: &f64| signature.class_label(*index);
    let column: ArrayRef = if classes.iter().all(|c| matches!(c, ClassLabel::Int(_))) {
        Arc::new(
            indices
                .iter()
                .map(|i| match label(i) {
                    Some(ClassLabel::Int(label)) => Some(*label),
                    _ => None,
                })
                .collect::<Int64Array>(),
        )
    } else {
        Arc::new(
            indices
                .iter()
                .map(|i| label(i).map(|label| label.to_string()))
                .collect::<StringArray>(),
        )
    };
    (name.to_owned(), column)
}
