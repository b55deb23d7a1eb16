"""Drive a running `verdict serve` with the real clients people use.

    python test_tritonclient.py write DIR      write the test models (Verdict JSON files) into DIR
    python test_tritonclient.py check URL      check the server at URL (host:port) serving DIR

The models are written here, in Verdict's JSON model format, so their answers can be computed
independently in plain Python: a softmax classifier with text labels ("iris") and a boosted
tree ensemble with a categorical feature and integer labels ("churn"). The checks use
tritonclient.http (binary tensors, as it sends by default, and JSON), and requests for the
MLflow and simple protocols. Run through run.sh, which builds the server and the venv.
"""

import json
import math
import os
import sys
import zlib

IRIS_W = [
    [0.4, 1.3, -2.2, -1.0],
    [0.5, -0.3, 0.2, -0.9],
    [-0.9, -1.0, 2.0, 1.9],
]
IRIS_B = [0.2, 1.1, -1.3]
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_ROWS = [
    [5.1, 3.5, 1.4, 0.2],
    [6.2, 2.9, 4.3, 1.3],
    [7.7, 3.0, 6.1, 2.3],
    [5.9, 3.0, 5.1, 1.8],
    [4.9, 2.4, 3.3, 1.0],
]
COLORS = ["red", "green", "blue"]


def write_model(path, name, signature, family):
    """A Verdict model file with the JSON codec: header line, metadata, newline, payload."""
    metadata = json.dumps(
        {
            "name": name,
            "version": "1",
            "description": "written by tools/clients/test_tritonclient.py",
            "created": "2026-01-01T00:00:00Z",
            "source": {"library": "verdict", "library_version": "test"},
            "signature": signature,
        }
    ).encode()
    payload = json.dumps(family).encode()
    body = metadata + b"\n" + payload
    header = "VERDICT 1 json %d %d %08x\n" % (len(metadata), len(payload), zlib.crc32(body))
    with open(path, "wb") as f:
        f.write(header.encode() + body)


def write(directory):
    os.makedirs(directory, exist_ok=True)
    write_model(
        os.path.join(directory, "iris.vdm"),
        "iris",
        {
            "features": [{"name": n, "kind": "numeric"} for n in IRIS_FEATURES],
            "task": {"classification": {"classes": [{"text": c} for c in IRIS_CLASSES]}},
            "raw_width": 3,
            "positional": False,
        },
        {
            "linear": {
                "num_features": 4,
                "coefficients": [w for row in IRIS_W for w in row],
                "intercepts": IRIS_B,
                "precision": "double",
                "missing": "propagate",
                "link": "softmax",
            }
        },
    )
    leaf = lambda i: {"leaf": {"leaf": i}}
    write_model(
        os.path.join(directory, "churn.vdm"),
        "churn",
        {
            "features": [
                {"name": "x", "kind": "numeric"},
                {"name": "color", "kind": {"categorical": {"categories": COLORS}}},
            ],
            "task": {"classification": {"classes": [{"int": 0}, {"int": 1}]}},
            "raw_width": 1,
            "positional": False,
        },
        {
            "trees": {
                "num_features": 2,
                "split_rule": "less_equal_f64",
                "precision": "double",
                "leaf_width": 1,
                "base_score": [0.1],
                "aggregation": "sum",
                "link": {"sigmoid": {"scale": 1.0}},
                "trees": [
                    {
                        "output": 0,
                        "nodes": [
                            {"categorical": {"feature": 1, "words_start": 0, "words_len": 1,
                                             "set_goes_left": True, "default_left": False,
                                             "left": 1, "right": 2}},
                            leaf(0),
                            leaf(1),
                        ],
                        "leaf_values": [1.5, -0.5],
                        "category_words": [4],
                        "linear": None,
                    },
                    {
                        "output": 0,
                        "nodes": [
                            {"numeric": {"feature": 0, "threshold": 0.5, "missing": "nan",
                                         "default_left": True, "left": 1, "right": 2}},
                            leaf(0),
                            leaf(1),
                        ],
                        "leaf_values": [-1.0, 0.75],
                        "category_words": [],
                        "linear": None,
                    },
                ],
            }
        },
    )


# ---- the answers, computed the way the model files define them --------------------------


