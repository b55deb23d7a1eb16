//! The Open Inference Protocol over gRPC, with the generated tonic client on a real loopback
//! port beside the HTTP one.

use ndarray::{Array2, array};
use tonic::Code;
use tonic::transport::Channel;
use verdict_model::{Model, Output};
use verdict_serve::Options;
use verdict_serve::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use verdict_serve::grpc::proto::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use verdict_serve::grpc::proto::{self, InferTensorContents};

use crate::common::*;

/// A server with `models` over HTTP and gRPC, a runtime for the client, and the client.
struct Grpc {
    server: TestServer,
    runtime: tokio::runtime::Runtime,
    client: GrpcInferenceServiceClient<Channel>,
    _dir: tempfile::TempDir,
}

impl Grpc {
    fn serve(models: &[(&str, verdict_model::ModelFile)], options: Options) -> Grpc {
        let dir = tempfile::tempdir().unwrap();
        for (name, model) in models {
            save(model, dir.path(), name);
        }
        let server = TestServer::with_grpc(dir.path(), options);
        let addr = server.grpc.expect("the server has a gRPC port");
        // A thread of its own drives the client's connection, so it answers the server's
        // GOAWAY at shutdown while the test thread waits in `stop`.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let client = runtime
            .block_on(GrpcInferenceServiceClient::connect(format!(
                "http://{addr}"
            )))
            .unwrap();
        Grpc {
            server,
            runtime,
            client,
            _dir: dir,
        }
    }

    fn infer(
        &mut self,
        request: proto::ModelInferRequest,
    ) -> Result<proto::ModelInferResponse, tonic::Status> {
        let mut client = self.client.clone();
        self.runtime
            .block_on(client.model_infer(request))
            .map(tonic::Response::into_inner)
    }
}

/// One `[rows, columns]` input tensor named `input`, sent as raw bytes.
fn raw_request(model: &str, datatype: &str, rows: &Array2<f64>) -> proto::ModelInferRequest {
    let mut raw = Vec::new();
    for &value in rows {
        match datatype {
            "FP32" => raw.extend_from_slice(&(value as f32).to_le_bytes()),
            "FP64" => raw.extend_from_slice(&value.to_le_bytes()),
            other => panic!("no raw encoding for {other} here"),
        }
    }
    proto::ModelInferRequest {
        model_name: model.to_owned(),
        inputs: vec![InferInputTensor {
            name: "input".to_owned(),
            datatype: datatype.to_owned(),
            shape: vec![rows.nrows() as i64, rows.ncols() as i64],
            ..InferInputTensor::default()
        }],
        raw_input_contents: vec![raw.into()],
        ..proto::ModelInferRequest::default()
    }
}

fn f64s(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Length-prefixed BYTES elements.
fn texts(mut bytes: &[u8]) -> Vec<String> {
    let mut texts = Vec::new();
    while let Some((length, rest)) = bytes.split_first_chunk::<4>() {
        let (text, rest) = rest.split_at(u32::from_le_bytes(*length) as usize);
        texts.push(String::from_utf8(text.to_vec()).unwrap());
        bytes = rest;
    }
    texts
}

/// The output named `name` and its raw bytes.
fn output<'a>(
    response: &'a proto::ModelInferResponse,
    name: &str,
) -> (&'a proto::model_infer_response::InferOutputTensor, &'a [u8]) {
    let i = response
        .outputs
        .iter()
        .position(|o| o.name == name)
        .unwrap_or_else(|| panic!("no output {name} in {response:?}"));
    (&response.outputs[i], &response.raw_output_contents[i])
}

