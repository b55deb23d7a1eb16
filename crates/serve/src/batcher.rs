//! Dynamic batching: concurrent small requests for one model become one prediction.
//!
//! Each model version and list of requested outputs has a queue, drained by a worker thread
//! of its own. The worker takes the first request waiting, then waits up to
//! [`BatchConfig::max_delay_us`] for more, stopping early once [`BatchConfig::max_batch_rows`]
//! rows are in hand; it concatenates their rows, makes one [`Model::predict_into`] call for
//! all the outputs, and hands each request back exactly its own rows of the result. While the worker
//! computes, new requests queue up, so a busy queue batches without waiting at all.
//!
//! Model compute never runs on an event loop here: the worker is a plain thread, and a handler
//! only awaits its answer. The rows waiting across all queues are bounded by
//! [`BatchConfig::max_queue_rows`]; a request that would go over it is refused with
//! [`Error::Overloaded`] (503 with `Retry-After`) instead of growing memory.
//!
//! A worker exits after [`IDLE`] without work, which also lets the models of reloaded or
//! unloaded versions go; a worker whose senders are all gone (the service was dropped) answers
//! what it holds and exits, so a stopping server never leaves a request without an answer.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ndarray::{Array2, Axis, s};
use tokio::sync::oneshot;
use verdict_model::{Model, Output};

use crate::error::Error;
use crate::metrics::Metrics;
use crate::repository::ServedModel;

/// How long a worker waits for work before it exits.
const IDLE: Duration = Duration::from_secs(10);

/// The `Retry-After` of a refused request, in seconds: queues drain in milliseconds, so the
/// smallest value the header can carry.
const RETRY_AFTER_SECS: u64 = 1;

/// When and how far requests are coalesced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    /// Whether small requests are batched at all. Default: off; on a single-row load the
    /// thread hop and the wait cost more than the batch saves (see `docs/benchmarks.md`,
    /// "HTTP: dynamic batching").
    pub enabled: bool,
    /// The most rows one batch holds; a request with more rows is predicted alone, as
    /// without batching. Default: 256.
    pub max_batch_rows: usize,
    /// How long, in microseconds, a batch waits for more rows after its first request
    /// arrived; a full batch goes at once. Default: 200.
    pub max_delay_us: u64,
    /// The most rows waiting in all queues together; a request that would go over it is
    /// answered 503 with `Retry-After`. Default: 65,536.
    pub max_queue_rows: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            enabled: false,
            max_batch_rows: 256,
            max_delay_us: 200,
            max_queue_rows: 65_536,
        }
    }
}

/// What a request gets back: its predictions, one array per output.
type Answer = Result<Vec<Array2<f64>>, Error>;

/// One request waiting in a queue.
#[derive(Debug)]
struct Job {
    features: Array2<f64>,
    submitted: Instant,
    reply: oneshot::Sender<Answer>,
}

/// A queue: one model version (by identity, so a reload gets a new one) and one list of
/// outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    model: usize,
    outputs: Vec<Output>,
}

/// The queues and their workers.
#[derive(Debug)]
pub(crate) struct Batcher {
    config: BatchConfig,
    state: Arc<State>,
}

