//! Hot reload, limits, authentication, timeouts, draining, metrics and the pages.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndarray::ArrayView2;
use serde_json::{Value, json};
use verdict_model::{Codec, Feature, Model, ModelInfo, OutputSlot, PredictError, Signature, Task};
use verdict_serve::{Options, Repository, Source};

use crate::common::*;

/// Waits until `check` holds, for at most `limit`.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn line_prediction(server: &TestServer) -> f64 {
    let (status, body) = post_json(&server.url("/predict"), &json!({"input": [3.0, 1.0]}));
    assert_eq!(status, 200, "{body}");
    body["prediction"][0].as_f64().unwrap()
}

#[test]
fn hot_reload_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&line(0.0), dir.path(), "line");
    let server = TestServer::start(
        vec![Source::Dir(dir.path().into())],
        Options::default(),
        Some(Duration::from_millis(25)),
    );
    // y = intercept + 2*3 - 1 for each intercept written below.
    let versions: Vec<f64> = (0..6).map(f64::from).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let url = server.url("/predict");
            let stop = Arc::clone(&stop);
            let answered = Arc::clone(&answered);
            let versions = versions.clone();
            std::thread::spawn(move || {
                let client = client();
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let response = client
                        .post(&url)
                        .json(&json!({"input": [3.0, 1.0]}))
                        .send()
                        .unwrap();
                    let (status, body) = status_json(response);
                    let value = body["prediction"][0].as_f64();
                    let known = value.is_some_and(|v| versions.iter().any(|i| i + 5.0 == v));
                    if status != 200 || !known {
                        failures.push(format!("{status}: {body}"));
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                failures
            })
        })
        .collect();
    for &intercept in &versions[1..] {
        std::thread::sleep(Duration::from_millis(60));
        line(intercept).save(&path, Codec::Bincode).unwrap();
        assert!(
            eventually(Duration::from_secs(10), || line_prediction(&server)
                == intercept + 5.0),
            "version {intercept} was not picked up"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(answered.load(Ordering::Relaxed) > 20);
}

#[test]
fn a_failed_reload_keeps_the_old_model_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&line(1.0), dir.path(), "line");
    let server = TestServer::start(
        vec![Source::File(path.clone())],
        Options::default(),
        Some(Duration::from_millis(25)),
    );
    assert_eq!(line_prediction(&server), 6.0);

    std::fs::write(&path, b"VERDICT 1 bincode garbage").unwrap();
    let metadata = || {
        let (status, text) = get(&server.url("/v2/models/line"));
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()
    };
    assert!(
        eventually(Duration::from_secs(10), || metadata()["parameters"]
            .get("reload_error")
            .is_some()),
        "the failure never showed"
    );
    let reason = metadata()["parameters"]["reload_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("cannot load") && reason.contains("line.vdm"),
        "{reason}"
    );
    assert_eq!(line_prediction(&server), 6.0, "the old model keeps serving");
    let (_, metrics) = get(&server.url("/metrics"));
    // A non-atomic write can be seen half-done, and fail once more.
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("verdict_model_load_failures_total{model=\"line\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(failures.is_some_and(|n| n >= 1), "{metrics}");
    let (_, index) = post_raw(&server.url("/v2/repository/index"), Vec::new());
    assert_eq!(index[0]["state"], "READY");
    assert!(index[0]["reason"].as_str().unwrap().contains("cannot load"));

    line(2.0).save(&path, Codec::Bincode).unwrap();
    assert!(eventually(Duration::from_secs(10), || line_prediction(
        &server
    ) == 7.0));
    assert!(metadata()["parameters"].get("reload_error").is_none());
}

#[test]
fn a_broken_new_file_leaves_a_serving_server_ready() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let server = TestServer::start(
        vec![Source::Dir(dir.path().into())],
        Options::default(),
        Some(Duration::from_millis(25)),
    );
    std::fs::write(dir.path().join("newcomer.vdm"), b"not a model").unwrap();
    let listed = || {
        let (_, index) = post_raw(&server.url("/v2/repository/index"), Vec::new());
        index.as_array().is_some_and(|models| models.len() == 2)
    };
    assert!(eventually(Duration::from_secs(10), listed), "never scanned");
    assert_eq!(get(&server.url("/v2/models/newcomer/ready")).0, 400);
    assert_eq!(get(&server.url("/v2/health/ready")).0, 200);
    assert_eq!(line_prediction(&server), 6.0);
}

