//! The request log: one NDJSON line per prediction request, for audits and drift analysis,
//! written off the request path.
//!
//! A request hands its line to a bounded queue and goes on; a thread of its own writes the
//! lines to the file (or stdout). When the queue is full the line is dropped and counted
//! (`verdict_request_log_dropped_total`), so a slow disk never slows the predictions. The
//! inputs and outputs go into a sampled fraction of the lines (`--log-sample`).
//!
//! What a line holds is gathered while the request runs: [`scope`] gives the request a
//! [`Record`] cell, [`inference::predict`](crate::inference::predict) fills it in, and the
//! route's middleware (HTTP) or call wrapper (gRPC) writes it with the status and latency.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use ndarray::Array2;
use serde_json::{Map, Value};
use verdict_model::Output;

use crate::protocol::number;

/// Lines waiting for the writer before new ones are dropped.
const QUEUE_LINES: usize = 8192;

/// Where the request log goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLogConfig {
    /// A file, appended to; `None` writes to stdout.
    pub path: Option<PathBuf>,
    /// The fraction of lines, from 0 to 1, that carry the request's inputs and outputs.
    pub sample: f64,
}

/// The writer thread's queue, and what it dropped.
#[derive(Debug)]
pub(crate) struct RequestLog {
    queue: SyncSender<String>,
    dropped: AtomicU64,
    sample: f64,
    sequence: AtomicU64,
}

impl RequestLog {
    /// Opens the destination and starts the writer thread.
    pub(crate) fn start(config: &RequestLogConfig) -> io::Result<RequestLog> {
        let mut out: Box<dyn Write + Send> = match &config.path {
            Some(path) => Box::new(BufWriter::new(
                OpenOptions::new().create(true).append(true).open(path)?,
            )),
            None => Box::new(BufWriter::new(io::stdout())),
        };
        let (queue, lines) = mpsc::sync_channel::<String>(QUEUE_LINES);
        std::thread::Builder::new()
            .name("verdict-request-log".to_owned())
            .spawn(move || {
                // Ends when every sender is gone, with the server.
                while let Ok(line) = lines.recv() {
                    let mut written = writeln!(out, "{line}");
                    // Flush when the queue is drained: lines reach the file within one batch.
                    while let Ok(line) = lines.try_recv() {
                        written = written.and_then(|()| writeln!(out, "{line}"));
                    }
                    if let Err(error) = written.and_then(|()| out.flush()) {
                        tracing::error!("cannot write the request log: {error}");
                    }
                }
            })?;
        Ok(RequestLog {
            queue,
            dropped: AtomicU64::new(0),
            sample: config.sample.clamp(0.0, 1.0),
            sequence: AtomicU64::new(0),
        })
    }

    /// Lines dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// True for the requests whose inputs and outputs are logged: a fraction `sample` of
    /// them, spread evenly by hashing a sequence number (no random source needed).
    fn sampled(&self) -> bool {
        if self.sample <= 0.0 {
            return false;
        }
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        // splitmix64: consecutive numbers map to well-spread 64-bit values.
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < self.sample
    }