def iris_expected(rows):
    """Margins summed in feature order in f64, then a max-shifted softmax."""
    labels, proba, raw = [], [], []
    for row in rows:
        margins = []
        for w, b in zip(IRIS_W, IRIS_B):
            total = b
            for wi, xi in zip(w, row):
                total += wi * xi
            margins.append(total)
        top = max(margins)
        exps = [math.exp(m - top) for m in margins]
        s = sum(exps)
        raw.append(margins)
        proba.append([e / s for e in exps])
        labels.append(IRIS_CLASSES[margins.index(top)])
    return labels, proba, raw


def churn_expected(xs, colors):
    labels, proba = [], []
    for x, color in zip(xs, colors):
        margin = 0.1 + (1.5 if color == "blue" else -0.5) + (-1.0 if x <= 0.5 else 0.75)
        p = 1.0 / (1.0 + math.exp(-margin))
        labels.append(int(p > 0.5))
        proba.append([1.0 - p, p])
    return labels, proba


PASSED = []


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED: {name} {detail}")
        print(f"{len(PASSED)} passed, 1 failed")
        sys.exit(1)
    PASSED.append(name)
    print(f"ok: {name}")


def close(a, b, rel=1e-12):
    return all(abs(x - y) <= rel * max(abs(x), abs(y), 1e-300) for x, y in zip(a, b)) and len(a) == len(b)


def flat(rows):
    return [v for row in rows for v in row]