#[test]
fn a_model_that_never_loaded_is_unavailable_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.vdm"), b"not a model").unwrap();
    save(&line(1.0), dir.path(), "line");
    let server = TestServer::serving(dir.path(), Options::default());
    let (status, body) = post_json(
        &server.url("/models/broken/predict"),
        &json!({"input": [1]}),
    );
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body).contains("cannot load"), "{body}");
    assert_eq!(get(&server.url("/v2/health/ready")).0, 400);
    assert_eq!(get(&server.url("/v2/models/broken/ready")).0, 400);
    let (status, _) = post_raw(&server.url("/v2/repository/models/broken/load"), Vec::new());
    assert_eq!(status, 400);
}

#[test]
fn versioned_directories_serve_the_newest_by_default() {
    let dir = tempfile::tempdir().unwrap();
    for (version, intercept) in [(1, 1.0), (2, 2.0), (10, 10.0)] {
        let version_dir = dir.path().join("line").join(version.to_string());
        std::fs::create_dir_all(&version_dir).unwrap();
        save(&line(intercept), &version_dir, "model");
    }
    let server = TestServer::serving(dir.path(), Options::default());
    assert_eq!(line_prediction(&server), 15.0);
    let (_, body) = post_json(
        &server.url("/models/line/versions/2/predict"),
        &json!({"input": [3, 1]}),
    );
    assert_eq!(body["prediction"][0], 7.0);
    let (_, text) = get(&server.url("/v2/models/line"));
    let metadata: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(metadata["versions"], json!(["1", "2", "10"]));
    let (_, body) = post_json(
        &server.url("/v2/models/line/versions/1/infer"),
        &json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [3, 1]}]}),
    );
    assert_eq!(body["model_version"], "1");
}

#[cfg(unix)]
#[test]
fn sighup_reloads_without_polling() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&line(1.0), dir.path(), "line");
    let server = TestServer::start(vec![Source::File(path.clone())], Options::default(), None);
    assert_eq!(line_prediction(&server), 6.0);
    line(3.0).save(&path, Codec::Bincode).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(line_prediction(&server), 6.0, "no polling, no reload");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(eventually(Duration::from_secs(10), || line_prediction(
        &server
    ) == 8.0));
}

#[test]
fn bodies_over_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let options = Options {
        max_body: 1024,
        ..Options::default()
    };
    let server = TestServer::serving(dir.path(), options);
    let rows = vec![json!([1.0, 2.0]); 200];
    for path in ["/predict", "/v2/models/line/infer"] {
        let (status, body) = post_json(&server.url(path), &json!({ "inputs": rows }));
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(
            error_of(&body),
            "the request body is over the limit of 1024 bytes"
        );
    }
    let (status, body) = post_json(&server.url("/invocations"), &json!({ "inputs": rows }));
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error_code"], "BAD_REQUEST");

    // The limit applies to what a compressed body expands to.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(json!({ "inputs": rows }).to_string().as_bytes())
        .unwrap();
    let compressed = gzip.finish().unwrap();
    assert!(compressed.len() < 1024);
    let response = client()
        .post(server.url("/predict"))
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    // A small compressed body is read.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(br#"{"input": [3, 1]}"#).unwrap();
    let response = client()
        .post(server.url("/predict"))
        .header("content-encoding", "gzip")
        .body(gzip.finish().unwrap())
        .send()
        .unwrap();
    let (status, body) = status_json(response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["prediction"][0], 6.0);
}

#[test]
fn the_token_guards_everything_but_health() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let options = Options {
        token: Some("s3cret".into()),
        ..Options::default()
    };
    let server = TestServer::serving(dir.path(), options);
    let body = json!({"input": [3, 1]});
    for path in ["/predict", "/v2/models/line/infer", "/invocations"] {
        let response = client().post(server.url(path)).json(&body).send().unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            "Bearer"
        );
        let wrong = client()
            .post(server.url(path))
            .bearer_auth("s3creT")
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{path}");
    }
    for path in [
        "/",
        "/metrics",
        "/v2",
        "/v2/models/line",
        "/openapi.json",
        "/version",
    ] {
        assert_eq!(get(&server.url(path)).0, 401, "{path}");
    }
    for path in [
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/line/ready",
        "/ping",
        "/health",
    ] {
        assert_eq!(get(&server.url(path)).0, 200, "{path}");
    }
    let response = client()
        .post(server.url("/predict"))
        .bearer_auth("s3cret")
        .json(&body)
        .send()
        .unwrap();
    let (status, answer) = status_json(response);
    assert_eq!(status, 200, "{answer}");
    let response = client()
        .post(server.url("/invocations"))
        .json(&json!({"inputs": [[3, 1]]}))
        .send()
        .unwrap();
    let (_, answer) = status_json(response);
    assert_eq!(answer["error_code"], "UNAUTHENTICATED");
}