/// What the workers share with the batcher.
#[derive(Debug, Default)]
struct State {
    queues: Mutex<HashMap<Key, Sender<Job>>>,
    /// Rows submitted and not yet taken into a batch, across all queues.
    queued_rows: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Batcher {
    pub(crate) fn new(config: BatchConfig) -> Batcher {
        Batcher {
            config,
            state: Arc::default(),
        }
    }

    /// Whether a request of `rows` rows goes through a queue. Larger ones predict alone, and
    /// so do those larger than the whole queue, which waiting could never let in.
    pub(crate) fn takes(&self, rows: usize) -> bool {
        self.config.enabled
            && rows > 0
            && rows <= self.config.max_batch_rows.min(self.config.max_queue_rows)
    }

    /// Rows waiting in all queues, for the metrics.
    pub(crate) fn queued_rows(&self) -> usize {
        self.state.queued_rows.load(Ordering::Relaxed)
    }

    /// Queues `features` for `outputs` of `model` and waits for its share of a batch.
    ///
    /// The outputs must already be checked against the signature, and the features be in
    /// its column order, as [`crate::inference::predict`] ensures.
    pub(crate) async fn predict(
        &self,
        metrics: &Arc<Metrics>,
        model: &Arc<ServedModel>,
        features: Array2<f64>,
        outputs: &[Output],
    ) -> Answer {
        let rows = features.nrows();
        let before = self.state.queued_rows.fetch_add(rows, Ordering::AcqRel);
        if before + rows > self.config.max_queue_rows {
            self.state.queued_rows.fetch_sub(rows, Ordering::AcqRel);
            metrics.record_rejection(&model.name);
            return Err(Error::Overloaded {
                queued: before,
                limit: self.config.max_queue_rows,
                retry_after: RETRY_AFTER_SECS,
            });
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            features,
            submitted: Instant::now(),
            reply,
        };
        if let Err(error) = self.enqueue(metrics, model, outputs, job) {
            self.state.queued_rows.fetch_sub(rows, Ordering::AcqRel);
            return Err(error);
        }
        answer.await.unwrap_or_else(|_| {
            Err(Error::Internal(
                "the batch worker stopped before answering".to_owned(),
            ))
        })
    }

    /// Hands `job` to the worker of its queue, starting one if there is none.
    fn enqueue(
        &self,
        metrics: &Arc<Metrics>,
        model: &Arc<ServedModel>,
        outputs: &[Output],
        job: Job,
    ) -> Result<(), Error> {
        let key = Key {
            // The worker holds the `Arc`, so the address is not reused while the queue lives.
            model: Arc::as_ptr(model) as usize,
            outputs: outputs.to_vec(),
        };
        // Sending under the lock is what lets an idle worker retire safely: it removes its
        // queue under the same lock, after which nothing more can reach its channel.
        let mut queues = lock(&self.state.queues);
        let job = match queues.get(&key) {
            Some(sender) => match sender.send(job) {
                Ok(()) => return Ok(()),
                // The worker is gone (it panicked); replace it.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, receiver) = mpsc::channel();
        let worker = Worker {
            key: key.clone(),
            model: Arc::clone(model),
            config: self.config.clone(),
            state: Arc::clone(&self.state),
            metrics: Arc::clone(metrics),
            receiver,
            carried: None,
        };
        std::thread::Builder::new()
            .name(format!("verdict-batch-{}", model.name))
            .spawn(move || worker.run())
            .map_err(|e| Error::Internal(format!("cannot start a batch worker: {e}")))?;
        // The receiver lives in the thread just started, so this cannot fail.
        let _ = sender.send(job);
        queues.insert(key, sender);
        Ok(())
    }
}

impl Drop for Batcher {
    /// Drops every queue's sender, so each worker answers what it holds and exits now rather
    /// than after [`IDLE`].
    fn drop(&mut self) {
        lock(&self.state.queues).clear();
    }
}

/// The thread that drains one queue.
struct Worker {
    key: Key,
    model: Arc<ServedModel>,
    config: BatchConfig,
    state: Arc<State>,
    metrics: Arc<Metrics>,
    receiver: Receiver<Job>,
    /// A request that did not fit the last batch; it opens the next one.
    carried: Option<Job>,
}

impl Worker {
    fn run(mut self) {
        while let Some(first) = self.first() {
            let mut batch = self.fill(first);
            let rows: usize = batch.iter().map(|job| job.features.nrows()).sum();
            self.state.queued_rows.fetch_sub(rows, Ordering::AcqRel);
            // Clients that gave up (timeout, disconnect) while queued need no prediction; under
            // overload this is what lets the queue catch up.
            batch.retain(|job| !job.reply.is_closed());
            if batch.is_empty() {
                continue;
            }
            let rows = batch.iter().map(|job| job.features.nrows()).sum();
            let (requests, replies): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|job| ((job.features, job.submitted), job.reply))
                .unzip();
            // A model that panics fails its batch, not the worker: the requests queued behind
            // it still get answers, and the queue's row count stays true.
            let answers = panic::catch_unwind(AssertUnwindSafe(|| self.predict(&requests, rows)))
                .unwrap_or_else(|_| {
                    let message = format!("model `{}` panicked while predicting", self.model.name);
                    requests
                        .iter()
                        .map(|_| Err(Error::Internal(message.clone())))
                        .collect()
                });
            for (reply, answer) in replies.into_iter().zip(answers) {
                // The client may have gone since; nobody is left to tell.
                let _ = reply.send(answer);
            }
        }
    }

    /// The request that opens the next batch, or `None` when the worker should exit.
    fn first(&mut self) -> Option<Job> {
        if let Some(job) = self.carried.take() {
            return Some(job);
        }
        match self.receiver.recv_timeout(IDLE) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                let mut queues = lock(&self.state.queues);
                // A request may have arrived between the timeout and the lock.
                match self.receiver.try_recv() {
                    Ok(job) => Some(job),
                    Err(_) => {
                        queues.remove(&self.key);
                        None
                    }
                }
            }
        }
    }

