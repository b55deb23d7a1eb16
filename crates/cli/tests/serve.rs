//! `verdict serve` as a process: it prints its URL and models, answers, and stops cleanly on
//! SIGTERM.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use verdict_model::family::Family;
use verdict_model::family::linear::{LinearMissing, LinearModel};
use verdict_model::family::link::{Link, Precision};
use verdict_model::{Codec, Feature, ModelFile, ModelInfo, NativeModel, Signature, Task};

/// `y = 1 + 2a - b`.
fn line() -> ModelFile {
    let family = Family::Linear(LinearModel {
        num_features: 2,
        coefficients: vec![2.0, -1.0],
        intercepts: vec![1.0],
        precision: Precision::Double,
        missing: LinearMissing::Propagate,
        link: Link::Identity,
    });
    let signature = Signature::new(
        vec![Feature::numeric("a"), Feature::numeric("b")],
        Task::Regression,
    );
    ModelFile {
        info: ModelInfo::new("line", "verdict", "test"),
        model: NativeModel::new(signature, family).unwrap(),
    }
}

/// One HTTP/1.1 request on a fresh connection; the whole answer as text.
fn request(addr: &str, method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

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

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
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
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .strip_prefix("verdict serving on http://")
        .and_then(|rest| rest.trim_end().strip_suffix('/'))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();

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

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}
