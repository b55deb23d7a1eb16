//! What the tests of `verdict serve` share: a small model, a server's address, a plain
//! HTTP/1.1 request and a clean stop.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command};

use verdict_model::family::Family;
use verdict_model::family::linear::{LinearMissing, LinearModel};
use verdict_model::family::link::{Link, Precision};
use verdict_model::{Feature, ModelFile, ModelInfo, NativeModel, Signature, Task};

/// `y = 1 + 2a - b`, named `line`.
pub(crate) fn line() -> ModelFile {
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

/// The address (`127.0.0.1:PORT`) a starting server prints on its first line of stdout.
///
/// Keep `stdout` open until the end: the server prints a line per model after its URL, and a
/// closed pipe would fail that print.
pub(crate) fn served_address(stdout: &mut BufReader<ChildStdout>) -> String {
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    first
        .strip_prefix("verdict serving on http://")
        .and_then(|rest| rest.trim_end().strip_suffix('/'))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned()
}

/// One HTTP/1.1 request on a fresh connection, with `headers` (each ending in `\r\n`) added;
/// the whole answer as text.
pub(crate) fn request_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// One HTTP/1.1 request on a fresh connection; the whole answer as text.
pub(crate) fn request(addr: &str, method: &str, path: &str, body: &str) -> String {
    request_with(addr, method, path, "", body)
}

/// Sends SIGTERM; the server must exit with success.
pub(crate) fn stop(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}