    /// Adds requests to `first` until the batch is full or its delay has passed.
    fn fill(&mut self, first: Job) -> Vec<Job> {
        let deadline = first.submitted + Duration::from_micros(self.config.max_delay_us);
        let mut rows = first.features.nrows();
        let mut batch = vec![first];
        while rows < self.config.max_batch_rows {
            let now = Instant::now();
            let next = if now >= deadline {
                // Past the delay, take only what is already waiting.
                match self.receiver.try_recv() {
                    Ok(job) => job,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            } else {
                match self.receiver.recv_timeout(deadline - now) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            };
            if rows + next.features.nrows() > self.config.max_batch_rows {
                self.carried = Some(next);
                break;
            }
            rows += next.features.nrows();
            batch.push(next);
        }
        batch
    }

    /// Predicts a batch of `rows` rows in all, and splits the result: each request gets
    /// exactly its own rows.
    fn predict(&self, requests: &[(Array2<f64>, Instant)], rows: usize) -> Vec<Answer> {
        let started = Instant::now();
        let model = &*self.model.model;
        let result = if requests.len() == 1 {
            None
        } else {
            predict_all(model, requests, rows, &self.key.outputs).ok()
        };
        let compute = started.elapsed();
        self.metrics.record_batch(&self.model.name, rows);
        let mut start = 0;
        let mut answers = Vec::with_capacity(requests.len());
        for (features, submitted) in requests {
            let queued = started.saturating_duration_since(*submitted);
            let count = features.nrows();
            let (answer, compute) = match &result {
                Some(predictions) => (
                    Ok(predictions
                        .iter()
                        .map(|p| p.slice(s![start..start + count, ..]).to_owned())
                        .collect()),
                    compute,
                ),
                // Alone, or the batch failed: each request predicts by itself, so a row that
                // fails one request's prediction never fails its neighbours'.
                None => {
                    let own = Instant::now();
                    let answer = model
                        .predict_outputs(features.view(), &self.key.outputs)
                        .map_err(Error::from);
                    (answer, own.elapsed())
                }
            };
            start += count;
            self.metrics
                .record_prediction(&self.model.name, count, queued, compute);
            answers.push(answer);
        }
        answers
    }
}

/// Every output over the rows of every request, concatenated, from one pass.
fn predict_all(
    model: &dyn Model,
    requests: &[(Array2<f64>, Instant)],
    rows: usize,
    outputs: &[Output],
) -> Result<Vec<Array2<f64>>, Error> {
    let views: Vec<_> = requests
        .iter()
        .map(|(features, _)| features.view())
        .collect();
    let features = ndarray::concatenate(Axis(0), &views)
        .map_err(|e| Error::Internal(format!("cannot concatenate a batch: {e}")))?;
    debug_assert_eq!(features.nrows(), rows);
    Ok(model.predict_outputs(features.view(), outputs)?)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use ndarray::Array2;
    use verdict_model::family::Family;
    use verdict_model::family::link::{Link, Precision};
    use verdict_model::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble};
    use verdict_model::{ClassLabel, Feature, ModelInfo, NativeModel, Signature, Task};

