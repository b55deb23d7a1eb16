//! Generates the gRPC server and client of the Open Inference Protocol from the vendored
//! `.proto` files in `proto/`.
//!
//! protox parses them in Rust, so the build needs neither `protoc` nor the network.

fn main() -> std::io::Result<()> {
    let protos = ["proto/grpc_service.proto", "proto/model_config.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"]).map_err(std::io::Error::other)?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Tensors travel as `bytes` fields; `Bytes` lets them be sliced without copying.
        .bytes(".inference.ModelInferRequest.raw_input_contents")
        .bytes(".inference.ModelInferResponse.raw_output_contents")
        // The shared-memory, trace and log RPCs are Triton features Verdict does not have;
        // their default answers are UNIMPLEMENTED.
        .generate_default_stubs(true)
        .compile_fds(descriptors)
}
