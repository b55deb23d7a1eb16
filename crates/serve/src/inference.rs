//! The core every protocol shares: validate the outputs, predict, and measure.
//!
//! A single row predicts in a few microseconds, less than handing it to another thread costs,
//! so small requests run inline on the event loop. Large ones go to actix's blocking pool, so
//! one big batch never stalls the other connections of its worker. With dynamic batching on,
//! requests up to the batch size go to the [`Batcher`](crate::batcher::Batcher) instead, which
//! predicts many of them at once on a thread of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use ndarray::{Array2, ArrayView2};
use verdict_model::{Model, Output};

use crate::error::Error;
use crate::repository::ServedModel;
use crate::request_log;
use crate::state::Shared;

/// Predicts every output in `outputs` for `features`, in that order, and notes the
/// prediction for the request log.
///
/// `features` must already be in the signature's column order; the outputs are checked
/// before any work is done, so a request for `predict_proba` of a regressor fails fast.
pub(crate) async fn predict(
    shared: &Shared,
    model: &Arc<ServedModel>,
    features: Array2<f64>,
    outputs: &[Output],
) -> Result<Vec<Array2<f64>>, Error> {
    let Some(log) = shared.request_log.as_ref() else {
        return predict_unlogged(shared, model, features, outputs).await;
    };
    let rows = features.nrows();
    // The inputs are kept only for the sampled requests: a copy is the price of logging them.
    let kept = (request_log::wants_sample(Some(log)) == Some(true)).then(|| features.clone());
    let result = predict_unlogged(shared, model, features, outputs).await;
    if let Ok(predictions) = &result {
        request_log::note(
            &model.name,
            model.version,
            kept.as_ref(),
            outputs,
            predictions,
            rows,
        );
    }
    result
}

async fn predict_unlogged(
    shared: &Shared,
    model: &Arc<ServedModel>,
    features: Array2<f64>,
    outputs: &[Output],
) -> Result<Vec<Array2<f64>>, Error> {
    let signature = model.model.signature();
    for &output in outputs {
        signature.require_output(output)?;
    }
    let rows = features.nrows();
    if shared.batcher.takes(rows) {
        // The batch worker records the prediction metrics: it knows the queue and compute
        // times of each request.
        return shared
            .batcher
            .predict(&shared.metrics, model, features, outputs)
            .await;
    }
    let (result, queued, compute) = if rows >= shared.options.offload_rows {
        let model = Arc::clone(model);
        let outputs = outputs.to_vec();
        let submitted = Instant::now();
        web::block(move || {
            let queued = submitted.elapsed();
            let (result, compute) = timed(&*model.model, features.view(), &outputs);
            (result, queued, compute)
        })
        .await
        .map_err(|e| Error::Internal(format!("the compute thread failed: {e}")))?
    } else {
        let (result, compute) = timed(&*model.model, features.view(), outputs);
        (result, Duration::ZERO, compute)
    };
    shared
        .metrics
        .record_prediction(&model.name, rows, queued, compute);
    result
}

fn timed(
    model: &dyn Model,
    features: ArrayView2<'_, f64>,
    outputs: &[Output],
) -> (Result<Vec<Array2<f64>>, Error>, Duration) {
    let start = Instant::now();
    let result = model
        .predict_outputs(features, outputs)
        .map_err(Error::from);
    (result, start.elapsed())
}