    use super::*;

    /// A split on `feature` at `threshold` between two leaves.
    fn stump(feature: u32, threshold: f64, leaves: [f64; 2]) -> Tree {
        Tree {
            output: 0,
            nodes: vec![
                Node::Numeric {
                    feature,
                    threshold,
                    missing: Missing::Nan,
                    default_left: feature == 0,
                    left: 1,
                    right: 2,
                },
                Node::Leaf { leaf: 0 },
                Node::Leaf { leaf: 1 },
            ],
            leaf_values: leaves.to_vec(),
            category_words: vec![],
            linear: None,
        }
    }

    /// A binary classifier of three trees over two features, served as version 1.
    fn served() -> Arc<ServedModel> {
        let family = Family::Trees(TreeEnsemble {
            num_features: 2,
            split_rule: SplitRule::LessThanF32,
            precision: Precision::Single,
            leaf_width: 1,
            base_score: vec![0.1],
            aggregation: Aggregation::Sum,
            link: Link::Sigmoid { scale: 1.0 },
            trees: vec![
                stump(0, 0.25, [-0.4, 0.7]),
                stump(1, -1.5, [0.3, -0.2]),
                stump(0, 0.8, [0.05, 0.6]),
            ],
        });
        let signature = Signature::new(
            vec![Feature::numeric("a"), Feature::numeric("b")],
            Task::Classification {
                classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
            },
        );
        Arc::new(ServedModel {
            name: "stumps".to_owned(),
            version: 1,
            model: Arc::new(NativeModel::new(signature, family).unwrap()),
            info: ModelInfo::new("stumps", "verdict", "test"),
            family: "tree ensemble".to_owned(),
            path: None,
            loaded_at: SystemTime::now(),
        })
    }

    /// Request `i`: between one and four rows, NaN included, that straddle the thresholds.
    fn request(i: usize) -> Array2<f64> {
        let rows = 1 + i % 4;
        Array2::from_shape_fn((rows, 2), |(r, c)| {
            let x = (i * 7 + r * 3 + c) as f64;
            if (i + r + c).is_multiple_of(11) {
                f64::NAN
            } else {
                (x * 0.37).sin() * 2.0
            }
        })
    }

