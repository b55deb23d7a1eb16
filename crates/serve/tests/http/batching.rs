//! Dynamic batching over a real socket: concurrent clients get their own answers, batches
//! form, a full queue answers 503 with `Retry-After`, and a stop drains what is queued.

use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use ndarray::{Array2, ArrayView2};
use serde_json::{Value, json};
use verdict_model::{Feature, Model, ModelInfo, Output, OutputSlot, PredictError, Signature, Task};
use verdict_serve::{BatchConfig, Options, Repository};

use crate::common::*;

fn batching(max_batch_rows: usize, max_delay_us: u64, max_queue_rows: usize) -> Options {
    Options {
        batch: BatchConfig {
            enabled: true,
            max_batch_rows,
            max_delay_us,
            max_queue_rows,
        },
        ..Options::default()
    }
}

/// Client `c`'s request `i`: one to three iris-like rows, different for every request.
fn rows(c: usize, i: usize) -> Array2<f64> {
    let n = 1 + (c + i) % 3;
    Array2::from_shape_fn((n, 4), |(r, f)| {
        4.0 + ((c * 31 + i * 7 + r * 3 + f) as f64 * 0.61).sin() * 2.5
    })
}

/// The value of a metric line `name{labels} value`, if present.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn metrics(server: &TestServer) -> String {
    let (status, text) = get(&server.url("/metrics"));
    assert_eq!(status, 200, "{text}");
    text
}

