//! `--log-requests`: one NDJSON line per prediction request, over HTTP and gRPC.

use serde_json::{Value, json};
use verdict_serve::RequestLogConfig;
use verdict_serve::grpc::proto;
use verdict_serve::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;

use crate::common::*;

/// The log's lines, once `count` are there: the writer thread works on its own time (bounded
/// wait: 5 s).
fn lines(path: &std::path::Path, count: usize) -> Vec<Value> {
    let mut text = String::new();
    for _ in 0..250 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= count {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn prediction_requests_are_logged_with_sampled_inputs_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    let log = dir.path().join("requests.ndjson");
    let mut server = TestServer::with_request_log(
        dir.path(),
        RequestLogConfig {
            path: Some(log.clone()),
            sample: 1.0,
        },
    );
    let (status, _) = post_json(
        &server.url("/predict"),
        &json!({"inputs": [[1, 2], [3, 4]]}),
    );
    assert_eq!(status, 200);
    let (status, _) = post_json(&server.url("/predict"), &json!({"inputs": [[1]]}));
    assert_eq!(status, 400);
    // Not a prediction: not logged.
    assert_eq!(get(&server.url("/v2/models/line")).0, 200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = server.grpc.unwrap();
    runtime.block_on(async {
        let mut client = GrpcInferenceServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let request = proto::ModelInferRequest {
            model_name: "line".into(),
            inputs: vec![proto::model_infer_request::InferInputTensor {
                name: "input".into(),
                datatype: "FP64".into(),
                shape: vec![1, 2],
                contents: Some(proto::InferTensorContents {
                    fp64_contents: vec![5.0, 1.0],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        client.model_infer(request).await.unwrap();
    });
    let (_, metrics) = get(&server.url("/metrics"));
    assert!(
        metrics.contains("verdict_request_log_dropped_total 0"),
        "{metrics}"
    );
    drop(runtime);
    server.stop();

    let lines = lines(&log, 3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let ok = &lines[0];
    assert_eq!(ok["route"], "/predict");
    assert_eq!(ok["protocol"], "simple");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["model"], "line");
    assert_eq!(ok["version"], "1");
    assert_eq!(ok["rows"], 2);
    assert_eq!(ok["inputs"], json!([[1.0, 2.0], [3.0, 4.0]]));
    assert_eq!(ok["outputs"], json!({"predict": [[1.0], [3.0]]}));
    assert!(ok["latency_us"].as_u64().is_some(), "{ok}");
    assert!(ok["time"].as_str().unwrap().ends_with('Z'), "{ok}");
    let bad = &lines[1];
    assert_eq!(bad["status"], 400);
    assert!(bad.get("rows").is_none(), "{bad}");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("expected 2 feature values"),
        "{bad}"
    );
    let grpc = &lines[2];
    assert_eq!(grpc["route"], "ModelInfer");
    assert_eq!(grpc["protocol"], "grpc");
    assert_eq!(grpc["rows"], 1);
    assert_eq!(
        grpc["outputs"],
        // The contributions of the two features and the bias add up to the margin.
        json!({"predict": [[10.0]], "raw": [[10.0]], "contribs": [[10.0, -1.0, 1.0]]})
    );
}