    #[test]
    fn batched_answers_equal_unbatched_bit_for_bit() {
        let model = served();
        let requests: Vec<Array2<f64>> = (0..24).map(request).collect();
        let total: usize = requests.iter().map(Array2::nrows).sum();
        let outputs = vec![Output::Predict, Output::PredictProba, Output::Raw];
        // The whole load fits one batch exactly, and the delay is far longer than submitting
        // takes, so the batch goes out because it is full: one batch, whatever the timing.
        let batcher = Arc::new(Batcher::new(BatchConfig {
            enabled: true,
            max_batch_rows: total,
            max_delay_us: 60_000_000,
            max_queue_rows: total,
        }));
        let metrics = Arc::new(Metrics::default());
        let answers = actix_web::rt::System::new().block_on(async {
            let tasks: Vec<_> = requests
                .iter()
                .map(|features| {
                    let (batcher, metrics, model, outputs) = (
                        Arc::clone(&batcher),
                        Arc::clone(&metrics),
                        Arc::clone(&model),
                        outputs.clone(),
                    );
                    let features = features.clone();
                    actix_web::rt::spawn(async move {
                        batcher.predict(&metrics, &model, features, &outputs).await
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.unwrap().unwrap());
            }
            answers
        });
        for (features, answer) in requests.iter().zip(&answers) {
            for (output, got) in outputs.iter().zip(answer) {
                let alone = model.model.predict(features.view(), *output).unwrap();
                assert_eq!(got.dim(), alone.dim());
                for (g, a) in got.iter().zip(&alone) {
                    assert_eq!(g.to_bits(), a.to_bits(), "{output:?} of {features}");
                }
            }
        }
        let text = metrics.render(&crate::Repository::new(), batcher.queued_rows());
        assert!(
            text.contains(&format!(
                "verdict_batch_rows_sum{{model=\"stumps\"}} {total}\n"
            )),
            "{text}"
        );
        assert!(
            text.contains("verdict_batch_rows_count{model=\"stumps\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("verdict_batch_queue_rows 0\n"), "{text}");
    }

    #[test]
    fn a_full_queue_refuses_with_retry_after() {
        let model = served();
        let batcher = Batcher::new(BatchConfig {
            enabled: true,
            max_batch_rows: 8,
            max_delay_us: 0,
            max_queue_rows: 3,
        });
        let metrics = Arc::new(Metrics::default());
        // Two rows already wait (their requests are not needed to refuse the next one).
        batcher.state.queued_rows.store(2, Ordering::Relaxed);
        assert!(batcher.takes(request(1).nrows()));
        let error = actix_web::rt::System::new()
            .block_on(batcher.predict(&metrics, &model, request(1), &[Output::Predict]))
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Overloaded {
                    queued: 2,
                    limit: 3,
                    retry_after: RETRY_AFTER_SECS
                }
            ),
            "{error}"
        );
        let response = error.response_for(crate::Protocol::Simple);
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(
            response.headers().get("retry-after").unwrap(),
            &RETRY_AFTER_SECS.to_string()
        );
        assert_eq!(batcher.queued_rows(), 2);
        // A request larger than the whole queue could never get in: it predicts alone.
        assert!(!batcher.takes(4));
    }

    /// `y = x`, which panics on a negative `x`, as a faulty custom model might.
    #[derive(Debug)]
    struct Fragile(Signature);

    impl Model for Fragile {
        fn signature(&self) -> &Signature {
            &self.0
        }

        fn predict_into(
            &self,
            features: ndarray::ArrayView2<'_, f64>,
            outputs: &mut [verdict_model::OutputSlot<'_>],
        ) -> Result<(), verdict_model::PredictError> {
            assert!(features.iter().all(|&x| x >= 0.0), "negative input");
            for slot in outputs {
                slot.out.assign(&features);
            }
            Ok(())
        }
    }

    #[test]
    fn a_panicking_model_fails_its_batch_not_the_worker() {
        let model = Arc::new(ServedModel {
            name: "fragile".to_owned(),
            version: 1,
            model: Arc::new(Fragile(Signature::new(
                vec![Feature::numeric("x")],
                Task::Regression,
            ))),
            info: ModelInfo::new("fragile", "verdict", "test"),
            family: "custom".to_owned(),
            path: None,
            loaded_at: SystemTime::now(),
        });
        let batcher = Batcher::new(BatchConfig {
            enabled: true,
            ..BatchConfig::default()
        });
        let metrics = Arc::new(Metrics::default());
        let outputs = [Output::Predict];
        actix_web::rt::System::new().block_on(async {
            let bad = Array2::from_elem((1, 1), -1.0);
            let error = batcher
                .predict(&metrics, &model, bad, &outputs)
                .await
                .unwrap_err();
            assert!(error.to_string().contains("panicked"), "{error}");
            let good = Array2::from_elem((1, 1), 2.5);
            let answer = batcher
                .predict(&metrics, &model, good, &outputs)
                .await
                .unwrap();
            assert_eq!(answer[0][[0, 0]], 2.5);
        });
        assert_eq!(batcher.queued_rows(), 0);
    }
}