    /// Queues the line of one answered request.
    pub(crate) fn write(&self, line: Line<'_>, record: Option<Record>) {
        let mut object = Map::new();
        object.insert("time".into(), rfc3339(SystemTime::now()).into());
        object.insert("route".into(), line.route.into());
        object.insert("protocol".into(), line.protocol.into());
        object.insert("status".into(), line.status.into());
        object.insert(
            "latency_us".into(),
            (line.latency.as_micros() as u64).into(),
        );
        match record {
            Some(record) => {
                object.insert("model".into(), record.model.into());
                object.insert("version".into(), record.version.to_string().into());
                object.insert("rows".into(), record.rows.into());
                if let Some(sample) = record.sample {
                    object.insert("inputs".into(), matrix(&sample.inputs));
                    let outputs: Map<String, Value> = sample
                        .outputs
                        .iter()
                        .map(|(output, values)| (output.name().to_owned(), matrix(values)))
                        .collect();
                    object.insert("outputs".into(), Value::Object(outputs));
                }
            }
            None => {
                object.insert("model".into(), line.model.into());
            }
        }
        if let Some(error) = line.error {
            object.insert("error".into(), error.into());
        }
        let text = Value::Object(object).to_string();
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(text)
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the transport knows of a request.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    pub(crate) route: &'a str,
    pub(crate) protocol: &'static str,
    pub(crate) status: u16,
    pub(crate) latency: Duration,
    /// The model's name when one was resolved.
    pub(crate) model: &'a str,
    pub(crate) error: Option<&'a str>,
}

/// What the prediction of a request did.
#[derive(Debug)]
pub(crate) struct Record {
    model: String,
    version: u64,
    rows: usize,
    sample: Option<Sample>,
}

#[derive(Debug)]
struct Sample {
    inputs: Array2<f64>,
    outputs: Vec<(Output, Array2<f64>)>,
}

fn matrix(values: &Array2<f64>) -> Value {
    values
        .rows()
        .into_iter()
        .map(|row| row.iter().map(|&v| number(v)).collect::<Value>())
        .collect()
}

tokio::task_local! {
    static CURRENT: RefCell<Option<Record>>;
}

/// Runs `work` with a cell for its prediction's [`Record`], and returns both.
pub(crate) async fn scope<F: Future>(work: F) -> (F::Output, Option<Record>) {
    CURRENT
        .scope(RefCell::new(None), async move {
            let output = work.await;
            let record = CURRENT.with(|cell| cell.borrow_mut().take());
            (output, record)
        })
        .await
}

/// Whether the running request wants its inputs and outputs kept, decided once per request.
/// `None` outside a [`scope`] (no request log).
pub(crate) fn wants_sample(log: Option<&RequestLog>) -> Option<bool> {
    let log = log?;
    CURRENT.try_with(|_| ()).ok()?;
    Some(log.sampled())
}

/// Notes the prediction of the running request (a no-op outside a [`scope`]).
pub(crate) fn note(
    model: &str,
    version: u64,
    features: Option<&Array2<f64>>,
    outputs: &[Output],
    predictions: &[Array2<f64>],
    rows: usize,
) {
    let sample = features.map(|inputs| Sample {
        inputs: inputs.clone(),
        outputs: outputs
            .iter()
            .copied()
            .zip(predictions.iter().cloned())
            .collect(),
    });
    let _ = CURRENT.try_with(|cell| {
        *cell.borrow_mut() = Some(Record {
            model: model.to_owned(),
            version,
            rows,
            sample,
        });
    });
}

/// A time as RFC 3339 in UTC with milliseconds, `2026-12-03T08:15:00.123Z`.
fn rfc3339(time: SystemTime) -> String {
    verdict_model::format::rfc3339(time, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_000 + 3_723_456);
        assert_eq!(rfc3339(leap), "2000-02-29T01:02:03.456Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(rfc3339(later), "2026-12-31T23:59:59.000Z");
    }

    #[test]
    fn the_sample_is_the_fraction_asked_for() {
        let (queue, _lines) = mpsc::sync_channel(1);
        let log = RequestLog {
            queue,
            dropped: AtomicU64::new(0),
            sample: 0.25,
            sequence: AtomicU64::new(0),
        };
        let taken = (0..10_000).filter(|_| log.sampled()).count();
        assert!((2_300..2_700).contains(&taken), "{taken}");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (queue, _lines) = mpsc::sync_channel(1);
        let log = RequestLog {
            queue,
            dropped: AtomicU64::new(0),
            sample: 0.0,
            sequence: AtomicU64::new(0),
        };
        let line = || Line {
            route: "/predict",
            protocol: "simple",
            status: 200,
            latency: Duration::from_micros(5),
            model: "m",
            error: None,
        };
        log.write(line(), None);
        log.write(line(), None);
        assert_eq!(log.dropped(), 1);
    }
}