#[test]
fn health_and_metadata() {
    let mut grpc = Grpc::serve(&[("iris", iris()), ("line", line(1.0))], Options::default());
    let mut client = grpc.client.clone();
    let rt = &grpc.runtime;
    let live = rt
        .block_on(client.server_live(proto::ServerLiveRequest {}))
        .unwrap();
    assert!(live.get_ref().live);
    let ready = rt
        .block_on(client.server_ready(proto::ServerReadyRequest {}))
        .unwrap();
    assert!(ready.get_ref().ready);
    let model_ready = rt
        .block_on(client.model_ready(proto::ModelReadyRequest {
            name: "iris".into(),
            version: String::new(),
        }))
        .unwrap();
    assert!(model_ready.get_ref().ready);
    let unknown = rt
        .block_on(client.model_ready(proto::ModelReadyRequest {
            name: "nope".into(),
            version: String::new(),
        }))
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(unknown.message().contains("iris, line"), "{unknown:?}");

    let server = rt
        .block_on(client.server_metadata(proto::ServerMetadataRequest {}))
        .unwrap()
        .into_inner();
    assert_eq!(server.name, "verdict");
    assert!(server.extensions.contains(&"model_repository".to_owned()));

    let metadata = rt
        .block_on(client.model_metadata(proto::ModelMetadataRequest {
            name: "iris".into(),
            version: "1".into(),
        }))
        .unwrap()
        .into_inner();
    assert_eq!(metadata.name, "iris");
    assert_eq!(metadata.versions, vec!["1".to_owned()]);
    assert_eq!(metadata.inputs.len(), 1);
    assert_eq!(metadata.inputs[0].datatype, "FP64");
    assert_eq!(metadata.inputs[0].shape, vec![-1, 4]);
    let outputs: Vec<(&str, &str, &[i64])> = metadata
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.datatype.as_str(), o.shape.as_slice()))
        .collect();
    assert_eq!(
        outputs,
        vec![
            ("predict", "BYTES", &[-1][..]),
            ("predict_proba", "FP64", &[-1, 3][..]),
            ("raw", "FP64", &[-1, 3][..]),
            // Three classes, four features and the bias.
            ("contribs", "FP64", &[-1, 3, 5][..]),
        ]
    );
    let version = rt
        .block_on(client.model_metadata(proto::ModelMetadataRequest {
            name: "iris".into(),
            version: "7".into(),
        }))
        .unwrap_err();
    assert_eq!(version.code(), Code::NotFound);

    // Unimplemented parts of Triton's service say so.
    let stats = rt
        .block_on(client.model_statistics(proto::ModelStatisticsRequest::default()))
        .unwrap_err();
    assert_eq!(stats.code(), Code::Unimplemented);
    grpc.server.stop();
}

#[test]
fn raw_fp32_and_fp64_inputs_equal_model_predict() {
    let model = iris();
    let mut grpc = Grpc::serve(&[("iris", iris())], Options::default());
    let rows = iris_rows();

    let response = grpc.infer(raw_request("iris", "FP64", &rows)).unwrap();
    assert_eq!(response.model_name, "iris");
    assert_eq!(response.model_version, "1");
    let (tensor, raw) = output(&response, "predict_proba");
    assert_eq!(tensor.datatype, "FP64");
    assert_eq!(tensor.shape, vec![4, 3]);
    let want = expected(&model, &rows, Output::PredictProba);
    assert_eq!(f64s(raw), want.iter().copied().collect::<Vec<_>>());
    let (tensor, raw) = output(&response, "predict");
    assert_eq!(
        (tensor.datatype.as_str(), tensor.shape.as_slice()),
        ("BYTES", &[4][..])
    );
    assert_eq!(
        texts(raw),
        vec!["setosa", "versicolor", "virginica", "virginica"]
    );

    // FP32 inputs are the f32 values the client sent.
    let rounded = rows.mapv(|v| f64::from(v as f32));
    let mut request = raw_request("iris", "FP32", &rows);
    request.outputs = vec![InferRequestedOutputTensor {
        name: "raw".into(),
        ..InferRequestedOutputTensor::default()
    }];
    request.id = "req-7".into();
    let response = grpc.infer(request).unwrap();
    assert_eq!(response.id, "req-7");
    assert_eq!(response.outputs.len(), 1);
    let (_, raw) = output(&response, "raw");
    let want = expected(&model, &rounded, Output::Raw);
    assert_eq!(f64s(raw), want.iter().copied().collect::<Vec<_>>());
    assert_ne!(
        f64s(raw),
        expected(&model, &rows, Output::Raw)
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        "the f32 rounding must be visible in the raw margins"
    );
    grpc.server.stop();
}