def check_server(url):
    import numpy as np
    import requests
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(url=url)
    check("server live", client.is_server_live())
    check("server ready", client.is_server_ready())
    check("model ready", client.is_model_ready("iris"))
    check("unknown model not ready", not client.is_model_ready("nope"))
    metadata = client.get_server_metadata()
    check("server metadata", "binary_tensor_data" in metadata["extensions"], metadata)
    model_md = client.get_model_metadata("iris")
    check("model metadata", model_md["inputs"][0]["shape"] == [-1, 4], model_md)

    labels, proba, raw = iris_expected(IRIS_ROWS)
    for dtype, triton_type in [(np.float64, "FP64"), (np.float32, "FP32")]:
        data = np.array(IRIS_ROWS, dtype=dtype)
        seen = data.astype(np.float64).tolist()
        want_labels, want_proba, want_raw = iris_expected(seen)
        for binary in (True, False):
            inp = httpclient.InferInput("input", list(data.shape), triton_type)
            inp.set_data_from_numpy(data, binary_data=binary)
            # No requested outputs: tritonclient asks for every output in binary.
            result = client.infer("iris", [inp], request_id="r-%s" % triton_type)
            got = [b.decode() for b in result.as_numpy("predict").tolist()]
            mode = "binary" if binary else "JSON"
            check(f"iris {triton_type} {mode} labels", got == want_labels, (got, want_labels))
            got_proba = result.as_numpy("predict_proba")
            check(f"iris {triton_type} {mode} proba shape", got_proba.shape == (len(IRIS_ROWS), 3))
            check(f"iris {triton_type} {mode} proba", close(got_proba.ravel().tolist(), flat(want_proba)))
            check(f"iris {triton_type} {mode} raw", result.as_numpy("raw").ravel().tolist() == flat(want_raw))
            check(f"iris {triton_type} {mode} id", result.get_response()["id"] == "r-%s" % triton_type)

    # JSON outputs on request, and one output only.
    inp = httpclient.InferInput("input", [len(IRIS_ROWS), 4], "FP64")
    inp.set_data_from_numpy(np.array(IRIS_ROWS), binary_data=False)
    outputs = [httpclient.InferRequestedOutput("predict_proba", binary_data=False)]
    result = client.infer("iris", [inp], outputs=outputs)
    response = result.get_response()
    check("requested JSON output", [o["name"] for o in response["outputs"]] == ["predict_proba"])
    check("requested JSON output data", close(response["outputs"][0]["data"], flat(proba)))

    # One tensor per feature, categories as BYTES.
    xs = [0.7, 0.2, 0.9, 0.4]
    colors = ["blue", "red", "green", "mauve"]
    want_labels, want_proba = churn_expected(xs, colors)
    for binary in (True, False):
        x = httpclient.InferInput("x", [len(xs)], "FP64")
        x.set_data_from_numpy(np.array(xs), binary_data=binary)
        color = httpclient.InferInput("color", [len(colors)], "BYTES")
        color.set_data_from_numpy(np.array([c.encode() for c in colors], dtype=np.object_), binary_data=binary)
        result = client.infer("churn", [x, color])
        mode = "binary" if binary else "JSON"
        got = result.as_numpy("predict")
        check(f"churn {mode} labels are INT64", got.dtype == np.int64, got.dtype)
        check(f"churn {mode} labels", got.tolist() == want_labels, (got.tolist(), want_labels))
        check(f"churn {mode} proba", close(result.as_numpy("predict_proba").ravel().tolist(), flat(want_proba)))

    # Errors come back as InferenceServerException with the server's message.
    try:
        client.infer("nope", [inp])
        check("unknown model raises", False)
    except InferenceServerException as error:
        check("unknown model raises", "unknown model `nope`" in str(error), str(error))
    bad = httpclient.InferInput("input", [1, 3], "FP64")
    bad.set_data_from_numpy(np.array([[1.0, 2.0, 3.0]]))
    try:
        client.infer("iris", [bad])
        check("wrong shape raises", False)
    except InferenceServerException as error:
        check("wrong shape raises", "takes [rows, 4]" in str(error), str(error))

    # Triton's model configuration and statistics extensions.
    config = client.get_model_config("iris")
    check("model config inputs", config["input"] == [{"name": "input", "data_type": "TYPE_FP64", "dims": [-1, 4]}], config)
    check("model config outputs", [(o["name"], o["data_type"]) for o in config["output"]]
          == [("predict", "TYPE_STRING"), ("predict_proba", "TYPE_FP64"), ("raw", "TYPE_FP64"), ("contribs", "TYPE_FP64")], config)
    before = client.get_inference_statistics("iris")["model_stats"][0]
    inp = httpclient.InferInput("input", [len(IRIS_ROWS), 4], "FP64")
    inp.set_data_from_numpy(np.array(IRIS_ROWS))
    client.infer("iris", [inp])
    after = client.get_inference_statistics("iris")["model_stats"][0]
    check("statistics count rows", after["inference_count"] - before["inference_count"] == len(IRIS_ROWS), (before, after))
    check("statistics count executions", after["execution_count"] - before["execution_count"] == 1, (before, after))
    check("statistics count successes",
          after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"] == 1)
    check("statistics of every model", {m["name"] for m in client.get_inference_statistics()["model_stats"]} == {"iris", "churn"})

    base = f"http://{url}"
    # MLflow scoring, as `mlflow models serve` clients call it.
    split = {"dataframe_split": {"columns": IRIS_FEATURES, "data": IRIS_ROWS}}
    answer = requests.post(f"{base}/invocations", json=split, timeout=30)
    check("mlflow status", answer.status_code == 200, answer.text)
    # One model per /invocations: the server was started with --default-model iris.
    check("mlflow dataframe_split", answer.json() == {"predictions": labels}, answer.text)
    records = {"dataframe_records": [dict(zip(IRIS_FEATURES, row)) for row in IRIS_ROWS],
               "params": {"output": "predict_proba"}}
    answer = requests.post(f"{base}/invocations", json=records, timeout=30)
    check("mlflow dataframe_records proba", close(flat(answer.json()["predictions"]), flat(proba)), answer.text)
    csv = ",".join(IRIS_FEATURES) + "\n" + "\n".join(",".join(repr(v) for v in row) for row in IRIS_ROWS) + "\n"
    answer = requests.post(f"{base}/invocations", data=csv, headers={"Content-Type": "text/csv"}, timeout=30)
    check("mlflow csv", answer.json() == {"predictions": labels}, answer.text)
    answer = requests.post(f"{base}/invocations", data="x", headers={"Content-Type": "text/plain"}, timeout=30)
    check("mlflow 415", answer.status_code == 415 and answer.json()["error_code"] == "BAD_REQUEST", answer.text)
    check("mlflow ping", requests.get(f"{base}/ping", timeout=30).status_code == 200)

    # The simple protocol.
    answer = requests.post(f"{base}/models/iris/predict", json={"inputs": IRIS_ROWS, "outputs": ["predict", "raw"]}, timeout=30)
    body = answer.json()
    check("simple labels", body["prediction"] == labels, answer.text)
    check("simple raw", [[r[f"raw_{k}"] for k in range(3)] for r in body["raw"]] == raw, answer.text)
    from openapi_spec_validator import validate

    openapi = requests.get(f"{base}/openapi.json", timeout=30).json()
    validate(openapi)
    check("openapi.json is a valid OpenAPI document", "/invocations" in openapi["paths"])
    metrics = requests.get(f"{base}/metrics", timeout=30).text
    check("metrics", 'verdict_requests_total{model="iris",protocol="v2",status="200"}' in metrics)
    print(f"{len(PASSED)} passed, 0 failed")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        check_server(sys.argv[2])
