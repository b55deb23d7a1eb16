//! Prediction on every core.
//!
//! [`Model::predict_into`] scores on the calling thread. [`predict_into_parallel`] splits the
//! rows into chunks and scores them on the current rayon pool, so the caller chooses the
//! thread count with [`rayon::ThreadPool::install`] (polars shares the same mechanism).

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::PredictError;
use crate::model::Model;
use crate::output::{Output, OutputSlot};

/// Rows per task: enough to amortise scheduling, few enough to balance the cores.
const MIN_CHUNK_ROWS: usize = 1024;

/// Rows per task when contributions are computed: a row's TreeSHAP walk costs thousands of
/// predictions, so a few rows amortise scheduling, and a batch of a few thousand rows (or a
/// request of a hundred) still spreads over every core.
const MIN_CHUNK_ROWS_CONTRIBS: usize = 8;

/// The fewest rows worth one task of a thread pool when computing `outputs`: every front end
/// that splits rows across cores sizes its tasks from this, so contributions, whose rows cost
/// thousands of predictions each, spread over the cores even in small batches.
///
/// ```
/// use verdict_model::Output;
/// use verdict_model::parallel::min_task_rows;
/// assert!(min_task_rows(&[Output::Contribs]) < min_task_rows(&[Output::Predict]));
/// ```
pub fn min_task_rows(outputs: &[Output]) -> usize {
    if outputs.contains(&Output::Contribs) {
        MIN_CHUNK_ROWS_CONTRIBS
    } else {
        MIN_CHUNK_ROWS
    }
}

/// Like [`Model::predict_into`], with the rows split across the current rayon pool.
///
/// The result is identical to the single-threaded call: rows are independent.
///
/// ```
/// # use ndarray::{array, Array2};
/// # use verdict_model::{Feature, Model, Output, OutputSlot, Signature, Task, NativeModel};
/// # use verdict_model::family::{Family, linear::{LinearModel, LinearMissing}, link::{Link, Precision}};
/// # let model = NativeModel::new(
/// #     Signature::new(vec![Feature::numeric("x")], Task::Regression),
/// #     Family::Linear(LinearModel { num_features: 1, coefficients: vec![2.0], intercepts: vec![0.0],
/// #         precision: Precision::Double, missing: LinearMissing::Propagate, link: Link::Identity }),
/// # )?;
/// let rows = Array2::from_shape_fn((10_000, 1), |(i, _)| i as f64);
/// let mut out = Array2::zeros((10_000, 1));
/// let mut slots = [OutputSlot::new(Output::Predict, out.view_mut())];
/// verdict_model::parallel::predict_into_parallel(&model, rows.view(), &mut slots)?;
/// assert_eq!(out[[9_999, 0]], 19_998.0);
/// # Ok::<(), verdict_model::Error>(())
/// ```
pub fn predict_into_parallel(
    model: &dyn Model,
    features: ArrayView2<'_, f64>,
    outputs: &mut [OutputSlot<'_>],
) -> Result<(), PredictError> {
    model.signature().check_shapes(&features, outputs)?;
    let rows = features.nrows();
    let wanted: Vec<Output> = outputs.iter().map(|slot| slot.output).collect();
    let chunk = rows
        .div_ceil(rayon::current_num_threads() * 4)
        .max(min_task_rows(&wanted));
    if rows <= chunk {
        return model.predict_into(features, outputs);
    }
    // One set of slots per chunk of rows: slot k of chunk i views chunk i of output k.
    let mut chunks: Vec<Vec<OutputSlot<'_>>> =
        (0..rows.div_ceil(chunk)).map(|_| Vec::new()).collect();
    for slot in outputs.iter_mut() {
        for (slots, out) in chunks
            .iter_mut()
            .zip(slot.out.axis_chunks_iter_mut(Axis(0), chunk))
        {
            slots.push(OutputSlot::new(slot.output, out));
        }
    }
    features
        .axis_chunks_iter(Axis(0), chunk)
        .into_par_iter()
        .zip(chunks.par_iter_mut())
        .enumerate()
        .try_for_each(|(i, (features, slots))| {
            model
                .predict_into(features, slots)
                .map_err(|e| e.offset_rows(i * chunk))
        })
}