/// A model that takes its time, to test timeouts and draining; it says when a prediction
/// has started.
#[derive(Debug)]
struct Slow {
    signature: Signature,
    delay: Duration,
    started: Arc<AtomicBool>,
}

impl Model for Slow {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict_into(
        &self,
        features: ArrayView2<'_, f64>,
        outputs: &mut [OutputSlot<'_>],
    ) -> Result<(), PredictError> {
        self.signature.check_shapes(&features, outputs)?;
        self.started.store(true, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        for slot in outputs {
            slot.out.fill(1.0);
        }
        Ok(())
    }
}

fn slow_repository(delay: Duration) -> (Arc<Repository>, Arc<AtomicBool>) {
    let repository = Arc::new(Repository::new());
    let started = Arc::new(AtomicBool::new(false));
    let model = Slow {
        signature: Signature::new(vec![Feature::numeric("a")], Task::Regression),
        delay,
        started: Arc::clone(&started),
    };
    repository.insert("slow", Arc::new(model), ModelInfo::new("slow", "test", "1"));
    (repository, started)
}

#[test]
fn slow_requests_time_out_with_504() {
    let options = Options {
        timeout: Some(Duration::from_millis(200)),
        offload_rows: 1,
        ..Options::default()
    };
    let (repository, _) = slow_repository(Duration::from_secs(3));
    let server = TestServer::with_repository(repository, options, None);
    let started = Instant::now();
    let (status, body) = post_json(&server.url("/predict"), &json!({"input": [1]}));
    assert_eq!(status, 504, "{body}");
    assert_eq!(
        error_of(&body),
        "the request took longer than the limit of 200 ms"
    );
    // The answer does not wait for the model.
    assert!(started.elapsed() < Duration::from_secs(3));
    let (status, body) = post_json(&server.url("/invocations"), &json!({"inputs": [[1]]}));
    assert_eq!(status, 504);
    assert_eq!(body["error_code"], "TEMPORARILY_UNAVAILABLE");
}

#[test]
fn stopping_drains_running_requests() {
    let options = Options {
        offload_rows: 1,
        ..Options::default()
    };
    let (repository, started) = slow_repository(Duration::from_millis(700));
    let mut server = TestServer::with_repository(repository, options, None);
    let url = server.url("/predict");
    let running = std::thread::spawn(move || post_json(&url, &json!({"input": [1]})));
    assert!(eventually(Duration::from_secs(10), || started.load(Ordering::SeqCst)));
    server.stop();
    let (status, body) = running.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["prediction"][0], 1.0);
}

#[test]
fn bytes_in_flight_past_the_budget_get_503_with_retry_after() {
    let options = Options {
        offload_rows: 1,
        max_inflight_bytes: 100,
        ..Options::default()
    };
    let (repository, started) = slow_repository(Duration::from_millis(700));
    let server = TestServer::with_repository(repository, options, None);
    // 70 bytes: under the budget alone.
    let padded = json!({"input": [1], "outputs": ["predict", "predict", "predict", "predict"]});
    assert!(padded.to_string().len() > 50);
    let url = server.url("/predict");
    let body = padded.clone();
    let running = std::thread::spawn(move || post_json(&url, &body));
    assert!(eventually(Duration::from_secs(10), || started.load(Ordering::SeqCst)));
    let response = client()
        .post(server.url("/predict"))
        .json(&padded)
        .send()
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, body) = status_json(response);
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body).contains("limit of 100"), "{body}");
    assert_eq!(running.join().unwrap().0, 200);
    // Given back once answered.
    assert_eq!(post_json(&server.url("/predict"), &padded).0, 200);
}

#[test]
fn large_requests_are_decoded_a_few_at_a_time() {
    let options = Options {
        offload_rows: 1,
        large_request_bytes: 10,
        max_large_requests: 1,
        ..Options::default()
    };
    let (repository, started) = slow_repository(Duration::from_millis(700));
    let server = TestServer::with_repository(repository, options, None);
    let url = server.url("/predict");
    let running = std::thread::spawn(move || post_json(&url, &json!({"input": [1]})));
    assert!(eventually(Duration::from_secs(10), || started.load(Ordering::SeqCst)));
    let (status, body) = post_json(&server.url("/predict"), &json!({"input": [2]}));
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body).contains("large requests"), "{body}");
    assert_eq!(running.join().unwrap().0, 200);
}

