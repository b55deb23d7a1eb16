"""The classic Python ways to serve a model, for `http_python.sh` to measure.

- `flask`: the Flask tutorial app: `joblib.load` at start, `POST /predict {"input": [...]}`
  answered with `{"prediction": [...]}`, served by Flask's own threaded server.
- `fastapi`: the same endpoint with FastAPI, run by uvicorn with two worker processes.

Both load the pickled XGBClassifier given in VERDICT_MODEL_PKL.
"""

import os

import joblib
import numpy as np

MODEL = joblib.load(os.environ["VERDICT_MODEL_PKL"])


def predict(values):
    return MODEL.predict(np.asarray([values], dtype=np.float64)).tolist()


def flask_app():
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.post("/predict")
    def handler():
        return jsonify({"prediction": predict(request.get_json()["input"])})

    return app


try:
    from fastapi import FastAPI
    from pydantic import BaseModel

    app = FastAPI()

    class Row(BaseModel):
        input: list[float]

    @app.post("/predict")
    def fastapi_predict(row: Row):
        return {"prediction": predict(row.input)}
except ImportError:  # only the Flask server is wanted
    app = None


if __name__ == "__main__":
    import sys

    flask_app().run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
