//! Prometheus metrics, in the text exposition format.
//!
//! A handful of counters and histograms under one lock each is plenty for a model server: a
//! request touches each lock once, for a few nanoseconds, next to microseconds of parsing.
//! Model readiness and load failures are read from the [`Repository`] at scrape time, so they
//! cannot drift from the truth.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::repository::Repository;

/// Histogram bucket bounds, in seconds: 10 µs to 10 s, for requests that range from one row
/// to the largest batch.
const SECONDS: [f64; 19] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Histogram bucket bounds for the rows of a batch: powers of two up to the largest batch
/// anyone should configure.
const ROWS: [f64; 14] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
];

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Cumulative counts are computed at render time; these are per bucket, plus +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn seconds() -> Histogram {
        Histogram::new(&SECONDS)
    }

    fn observe(&mut self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// What one request did, for [`Metrics::record_request`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestRecord<'a> {
    pub(crate) model: &'a str,
    pub(crate) protocol: &'static str,
    pub(crate) status: u16,
    pub(crate) duration: Duration,
}

/// What one model has done since the server started: Triton's statistics extension reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ModelStats {
    /// Rows predicted.
    pub(crate) rows: u64,
    /// Predictions run (one per request; a batch of the dynamic batcher counts each request).
    pub(crate) predictions: u64,
    /// Total wait for a compute thread, in nanoseconds.
    pub(crate) queue_ns: u64,
    /// Total model time, in nanoseconds.
    pub(crate) compute_ns: u64,
    /// Requests naming this model that were answered with an error.
    pub(crate) failures: u64,
    /// When the last prediction ended, in milliseconds since the Unix epoch (0: never).
    pub(crate) last_ms: u64,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    stats: Mutex<BTreeMap<String, ModelStats>>,
    requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    request_duration: Mutex<BTreeMap<(String, &'static str), Histogram>>,
    queue_duration: Mutex<BTreeMap<String, Histogram>>,
    compute_duration: Mutex<BTreeMap<String, Histogram>>,
    batch_rows: Mutex<BTreeMap<String, Histogram>>,
    rejections: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn record_request(&self, record: RequestRecord<'_>) {
        if record.status >= 400 && !record.model.is_empty() {
            lock(&self.stats)
                .entry(record.model.to_owned())
                .or_default()
                .failures += 1;
        }
        *lock(&self.requests)
            .entry((record.model.to_owned(), record.protocol, record.status))
            .or_default() += 1;
        lock(&self.request_duration)
            .entry((record.model.to_owned(), record.protocol))
            .or_insert_with(Histogram::seconds)
            .observe(record.duration.as_secs_f64());
    }

    /// Records one prediction: the rows, the wait for a compute thread and the compute time.
    pub(crate) fn record_prediction(
        &self,
        model: &str,
        rows: usize,
        queued: Duration,
        compute: Duration,
    ) {
        {
            let mut stats = lock(&self.stats);
            let stats = stats.entry(model.to_owned()).or_default();
            stats.rows += rows as u64;
            stats.predictions += 1;
            stats.queue_ns += queued.as_nanos() as u64;
            stats.compute_ns += compute.as_nanos() as u64;
            stats.last_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64);
        }
        lock(&self.queue_duration)
            .entry(model.to_owned())
            .or_insert_with(Histogram::seconds)
            .observe(queued.as_secs_f64());
        lock(&self.compute_duration)
            .entry(model.to_owned())
            .or_insert_with(Histogram::seconds)
            .observe(compute.as_secs_f64());
    }

    /// What `model` has done (all zero when it has not been asked for anything).
    pub(crate) fn model_stats(&self, model: &str) -> ModelStats {
        lock(&self.stats).get(model).copied().unwrap_or_default()
    }

    /// Records one batch of the dynamic batcher and its rows.
    pub(crate) fn record_batch(&self, model: &str, rows: usize) {
        lock(&self.batch_rows)
            .entry(model.to_owned())
            .or_insert_with(|| Histogram::new(&ROWS))
            .observe(rows as f64);
    }

    /// Counts one request refused because the batch queues were full.
    pub(crate) fn record_rejection(&self, model: &str) {
        *lock(&self.rejections).entry(model.to_owned()).or_default() += 1;
    }

    /// The exposition text; `queued_rows` is the rows waiting in the batch queues now.
    pub fn render(&self, repository: &Repository, queued_rows: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP verdict_requests_total Requests answered, by model, protocol and HTTP status.\n");
        out.push_str("# TYPE verdict_requests_total counter\n");
        for ((model, protocol, status), count) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "verdict_requests_total{{model=\"{}\",protocol=\"{protocol}\",status=\"{status}\"}} {count}",
                escape(model)
            );
        }
        out.push_str(
            "# HELP verdict_request_duration_seconds Time from routing to response, by model and protocol.\n",
        );
        out.push_str("# TYPE verdict_request_duration_seconds histogram\n");
        for ((model, protocol), histogram) in lock(&self.request_duration).iter() {
            histogram.render(
                &mut out,
                "verdict_request_duration_seconds",
                &format!("model=\"{}\",protocol=\"{protocol}\",", escape(model)),
            );
        }
        for (name, help, histograms) in [
            (
                "verdict_queue_duration_seconds",
                "Time a prediction waited for a compute thread (the blocking pool or a batch worker, including the batching delay), by model.",
                &self.queue_duration,
            ),
            (
                "verdict_compute_duration_seconds",
                "Time spent predicting, by model.",
                &self.compute_duration,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (model, histogram) in lock(histograms).iter() {
                histogram.render(&mut out, name, &format!("model=\"{}\",", escape(model)));
            }
        }
        out.push_str("# HELP verdict_rows_predicted_total Rows predicted, by model.\n");
        out.push_str("# TYPE verdict_rows_predicted_total counter\n");
        for (model, stats) in lock(&self.stats).iter().filter(|(_, s)| s.predictions > 0) {
            let _ = writeln!(
                out,
                "verdict_rows_predicted_total{{model=\"{}\"}} {}",
                escape(model),
                stats.rows
            );
        }
        out.push_str(
            "# HELP verdict_batch_rows Rows per batch of the dynamic batcher, by model.\n",
        );
        out.push_str("# TYPE verdict_batch_rows histogram\n");
        for (model, histogram) in lock(&self.batch_rows).iter() {
            histogram.render(
                &mut out,
                "verdict_batch_rows",
                &format!("model=\"{}\",", escape(model)),
            );
        }
        out.push_str("# HELP verdict_batch_queue_rows Rows waiting in the batch queues.\n");
        out.push_str("# TYPE verdict_batch_queue_rows gauge\n");
        let _ = writeln!(out, "verdict_batch_queue_rows {queued_rows}");
        out.push_str("# HELP verdict_batch_rejections_total Requests answered 503 because the batch queues were full, by model.\n");
        out.push_str("# TYPE verdict_batch_rejections_total counter\n");
        for (model, count) in lock(&self.rejections).iter() {
            let _ = writeln!(
                out,
                "verdict_batch_rejections_total{{model=\"{}\"}} {count}",
                escape(model)
            );
        }
        out.push_str(
            "# HELP verdict_model_load_failures_total Failed model loads and reloads, by model.\n",
        );
        out.push_str("# TYPE verdict_model_load_failures_total counter\n");
        for (model, failures) in repository.load_failures() {
            let _ = writeln!(
                out,
                "verdict_model_load_failures_total{{model=\"{}\"}} {failures}",
                escape(&model)
            );
        }
        out.push_str("# HELP verdict_model_ready 1 when the model version is serving.\n");
        out.push_str("# TYPE verdict_model_ready gauge\n");
        for model in repository.models() {
            for version in &model.versions {
                let ready = u8::from(!model.unloaded && version.model.is_some());
                let _ = writeln!(
                    out,
                    "verdict_model_ready{{model=\"{}\",version=\"{}\"}} {ready}",
                    escape(&model.name),
                    version.version
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let mut histogram = Histogram::seconds();
        histogram.observe(0.00001);
        histogram.observe(0.002);
        histogram.observe(100.0);
        let mut out = String::new();
        histogram.render(&mut out, "h", "m=\"a\",");
        assert!(
            out.contains("h_bucket{m=\"a\",le=\"0.00001\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("h_bucket{m=\"a\",le=\"0.0025\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{m=\"a\",le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{m=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("h_count{m=\"a\"} 3\n"), "{out}");
    }
}