#[test]
fn json_past_the_row_limit_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let options = Options {
        max_rows: 10,
        ..Options::default()
    };
    let server = TestServer::serving(dir.path(), options);
    // The rows are cut short after the limit: only a parse would see the broken end.
    let mut body = String::from(r#"{"inputs": ["#);
    body.push_str(&vec!["[1, 2]"; 5000].join(","));
    for (path, body) in [
        ("/predict", body.clone()),
        ("/invocations", body.clone()),
        (
            "/v2/models/line/infer",
            format!(
                r#"{{"inputs": [{{"name": "x", "shape": [5000, 2], "datatype": "FP64", "data": [{}"#,
                vec!["1"; 10000].join(",")
            ),
        ),
    ] {
        let response = client()
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let (status, answer) = status_json(response);
        assert_eq!(status, 413, "{path}: {answer}");
        let message = answer["error"]
            .as_str()
            .or(answer["message"].as_str())
            .unwrap();
        assert!(
            message.contains("send at most 10 rows"),
            "{path}: {message}"
        );
    }
}

/// What became of one request sent on a kept-alive connection.
enum Exchange {
    /// Answered; `true` when the server asked to close the connection.
    Answered { status: u16, close: bool },
    /// The connection broke after the request was sent: the request was dropped.
    Dropped,
}

/// Sends one request on `stream` and reads its answer (headers, then `Content-Length` bytes).
fn exchange(stream: &mut std::io::BufReader<std::net::TcpStream>, host: &str) -> Exchange {
    use std::io::{BufRead, Read};
    let body = r#"{"input": [1]}"#;
    let request = format!(
        "POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.get_mut().write_all(request.as_bytes()).is_err() {
        return Exchange::Dropped;
    }
    let mut status = 0;
    let mut length = 0;
    let mut close = false;
    loop {
        let mut line = String::new();
        match stream.read_line(&mut line) {
            Ok(0) | Err(_) => return Exchange::Dropped,
            Ok(_) => {}
        }
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(code) = line.strip_prefix("http/1.1 ") {
            status = code.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        } else if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        } else if line == "connection: close" {
            close = true;
        }
    }
    let mut body = vec![0; length];
    if stream.read_exact(&mut body).is_err() {
        return Exchange::Dropped;
    }
    Exchange::Answered { status, close }
}

#[test]
fn stopping_answers_every_request_on_kept_alive_connections() {
    let options = Options {
        offload_rows: 1,
        ..Options::default()
    };
    let (repository, started) = slow_repository(Duration::from_millis(20));
    let mut server = TestServer::with_repository(repository, options, None);
    let host = server.base.trim_start_matches("http://").to_owned();
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || {
                let stream = std::net::TcpStream::connect(&host).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                let mut stream = std::io::BufReader::new(stream);
                let (mut answered, mut dropped) = (0, 0);
                for _ in 0..2_000 {
                    match exchange(&mut stream, &host) {
                        Exchange::Answered { status, close } => {
                            assert_eq!(status, 200);
                            answered += 1;
                            if close {
                                break;
                            }
                        }
                        Exchange::Dropped => {
                            dropped += 1;
                            break;
                        }
                    }
                }
                (answered, dropped)
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(10), || started.load(Ordering::SeqCst)));
    std::thread::sleep(Duration::from_millis(200));
    let stopping = Instant::now();
    server.stop();
    let stopped_in = stopping.elapsed();
    let results: Vec<(u32, u32)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(
        results.iter().all(|&(answered, _)| answered > 0),
        "{results:?}"
    );
    assert_eq!(
        results.iter().map(|r| r.1).sum::<u32>(),
        0,
        "dropped: {results:?}"
    );
    // Connections close after their answer, so the drain does not wait out its timeout.
    assert!(stopped_in < Duration::from_secs(5), "took {stopped_in:?}");
}

