"""Drive a running `verdict serve` with KServe's own Python client, InferenceRESTClient, in
both of KServe's protocols (v1 and v2).

    python test_kserve.py URL      check the server at URL (host:port)

The server serves the models test_tritonclient.py writes, which also computes the expected
answers. Run through run.sh.
"""

import asyncio
import sys

from test_tritonclient import IRIS_ROWS, PASSED, check, close, flat, iris_expected


async def check_kserve(url):
    import numpy as np
    from kserve import InferInput, InferRequest, InferenceRESTClient, RESTConfig

    base = f"http://{url}"
    labels, proba, _ = iris_expected(IRIS_ROWS)

    v2 = InferenceRESTClient(RESTConfig(protocol="v2"))
    check("kserve v2 server live", await v2.is_server_live(base) is True)
    check("kserve v2 server ready", await v2.is_server_ready(base) is True)
    check("kserve v2 model ready", await v2.is_model_ready(base, "iris") is True)
    check("kserve v2 unknown model not ready", await v2.is_model_ready(base, "nope") is False)
    for dtype, triton_type in [(np.float64, "FP64"), (np.float32, "FP32")]:
        data = np.array(IRIS_ROWS, dtype=dtype)
        want_labels, want_proba, _ = iris_expected(data.astype(np.float64).tolist())
        for binary in (False, True):
            inp = InferInput(name="input", shape=list(data.shape), datatype=triton_type)
            inp.set_data_from_numpy(data, binary_data=binary)
            request = InferRequest(model_name="iris", infer_inputs=[inp], request_id="k-1")
            response = await v2.infer(base, request, model_name="iris")
            outputs = {o.name: o for o in response.outputs}
            mode = "binary" if binary else "JSON"
            got = [v.decode() if isinstance(v, bytes) else v for v in outputs["predict"].as_numpy().tolist()]
            check(f"kserve v2 {triton_type} {mode} labels", got == want_labels, (got, want_labels))
            got_proba = outputs["predict_proba"].as_numpy().ravel().tolist()
            check(f"kserve v2 {triton_type} {mode} proba", close(got_proba, flat(want_proba)), got_proba)
    await v2.close()

    v1 = InferenceRESTClient(RESTConfig(protocol="v1"))
    check("kserve v1 server live", await v1.is_server_live(base) is True)
    check("kserve v1 model ready", await v1.is_model_ready(base, "iris") is True)
    answer = await v1.infer(base, {"instances": IRIS_ROWS}, model_name="iris")
    check("kserve v1 predictions", answer == {"predictions": labels}, answer)
    try:
        await v1.infer(base, {"instances": [[1.0, 2.0]]}, model_name="iris")
        check("kserve v1 wrong width raises", False)
    except Exception as error:  # httpx.HTTPStatusError, with the server's message
        check("kserve v1 wrong width raises", "expected 4 feature values" in str(error), str(error))
    await v1.close()
    print(f"{len(PASSED)} passed, 0 failed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    asyncio.run(check_kserve(sys.argv[1]))
