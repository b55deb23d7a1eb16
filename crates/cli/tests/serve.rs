//! `verdict serve` as a process: it prints its URL and models, answers, and stops cleanly on
//! SIGTERM.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use verdict_model::family::Family;
use verdict_model::family::linear::{LinearMissing, LinearModel};
use verdict_model::family::link::{Link, Precision};
use verdict_model::{Codec, Feature, ModelFile, ModelInfo, NativeModel, Signature, Task};

use common::{line, request, served_address, stop};

#[test]
fn serve_prints_its_url_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.vdm");
    line().save(&path, Codec::Bincode).unwrap();
    std::fs::write(dir.path().join("broken.vdm"), b"not a model").unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--model-dir"])
        .arg(dir.path())
        .args(["--port", "0", "--workers", "1", "--default-model", "line"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line);
    }
    let addr = lines[0]
        .strip_prefix("verdict serving on http://")
        .and_then(|rest| rest.trim_end().strip_suffix('/'))
        .unwrap_or_else(|| panic!("no URL in {lines:?}"))
        .to_owned();
    assert!(
        lines[1].contains("broken v1: NOT SERVING: cannot load"),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("line v1: regression linear, 2 features"),
        "{lines:?}"
    );

    let answer = request(&addr, "POST", "/predict", r#"{"input": [3, 1]}"#);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(r#"{"model":"line","prediction":[6.0],"version":"1"}"#),
        "{answer}"
    );

    stop(&mut child);
}

#[test]
fn serve_needs_a_model() {
    let output = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--port", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let output = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--model", "/nonexistent/model.vdm", "--port", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("cannot open /nonexistent/model.vdm"),
        "{message}"
    );
}