/// Clients that keep their connections alive in a pool, as `requests` and `tritonclient` do,
/// and stop sending once the server says it closes (as they would once a load balancer takes
/// the stopping server out).
#[test]
fn stopping_drops_no_request_of_pooled_clients() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let mut server = TestServer::serving(dir.path(), Options::default());
    let url = server.url("/predict");
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let client = client();
                let (mut ok, mut dropped) = (0u32, Vec::new());
                for _ in 0..100_000 {
                    match client.post(&url).json(&json!({"input": [3, 1]})).send() {
                        Ok(response) if response.status().is_success() => {
                            ok += 1;
                            if response
                                .headers()
                                .get("connection")
                                .is_some_and(|v| v == "close")
                            {
                                break;
                            }
                        }
                        Ok(response) => dropped.push(format!("status {}", response.status())),
                        Err(error) if error.is_connect() => break,
                        Err(error) => dropped.push(format!("{error:?}")),
                    }
                }
                (ok, dropped)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    server.stop();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(results.iter().all(|r| r.0 > 0));
    let dropped: Vec<&String> = results.iter().flat_map(|r| &r.1).collect();
    assert!(
        dropped.is_empty(),
        "{} dropped: {:?}",
        dropped.len(),
        &dropped[..dropped.len().min(3)]
    );
}

#[test]
fn metrics_count_requests_rows_and_time() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let server = TestServer::serving(dir.path(), Options::default());
    post_json(
        &server.url("/predict"),
        &json!({"inputs": [[1, 2], [3, 4]]}),
    );
    post_json(&server.url("/predict"), &json!({"input": [1]}));
    post_json(&server.url("/models/nope/predict"), &json!({"input": [1]}));
    post_json(
        &server.url("/v2/models/line/infer"),
        &json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}),
    );
    let (status, text) = get(&server.url("/metrics"));
    assert_eq!(status, 200);
    for line in [
        "verdict_requests_total{model=\"line\",protocol=\"simple\",status=\"200\"} 1",
        "verdict_requests_total{model=\"line\",protocol=\"simple\",status=\"400\"} 1",
        "verdict_requests_total{model=\"\",protocol=\"simple\",status=\"404\"} 1",
        "verdict_requests_total{model=\"line\",protocol=\"v2\",status=\"200\"} 1",
        "verdict_rows_predicted_total{model=\"line\"} 3",
        "verdict_compute_duration_seconds_count{model=\"line\"} 2",
        "verdict_queue_duration_seconds_count{model=\"line\"} 2",
        "verdict_request_duration_seconds_bucket{protocol=\"simple\",le=\"+Inf\"} 3",
        "verdict_model_ready{model=\"line\",version=\"1\"} 1",
        "# TYPE verdict_model_load_failures_total counter",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn the_pages_describe_the_models_and_routes() {
    let dir = tempfile::tempdir().unwrap();
    save(&churn(), dir.path(), "churn");
    let server = TestServer::serving(dir.path(), Options::default());
    let (status, page) = get(&server.url("/"));
    assert_eq!(status, 200);
    assert!(page.contains("<h2>churn"), "{page}");
    assert!(page.contains("categorical: red, green, blue"), "{page}");
    assert!(page.contains("<option value=\"churn\""), "{page}");
    let (status, text) = get(&server.url("/openapi.json"));
    assert_eq!(status, 200);
    let openapi: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(openapi["openapi"], "3.0.3");
    for path in [
        "/predict",
        "/models/{name}/predict",
        "/invocations",
        "/models/{name}/invocations",
        "/ping",
        "/health",
        "/version",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path}");
    }
    let (status, text) = get(&server.url("/no/such/route"));
    assert_eq!(status, 404);
    assert!(text.contains("no route `GET /no/such/route`"), "{text}");
}

#[test]
fn garbage_never_gets_a_server_error() {
    let dir = tempfile::tempdir().unwrap();
    save(&churn(), dir.path(), "churn");
    let server = TestServer::serving(dir.path(), Options::default());
    let client = client();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let fragments: [&[u8]; 12] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"inputs\":",
        b"\"data\":",
        b"1e999",
        b"null",
        b",",
        b"\"x\"",
        b"{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"BYTES\"",
        b"\xff\x00",
    ];
    for i in 0..300 {
        let mut body = Vec::new();
        for _ in 0..next() % 24 {
            body.extend_from_slice(fragments[(next() % fragments.len() as u64) as usize]);
        }
        let path = [
            "/predict",
            "/v2/models/churn/infer",
            "/invocations",
            "/v2/repository/index",
        ][i % 4];
        let mut request = client.post(server.url(path)).body(body.clone());
        if i % 3 == 0 {
            request = request.header("Inference-Header-Content-Length", (next() % 40).to_string());
        }
        let status = request.send().unwrap().status().as_u16();
        assert!(
            status < 500,
            "{path} {status} for {:?}",
            String::from_utf8_lossy(&body)
        );
    }
    let (status, _) = post_json(&server.url("/predict"), &json!({"input": [0.7, "blue"]}));
    assert_eq!(status, 200);
}
