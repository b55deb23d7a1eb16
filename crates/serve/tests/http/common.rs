//! Test models built from the native families, and a real server on a loopback port.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use ndarray::{Array2, array};
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use verdict_model::family::Family;
use verdict_model::family::linear::{LinearMissing, LinearModel};
use verdict_model::family::link::{Link, Precision};
use verdict_model::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble};
use verdict_model::{
    ClassLabel, Codec, Feature, Model, ModelFile, ModelInfo, NativeModel, Output, Signature, Task,
};
use verdict_serve::{Options, Repository, Server, ServerConfig, Source, StopHandle};

/// `y = intercept + 2a - b`: a regressor whose intercept tells versions apart.
pub(crate) fn line(intercept: f64) -> ModelFile {
    let family = Family::Linear(LinearModel {
        num_features: 2,
        coefficients: vec![2.0, -1.0],
        intercepts: vec![intercept],
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

/// A three-class softmax classifier over four measurements, with text labels.
pub(crate) fn iris() -> ModelFile {
    let family = Family::Linear(LinearModel {
        num_features: 4,
        coefficients: vec![
            0.4, 1.3, -2.2, -1.0, //
            0.5, -0.3, 0.2, -0.9, //
            -0.9, -1.0, 2.0, 1.9,
        ],
        intercepts: vec![0.2, 1.1, -1.3],
        precision: Precision::Double,
        missing: LinearMissing::Propagate,
        link: Link::Softmax,
    });
    let signature = Signature::new(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"]
            .into_iter()
            .map(Feature::numeric)
            .collect(),
        Task::Classification {
            classes: ["setosa", "versicolor", "virginica"]
                .into_iter()
                .map(|c| ClassLabel::Text(c.to_owned()))
                .collect(),
        },
    );
    ModelFile {
        info: ModelInfo::new("iris", "verdict", "test"),
        model: NativeModel::new(signature, family).unwrap(),
    }
}

/// A binary classifier with integer labels 0 and 1 over a numeric feature `x` and a
/// categorical feature `color` (red, green, blue): blue pushes towards 1, and so does a
/// large `x`.
pub(crate) fn churn() -> ModelFile {
    let color = Tree {
        output: 0,
        nodes: vec![
            Node::Categorical {
                feature: 1,
                words_start: 0,
                words_len: 1,
                set_goes_left: true,
                default_left: false,
                left: 1,
                right: 2,
            },
            Node::Leaf { leaf: 0 },
            Node::Leaf { leaf: 1 },
        ],
        leaf_values: vec![1.5, -0.5],
        // Code 2 (blue) is in the set.
        category_words: vec![0b100],
        linear: None,
    };
    let size = Tree {
        output: 0,
        nodes: vec![
            Node::Numeric {
                feature: 0,
                threshold: 0.5,
                missing: Missing::Nan,
                default_left: true,
                left: 1,
                right: 2,
            },
            Node::Leaf { leaf: 0 },
            Node::Leaf { leaf: 1 },
        ],
        leaf_values: vec![-1.0, 0.75],
        category_words: vec![],
        linear: None,
    };
    let family = Family::Trees(TreeEnsemble {
        num_features: 2,
        split_rule: SplitRule::LessEqualF64,
        precision: Precision::Double,
        leaf_width: 1,
        base_score: vec![0.1],
        aggregation: Aggregation::Sum,
        link: Link::Sigmoid { scale: 1.0 },
        trees: vec![color, size],
    });
    let signature = Signature::new(
        vec![
            Feature::numeric("x"),
            Feature::categorical("color", vec!["red".into(), "green".into(), "blue".into()]),
        ],
        Task::Classification {
            classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
        },
    );
    ModelFile {
        info: ModelInfo::new("churn", "verdict", "test"),
        model: NativeModel::new(signature, family).unwrap(),
    }
}

/// Some iris-like rows.
pub(crate) fn iris_rows() -> Array2<f64> {
    array![
        [5.1, 3.5, 1.4, 0.2],
        [6.2, 2.9, 4.3, 1.3],
        [7.7, 3.0, 6.1, 2.3],
        [5.9, 3.0, 5.1, 1.8],
    ]
}

/// What `Model::predict` gives, for comparisons.
pub(crate) fn expected(file: &ModelFile, rows: &Array2<f64>, output: Output) -> Array2<f64> {
    file.model.predict(rows.view(), output).unwrap()
}

/// Writes `file` into `dir` as `name.vdm`.
pub(crate) fn save(file: &ModelFile, dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.vdm"));
    file.save(&path, Codec::Bincode).unwrap();
    path
}

/// A server on an ephemeral loopback port, stopped when dropped.
pub(crate) struct TestServer {
    pub(crate) base: String,
    pub(crate) handle: StopHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `sources` with `options`, polling files every `poll` (if given).
    pub(crate) fn start(
        sources: Vec<Source>,
        options: Options,
        poll: Option<Duration>,
    ) -> TestServer {
        let repository = Arc::new(Repository::open(sources).unwrap());
        TestServer::with_repository(repository, options, poll)
    }

    /// Serves the models of one directory with `options`, without polling.
    pub(crate) fn serving(dir: &Path, options: Options) -> TestServer {
        TestServer::start(vec![Source::Dir(dir.into())], options, None)
    }

    /// Serves an existing repository.
    pub(crate) fn with_repository(
        repository: Arc<Repository>,
        options: Options,
        poll: Option<Duration>,
    ) -> TestServer {
        let config = ServerConfig {
            port: 0,
            workers: Some(2),
            options,
            poll_interval: poll,
            shutdown_timeout: Duration::from_secs(10),
            drain: Duration::from_millis(300),
            ..ServerConfig::default()
        };
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = Server::bind(repository, config)?;
                tx.send((server.addrs()[0], server.handle())).unwrap();
                server.run().await
            })
        });
        let (addr, handle) = rx.recv().expect("the server did not start");
        TestServer {
            base: format!("http://{addr}"),
            handle,
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server, letting running requests finish, and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let handle = self.handle.clone();
            actix_web::rt::System::new().block_on(handle.stop(true));
            thread.join().unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let handle = self.handle.clone();
            actix_web::rt::System::new().block_on(handle.stop(false));
            let _ = thread.join();
        }
    }
}

pub(crate) fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POSTs JSON and returns the status and the parsed body.
pub(crate) fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let response = client().post(url).json(body).send().unwrap();
    status_json(response)
}

/// POSTs raw bytes and returns the status and the parsed body.
pub(crate) fn post_raw(url: &str, body: impl Into<reqwest::blocking::Body>) -> (u16, Value) {
    let response = client().post(url).body(body).send().unwrap();
    status_json(response)
}

pub(crate) fn get(url: &str) -> (u16, String) {
    let response = client().get(url).send().unwrap();
    let status = response.status().as_u16();
    (status, response.text().unwrap())
}

pub(crate) fn status_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text:?}"));
    (status, body)
}

/// The `error` message of a `{"error": ...}` body.
pub(crate) fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field in {body}"))
}

/// A column of an array as JSON numbers.
pub(crate) fn numbers(values: &Value) -> Vec<f64> {
    values
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {values}"))
        .iter()
        .map(|v| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")))
        .collect()
}