/// Polls the metrics until `series` reaches `value`; the condition is about state, not speed,
/// so the bound only keeps a broken server from hanging the test run.
fn wait_for(server: &TestServer, series: &str, value: f64) {
    for _ in 0..2000 {
        if metric(&metrics(server), series) == Some(value) {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    panic!("{series} never reached {value}:\n{}", metrics(server));
}

#[test]
fn concurrent_clients_get_their_own_answers_in_shared_batches() {
    let dir = tempfile::tempdir().unwrap();
    let model = iris();
    save(&model, dir.path(), "iris");
    // A long delay and room for every client: batches form whatever the machine's load.
    let server = TestServer::serving(dir.path(), batching(64, 20_000, 10_000));
    let clients = 12;
    let requests = 15;
    thread::scope(|scope| {
        for c in 0..clients {
            let (server, model) = (&server, &model);
            scope.spawn(move || {
                for i in 0..requests {
                    let rows = rows(c, i);
                    let nested: Vec<Vec<f64>> =
                        rows.rows().into_iter().map(|r| r.to_vec()).collect();
                    if (c + i) % 2 == 0 {
                        // Open Inference Protocol, probabilities.
                        let (status, body) = post_json(
                            &server.url("/v2/models/iris/infer"),
                            &json!({
                                "inputs": [{"name": "input", "shape": [rows.nrows(), 4], "datatype": "FP64", "data": nested}],
                                "outputs": [{"name": "predict_proba"}],
                            }),
                        );
                        assert_eq!(status, 200, "{body}");
                        let want = expected(model, &rows, Output::PredictProba);
                        let got = numbers(&body["outputs"][0]["data"]);
                        let want: Vec<f64> = want.iter().copied().collect();
                        assert_eq!(bits(&got), bits(&want), "client {c} request {i}");
                    } else {
                        // The simple protocol, margins: another output, so another queue.
                        let (status, body) = post_json(
                            &server.url("/models/iris/predict"),
                            &json!({"inputs": nested, "outputs": ["raw"]}),
                        );
                        assert_eq!(status, 200, "{body}");
                        let want = expected(model, &rows, Output::Raw);
                        for r in 0..rows.nrows() {
                            for k in 0..3 {
                                let got = body["raw"][r][format!("raw_{k}")].as_f64().unwrap();
                                assert_eq!(
                                    got.to_bits(),
                                    want[[r, k]].to_bits(),
                                    "client {c} request {i} row {r}"
                                );
                            }
                        }
                    }
                }
            });
        }
    });

    let text = metrics(&server);
    let series = "verdict_batch_rows_bucket{model=\"iris\",le=\"1\"}";
    let single = metric(&text, series).unwrap_or_else(|| panic!("no {series}:\n{text}"));
    let batches = metric(&text, "verdict_batch_rows_count{model=\"iris\"}").unwrap();
    let rows_batched = metric(&text, "verdict_batch_rows_sum{model=\"iris\"}").unwrap();
    let total: usize = (0..clients)
        .flat_map(|c| (0..requests).map(move |i| rows(c, i).nrows()))
        .sum();
    assert_eq!(rows_batched, total as f64, "{text}");
    assert!(
        batches < (clients * requests) as f64,
        "no two requests shared a batch:\n{text}"
    );
    assert!(batches > single, "every batch held one row:\n{text}");
    assert_eq!(metric(&text, "verdict_batch_queue_rows"), Some(0.0));
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn a_request_over_the_batch_size_predicts_alone() {
    let dir = tempfile::tempdir().unwrap();
    let model = iris();
    save(&model, dir.path(), "iris");
    let server = TestServer::serving(dir.path(), batching(2, 0, 10));
    let rows = iris_rows();
    let nested: Vec<Vec<f64>> = rows.rows().into_iter().map(|r| r.to_vec()).collect();
    let (status, body) = post_json(
        &server.url("/models/iris/predict"),
        &json!({"inputs": nested, "outputs": ["raw"]}),
    );
    assert_eq!(status, 200, "{body}");
    let want = expected(&model, &rows, Output::Raw);
    assert_eq!(body["raw"][3]["raw_2"].as_f64(), Some(want[[3, 2]]));
    let text = metrics(&server);
    assert_eq!(
        metric(&text, "verdict_batch_rows_count{model=\"iris\"}"),
        None,
        "{text}"
    );
}

/// Whether the gate is open, and how many predictions have reached it; with its signal.
type Gate = (Mutex<(bool, usize)>, Condvar);

/// `y = 2x`, whose predictions wait until the gate opens, and say when one is waiting.
#[derive(Debug)]
struct Gated {
    signature: Signature,
    gate: Arc<Gate>,
}

impl Model for Gated {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict_into(
        &self,
        features: ArrayView2<'_, f64>,
        outputs: &mut [OutputSlot<'_>],
    ) -> Result<(), PredictError> {
        self.signature.check_shapes(&features, outputs)?;
        let (state, changed) = &*self.gate;
        let mut state = state.lock().unwrap();
        state.1 += 1;
        changed.notify_all();
        while !state.0 {
            state = changed.wait(state).unwrap();
        }
        drop(state);
        for slot in outputs.iter_mut() {
            for (x, mut y) in features.rows().into_iter().zip(slot.out.rows_mut()) {
                y[0] = 2.0 * x[0];
            }
        }
        Ok(())
    }
}

fn gated(options: Options) -> (TestServer, Arc<Gate>) {
    let gate = Arc::new((Mutex::new((false, 0)), Condvar::new()));
    let repository = Arc::new(Repository::new());
    repository.insert(
        "gated",
        Arc::new(Gated {
            signature: Signature::new(vec![Feature::numeric("x")], Task::Regression),
            gate: Arc::clone(&gate),
        }),
        ModelInfo::new("gated", "verdict", "test"),
    );
    (TestServer::with_repository(repository, options, None), gate)
}

fn wait_until_predicting(gate: &Gate) {
    let (state, changed) = gate;
    let mut state = state.lock().unwrap();
    while state.1 == 0 {
        state = changed.wait(state).unwrap();
    }
}

fn open(gate: &Gate) {
    let (state, changed) = gate;
    state.lock().unwrap().0 = true;
    changed.notify_all();
}

#[test]
fn a_full_queue_answers_503_with_retry_after_in_each_protocol() {
    let (server, gate) = gated(batching(1, 0, 2));
    let url = server.url("/predict");
    let predict = url.as_str();
    thread::scope(|scope| {
        // The first request holds the worker inside the model...
        let first = scope.spawn(|| post_json(predict, &json!({"input": [1.0]})));
        wait_until_predicting(&gate);
        // ...so the next two fill the queue of two rows...
        let queued: Vec<_> = [2.0, 3.0]
            .into_iter()
            .map(|x| scope.spawn(move || post_json(predict, &json!({"input": [x]}))))
            .collect();
        wait_for(&server, "verdict_batch_queue_rows", 2.0);

        // ...and every protocol is refused until it drains.
        let refused = [
            (server.url("/predict"), json!({"input": [4.0]})),
            (
                server.url("/v2/models/gated/infer"),
                json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [4.0]}]}),
            ),
            (server.url("/invocations"), json!({"inputs": [[4.0]]})),
        ];
        for (url, body) in &refused {
            let response = client().post(url).json(body).send().unwrap();
            assert_eq!(
                response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("1"),
                "{url}"
            );
            let (status, body) = status_json(response);
            assert_eq!(status, 503, "{url}: {body}");
            let message = if url.ends_with("/invocations") {
                assert_eq!(body["error_code"], "TEMPORARILY_UNAVAILABLE", "{body}");
                body["message"].as_str().unwrap()
            } else {
                error_of(&body)
            };
            assert!(message.contains("overloaded"), "{url}: {message}");
        }
        let text = metrics(&server);
        assert_eq!(
            metric(&text, "verdict_batch_rejections_total{model=\"gated\"}"),
            Some(3.0),
            "{text}"
        );

        open(&gate);
        let (status, body) = first.join().unwrap();
        assert_eq!((status, numbers(&body["prediction"])), (200, vec![2.0]));
        for (handle, want) in queued.into_iter().zip([4.0, 6.0]) {
            let (status, body) = handle.join().unwrap();
            assert_eq!((status, numbers(&body["prediction"])), (200, vec![want]));
        }
    });
    // Drained, the queue takes requests again.
    let (status, body) = post_json(predict, &json!({"input": [5.0]}));
    assert_eq!((status, numbers(&body["prediction"])), (200, vec![10.0]));
}

#[test]
fn stopping_answers_the_requests_still_queued() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(0.5), dir.path(), "line");
    // Batches wait two seconds for rows that never come, so the stop finds them queued.
    let mut server = TestServer::serving(dir.path(), batching(1000, 2_000_000, 1000));
    let predict = server.url("/predict");
    let answers: Vec<(u16, Value)> = thread::scope(|scope| {
        let clients: Vec<_> = (0..3)
            .map(|i| {
                let predict = &predict;
                scope.spawn(move || post_json(predict, &json!({"input": [f64::from(i), 1.0]})))
            })
            .collect();
        wait_for(&server, "verdict_batch_queue_rows", 3.0);
        server.stop();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for (i, (status, body)) in answers.iter().enumerate() {
        let x = i as f64;
        assert_eq!(*status, 200, "{body}");
        assert_eq!(numbers(&body["prediction"]), vec![0.5 + 2.0 * x - 1.0]);
    }
}
