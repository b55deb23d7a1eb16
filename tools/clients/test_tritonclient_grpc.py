"""Drive a running `verdict serve --grpc-port` with the real tritonclient.grpc.

    python test_tritonclient_grpc.py ADDR     check the gRPC service at ADDR (host:port)

The server serves the models test_tritonclient.py writes; the expected answers are computed
by its functions, in plain Python, from the model files' definitions. Run through run.sh.
"""

import sys

from test_tritonclient import (
    IRIS_ROWS,
    PASSED,
    check,
    churn_expected,
    close,
    flat,
    iris_expected,
)


def check_grpc(addr):
    import numpy as np
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(url=addr)
    check("grpc server live", client.is_server_live())
    check("grpc server ready", client.is_server_ready())
    check("grpc model ready", client.is_model_ready("iris"))
    metadata = client.get_server_metadata(as_json=True)
    check("grpc server metadata", "model_repository" in metadata["extensions"], metadata)
    model_md = client.get_model_metadata("iris", as_json=True)
    check("grpc model metadata", model_md["inputs"][0]["shape"] == ["-1", "4"], model_md)
    check(
        "grpc model metadata outputs",
        [o["name"] for o in model_md["outputs"]] == ["predict", "predict_proba", "raw", "contribs"],
        model_md,
    )

    # numpy inputs of every float width, in raw_input_contents as tritonclient sends them.
    for dtype, triton_type in [(np.float64, "FP64"), (np.float32, "FP32"), (np.float16, "FP16")]:
        data = np.array(IRIS_ROWS, dtype=dtype)
        want_labels, want_proba, want_raw = iris_expected(data.astype(np.float64).tolist())
        inp = grpcclient.InferInput("input", list(data.shape), triton_type)
        inp.set_data_from_numpy(data)
        result = client.infer("iris", [inp], request_id="g-" + triton_type)
        got = [b.decode() for b in result.as_numpy("predict").tolist()]
        check(f"grpc iris {triton_type} labels", got == want_labels, (got, want_labels))
        proba = result.as_numpy("predict_proba")
        check(f"grpc iris {triton_type} proba shape", proba.shape == (len(IRIS_ROWS), 3), proba.shape)
        check(f"grpc iris {triton_type} proba", close(proba.ravel().tolist(), flat(want_proba)))
        check(f"grpc iris {triton_type} raw", result.as_numpy("raw").ravel().tolist() == flat(want_raw))
        check(f"grpc iris {triton_type} id", result.get_response().id == "g-" + triton_type)

    # One requested output.
    inp = grpcclient.InferInput("input", [len(IRIS_ROWS), 4], "FP64")
    inp.set_data_from_numpy(np.array(IRIS_ROWS))
    result = client.infer("iris", [inp], outputs=[grpcclient.InferRequestedOutput("raw")])
    check("grpc one requested output", [o.name for o in result.get_response().outputs] == ["raw"])
    check("grpc predict not sent", result.as_numpy("predict") is None)

    # One tensor per feature: INT32 and BYTES inputs, INT64 labels.
    xs = [1, 0, 1, 0]
    colors = ["blue", "red", "green", "mauve"]
    want_labels, want_proba = churn_expected(xs, colors)
    x = grpcclient.InferInput("x", [len(xs)], "INT32")
    x.set_data_from_numpy(np.array(xs, dtype=np.int32))
    color = grpcclient.InferInput("color", [len(colors)], "BYTES")
    color.set_data_from_numpy(np.array([c.encode() for c in colors], dtype=np.object_))
    result = client.infer("churn", [x, color])
    got = result.as_numpy("predict")
    check("grpc churn labels are INT64", got.dtype == np.int64, got.dtype)
    check("grpc churn labels", got.tolist() == want_labels, (got.tolist(), want_labels))
    check("grpc churn proba", close(result.as_numpy("predict_proba").ravel().tolist(), flat(want_proba)))

    # Errors: the HTTP message, with the matching gRPC code.
    def fails(name, call, code, text):
        try:
            call()
        except InferenceServerException as error:
            check(name, error.status() == code and text in error.message(), (error.status(), error.message()))
            return
        check(name, False, "no exception")

    fails("grpc unknown model", lambda: client.infer("nope", [inp]), "StatusCode.NOT_FOUND", "unknown model `nope`")
    bad = grpcclient.InferInput("input", [1, 3], "FP64")
    bad.set_data_from_numpy(np.array([[1.0, 2.0, 3.0]]))
    fails("grpc wrong shape", lambda: client.infer("iris", [bad]), "StatusCode.INVALID_ARGUMENT", "takes [rows, 4]")

    # The repository extension.
    index = client.get_model_repository_index(as_json=True)["models"]
    check(
        "grpc repository index",
        [(m["name"], m["state"]) for m in index] == [("churn", "READY"), ("iris", "READY")],
        index,
    )
    client.unload_model("churn")
    check("grpc unloaded model not ready", not client.is_model_ready("churn"))
    ready = client.get_model_repository_index(as_json=True)["models"]
    unloaded = [m for m in ready if m["name"] == "churn"]
    check("grpc index shows the unload", unloaded and unloaded[0]["state"] == "UNAVAILABLE", ready)
    fails("grpc infer on an unloaded model", lambda: client.infer("churn", [x, color]), "StatusCode.UNAVAILABLE", "unloaded")
    client.load_model("churn")
    check("grpc loaded model ready", client.is_model_ready("churn"))
    result = client.infer("churn", [x, color])
    check("grpc churn after reload", result.as_numpy("predict").tolist() == want_labels)
    fails("grpc load of an unknown model", lambda: client.load_model("nope"), "StatusCode.NOT_FOUND", "nope")
    print(f"{len(PASSED)} passed, 0 failed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    check_grpc(sys.argv[1])