#[test]
fn typed_contents_and_one_tensor_per_feature() {
    let model = churn();
    let mut grpc = Grpc::serve(&[("churn", churn())], Options::default());
    let request = proto::ModelInferRequest {
        model_name: "churn".into(),
        inputs: vec![
            InferInputTensor {
                name: "color".into(),
                datatype: "BYTES".into(),
                shape: vec![3],
                contents: Some(InferTensorContents {
                    bytes_contents: vec![b"blue".to_vec(), b"red".to_vec(), b"green".to_vec()],
                    ..InferTensorContents::default()
                }),
                ..InferInputTensor::default()
            },
            InferInputTensor {
                name: "x".into(),
                datatype: "INT32".into(),
                shape: vec![3, 1],
                contents: Some(InferTensorContents {
                    int_contents: vec![0, 1, 1],
                    ..InferTensorContents::default()
                }),
                ..InferInputTensor::default()
            },
        ],
        ..proto::ModelInferRequest::default()
    };
    let response = grpc.infer(request).unwrap();
    let features = array![[0.0, 2.0], [1.0, 0.0], [1.0, 1.0]];
    let (tensor, raw) = output(&response, "predict");
    assert_eq!(tensor.datatype, "INT64");
    let labels: Vec<i64> = raw
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let want: Vec<i64> = expected(&model, &features, Output::Predict)
        .iter()
        .map(|&index| match model.model.signature().class_label(index) {
            Some(verdict_model::ClassLabel::Int(label)) => *label,
            other => panic!("integer label expected, got {other:?}"),
        })
        .collect();
    assert_eq!(labels, want);
    let (_, raw) = output(&response, "predict_proba");
    assert_eq!(
        f64s(raw),
        expected(&model, &features, Output::PredictProba)
            .iter()
            .copied()
            .collect::<Vec<_>>()
    );

    // FP64 in its typed field.
    let response = grpc
        .infer(proto::ModelInferRequest {
            model_name: "churn".into(),
            inputs: vec![
                InferInputTensor {
                    name: "x".into(),
                    datatype: "FP64".into(),
                    shape: vec![1],
                    contents: Some(InferTensorContents {
                        fp64_contents: vec![0.9],
                        ..InferTensorContents::default()
                    }),
                    ..InferInputTensor::default()
                },
                InferInputTensor {
                    name: "color".into(),
                    datatype: "FP64".into(),
                    shape: vec![1],
                    contents: Some(InferTensorContents {
                        fp64_contents: vec![2.0],
                        ..InferTensorContents::default()
                    }),
                    ..InferInputTensor::default()
                },
            ],
            ..proto::ModelInferRequest::default()
        })
        .unwrap();
    let (_, raw) = output(&response, "predict_proba");
    assert_eq!(
        f64s(raw),
        expected(&model, &array![[0.9, 2.0]], Output::PredictProba)
            .iter()
            .copied()
            .collect::<Vec<_>>()
    );
    grpc.server.stop();
}

#[test]
fn bad_requests_get_the_matching_codes_and_messages() {
    let options = Options {
        max_rows: 3,
        ..Options::default()
    };
    let mut grpc = Grpc::serve(&[("iris", iris())], options);
    let rows = iris_rows();
    let check =
        |result: Result<proto::ModelInferResponse, tonic::Status>, code: Code, message: &str| {
            let status = result.expect_err("the request must fail");
            assert_eq!(status.code(), code, "{status:?}");
            assert!(status.message().contains(message), "{status:?}");
        };

    let mut request = raw_request("iris", "FP64", &rows.slice(ndarray::s![..2, ..]).to_owned());
    request.inputs[0].shape = vec![2, 3];
    check(
        grpc.infer(request),
        Code::InvalidArgument,
        "shape [2, 3] holds 6 elements but 8 were sent",
    );
    check(
        grpc.infer(raw_request("iris", "FP64", &rows)),
        Code::ResourceExhausted,
        "the request has 4 rows, over the limit of 3",
    );
    check(
        grpc.infer(raw_request("nope", "FP64", &rows)),
        Code::NotFound,
        "unknown model `nope`",
    );
    let mut request = raw_request("iris", "FP64", &rows.slice(ndarray::s![..1, ..]).to_owned());
    request.inputs[0].datatype = "FP128".into();
    check(
        grpc.infer(request),
        Code::InvalidArgument,
        "unknown datatype `FP128`",
    );
    let mut request = raw_request("iris", "FP64", &rows.slice(ndarray::s![..1, ..]).to_owned());
    request.raw_input_contents.push(vec![0u8; 8].into());
    check(
        grpc.infer(request),
        Code::InvalidArgument,
        "has 2 entries for 1 inputs",
    );
    let mut request = raw_request("iris", "FP64", &rows.slice(ndarray::s![..1, ..]).to_owned());
    request.outputs = vec![InferRequestedOutputTensor {
        name: "nonsense".into(),
        ..InferRequestedOutputTensor::default()
    }];
    check(grpc.infer(request), Code::InvalidArgument, "outputs[0]");
    let request = proto::ModelInferRequest {
        model_name: "iris".into(),
        inputs: vec![InferInputTensor {
            name: "input".into(),
            datatype: "FP32".into(),
            shape: vec![1, 4],
            ..InferInputTensor::default()
        }],
        ..proto::ModelInferRequest::default()
    };
    check(
        grpc.infer(request),
        Code::InvalidArgument,
        "has no `contents`",
    );
    grpc.server.stop();
}