#[test]
fn serve_batch_flags_turn_batching_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.vdm");
    line().save(&path, Codec::Bincode).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--model"])
        .arg(&path)
        .args(["--port", "0", "--workers", "1", "--batch"])
        .args(["--batch-max-rows", "2", "--batch-delay-us", "0"])
        .args(["--queue-max-rows", "100"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The reader stays open until the end: the server prints a line per model after its URL,
    // and a closed pipe would fail that print.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = served_address(&mut stdout);

    // One row goes through a batch; three rows, over --batch-max-rows, predict alone.
    let answer = request(&addr, "POST", "/predict", r#"{"input": [3, 1]}"#);
    assert!(
        answer.ends_with(r#""prediction":[6.0],"version":"1"}"#),
        "{answer}"
    );
    let answer = request(
        &addr,
        "POST",
        "/predict",
        r#"{"inputs": [[3, 1], [1, 1], [0, 0]]}"#,
    );
    assert!(answer.contains(r#""prediction":[6.0,2.0,1.0]"#), "{answer}");
    let metrics = request(&addr, "GET", "/metrics", "");
    assert!(
        metrics.contains("verdict_batch_rows_count{model=\"line\"} 1\n"),
        "{metrics}"
    );

    stop(&mut child);
}

/// A linear regressor over `width` features `f0`, `f1`, ...
fn wide(width: usize) -> ModelFile {
    let family = Family::Linear(LinearModel {
        num_features: width,
        coefficients: vec![0.5; width],
        intercepts: vec![0.0],
        precision: Precision::Double,
        missing: LinearMissing::Propagate,
        link: Link::Identity,
    });
    let features = (0..width)
        .map(|i| Feature::numeric(format!("f{i}")))
        .collect();
    ModelFile {
        info: ModelInfo::new("wide", "verdict", "test"),
        model: NativeModel::new(Signature::new(features, Task::Regression), family).unwrap(),
    }
}

/// A value of `/proc/PID/status` (`VmHWM`, `VmRSS`), in MiB.
fn memory_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable {line}"));
    kib / 1024
}

/// One request with a large body; the status line, or `None` when the server refused the
/// body by closing the connection before it was all sent.
fn send_large(addr: &str, body: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /predict HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .ok()?;
    // A refused body is answered at once; the rest of it may then meet a closed socket.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().map(str::to_owned)
}

/// The issue's attack, scaled to a shared test machine: eight 36 MB bodies of 300,000 rows
/// at once, three times the row limit. Before the bound, each was parsed whole (300 MB of
/// JSON values) before its rows were counted.
#[test]
fn many_large_bodies_at_once_keep_the_server_small() {
    const FEATURES: usize = 30;
    const ROWS: usize = 300_000;
    const CLIENTS: usize = 8;
    /// The server's peak resident memory may not pass this.
    const PEAK_MIB: u64 = 300;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.vdm");
    wide(FEATURES).save(&path, Codec::Bincode).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--model"])
        .arg(&path)
        .args(["--port", "0", "--workers", "4"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = served_address(&mut stdout);

    let row = format!("[{}]", vec!["0.25"; FEATURES].join(","));
    let body = format!("{{\"inputs\": [{}]}}", vec![row.as_str(); ROWS].join(","));
    let body = std::sync::Arc::new(body.into_bytes());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (addr, body) = (addr.clone(), std::sync::Arc::clone(&body));
            std::thread::spawn(move || send_large(&addr, &body))
        })
        .collect();
    let statuses: Vec<Option<String>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for status in statuses.iter().flatten() {
        assert!(
            status.starts_with("HTTP/1.1 413") || status.starts_with("HTTP/1.1 503"),
            "{statuses:?}"
        );
    }
    assert!(
        statuses
            .iter()
            .flatten()
            .any(|s| s.starts_with("HTTP/1.1 413")),
        "no body was read to its row limit: {statuses:?}"
    );
    let peak = memory_mib(child.id(), "VmHWM");
    assert!(peak < PEAK_MIB, "the server peaked at {peak} MiB");

    // It still serves.
    let row: Vec<String> = vec!["1".to_owned(); FEATURES];
    let answer = request(
        &addr,
        "POST",
        "/predict",
        &format!("{{\"input\": [{}]}}", row.join(",")),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop(&mut child);
}

#[test]
fn the_token_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.vdm");
    line().save(&path, Codec::Bincode).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--model"])
        .arg(&path)
        .arg("--token-file")
        .arg(&token)
        .args(["--port", "0", "--workers", "1", "--drain-ms", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = served_address(&mut stdout);
    let answer = request(&addr, "POST", "/predict", r#"{"input": [3, 1]}"#);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let mut stream = TcpStream::connect(&addr).unwrap();
    let body = r#"{"input": [3, 1]}"#;
    write!(
        stream,
        "POST /predict HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop(&mut child);
}

/// Starts `verdict serve` on the `line` model with `extra` arguments, at `info`, with stderr
/// captured; its address, the child and the kept-open stdout.
fn serve_logging(
    model: &std::path::Path,
    extra: &[&str],
) -> (
    String,
    std::process::Child,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--model"])
        .arg(model)
        .args(["--port", "0", "--workers", "1", "--drain-ms", "0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = served_address(&mut stdout);
    (addr, child, stdout)
}

/// Stops the server with SIGTERM; everything it wrote to stderr.
fn stop_and_read_stderr(mut child: std::process::Child) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success());
    stderr
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.vdm");
    line().save(&path, Codec::Bincode).unwrap();
    let (addr, child, _stdout) = serve_logging(&path, &["--log-format", "json"]);
    let answer = request(&addr, "POST", "/predict", r#"{"input": [3, 1]}"#);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let stderr = stop_and_read_stderr(child);

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    // The access line carries the request's fields at the top level, as collectors index them.
    let access = lines
        .iter()
        .find(|line| line["target"] == "verdict_serve::access")
        .unwrap_or_else(|| panic!("no access line in {stderr}"));
    assert_eq!(access["level"], "INFO", "{access}");
    assert_eq!(access["method"], "POST", "{access}");
    assert_eq!(access["path"], "/predict", "{access}");
    assert_eq!(access["status"], 200, "{access}");
    assert_eq!(access["model"], "line", "{access}");
    assert!(access["micros"].is_u64(), "{access}");
    assert!(access["timestamp"].is_string(), "{access}");
    // Messages too: the shutdown says so in a `message` field.
    assert!(
        lines.iter().any(|line| line["message"]
            .as_str()
            .is_some_and(|m| m.contains("draining"))),
        "{stderr}"
    );
}

#[test]
fn log_format_text_is_plain_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.vdm");
    line().save(&path, Codec::Bincode).unwrap();
    // `text` is the default; saying so must change nothing.
    for extra in [&[][..], &["--log-format", "text"][..]] {
        let (addr, child, _stdout) = serve_logging(&path, extra);
        let answer = request(&addr, "POST", "/predict", r#"{"input": [3, 1]}"#);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let stderr = stop_and_read_stderr(child);
        let access = stderr
            .lines()
            .find(|line| line.contains("verdict_serve::access"))
            .unwrap_or_else(|| panic!("no access line in {stderr}"));
        assert!(access.contains(" INFO "), "{access}");
        assert!(access.contains("path=/predict"), "{access}");
        assert!(access.contains("status=200"), "{access}");
        assert!(!stderr.contains('\u{1b}'), "colour codes in {stderr:?}");
        assert!(!access.starts_with('{'), "{access}");
    }
}

#[test]
fn log_format_rejects_unknown_formats() {
    let output = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--model", "m.vdm", "--log-format", "xml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("invalid value 'xml'"), "{message}");
    assert!(message.contains("text, json"), "{message}");
}