#[test]
fn the_token_is_read_from_the_authorization_metadata() {
    let options = Options {
        token: Some("s3cret".into()),
        ..Options::default()
    };
    let mut grpc = Grpc::serve(&[("iris", iris())], options);
    let rows = iris_rows();
    let status = grpc.infer(raw_request("iris", "FP64", &rows)).unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut client = grpc.client.clone();
    let mut wrong = tonic::Request::new(raw_request("iris", "FP64", &rows));
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer s3creT".parse().unwrap());
    let status = grpc
        .runtime
        .block_on(client.model_infer(wrong))
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut right = tonic::Request::new(raw_request("iris", "FP64", &rows));
    right
        .metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    let response = grpc.runtime.block_on(client.model_infer(right)).unwrap();
    // Every output of the model: predict, predict_proba, raw and contribs.
    assert_eq!(response.get_ref().outputs.len(), 4);

    // Health checks need no token, as on HTTP.
    let live = grpc
        .runtime
        .block_on(client.server_live(proto::ServerLiveRequest {}))
        .unwrap();
    assert!(live.get_ref().live);
    grpc.server.stop();
}

#[test]
fn repository_extension_and_metrics_are_shared_with_http() {
    let mut grpc = Grpc::serve(&[("iris", iris()), ("line", line(1.0))], Options::default());
    let mut client = grpc.client.clone();
    let rt = &grpc.runtime;
    let index = |client: &mut GrpcInferenceServiceClient<Channel>, ready: bool| {
        rt.block_on(client.repository_index(proto::RepositoryIndexRequest {
            repository_name: String::new(),
            ready,
        }))
        .unwrap()
        .into_inner()
        .models
        .into_iter()
        .map(|m| (m.name, m.version, m.state, m.reason))
        .collect::<Vec<_>>()
    };
    let ready = |name: &str| {
        (
            name.to_owned(),
            "1".to_owned(),
            "READY".to_owned(),
            String::new(),
        )
    };
    assert_eq!(
        index(&mut client, false),
        vec![ready("iris"), ready("line")]
    );

    rt.block_on(
        client.repository_model_unload(proto::RepositoryModelUnloadRequest {
            model_name: "line".into(),
            ..Default::default()
        }),
    )
    .unwrap();
    assert_eq!(index(&mut client, true), vec![ready("iris")]);
    let not_ready = rt
        .block_on(client.model_ready(proto::ModelReadyRequest {
            name: "line".into(),
            version: String::new(),
        }))
        .unwrap();
    assert!(!not_ready.get_ref().ready);
    // The HTTP routes see the same repository.
    assert_eq!(get(&grpc.server.url("/v2/models/line/ready")).0, 400);
    let unavailable = rt
        .block_on(client.model_infer(proto::ModelInferRequest {
            model_name: "line".into(),
            ..raw_request("line", "FP64", &array![[1.0, 2.0]])
        }))
        .unwrap_err();
    assert_eq!(unavailable.code(), Code::Unavailable);

    rt.block_on(
        client.repository_model_load(proto::RepositoryModelLoadRequest {
            model_name: "line".into(),
            ..Default::default()
        }),
    )
    .unwrap();
    let response = rt
        .block_on(client.model_infer(raw_request("line", "FP64", &array![[1.0, 2.0]])))
        .unwrap()
        .into_inner();
    let (_, raw) = output(&response, "predict");
    assert_eq!(f64s(raw), vec![1.0 + 2.0 - 2.0]);
    let missing = rt
        .block_on(
            client.repository_model_load(proto::RepositoryModelLoadRequest {
                model_name: "nope".into(),
                ..Default::default()
            }),
        )
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let (status, metrics) = get(&grpc.server.url("/metrics"));
    assert_eq!(status, 200);
    // Unload, ready, load and infer name `line`; the failed infer resolved no model, so it
    // has no model label (as on HTTP).
    assert!(
        metrics.contains(r#"verdict_requests_total{model="line",protocol="grpc",status="200"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"verdict_requests_total{model="",protocol="grpc",status="503"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"verdict_rows_predicted_total{model="line"} 1"#),
        "{metrics}"
    );
    grpc.server.stop();
}
