"""The job as it is usually written in Python: pandas `read_sql`, XGBoost's own predictor,
pandas `to_sql` (SQLAlchemy + psycopg 3), into a new table with the columns Verdict writes
(`id`, `label`, `proba_0`, `proba_1`).

    python pandas_job.py URL MODEL_PATH
"""

import sys
import time

import pandas as pd
import sqlalchemy
import xgboost as xgb


def main() -> None:
    url, model_path = sys.argv[1:3]
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    booster = xgb.Booster(model_file=model_path)
    features = booster.feature_names

    started = time.perf_counter()
    frame = pd.read_sql("SELECT * FROM bench_rows", engine)
    read = time.perf_counter()
    p = booster.inplace_predict(frame[features])
    scored = pd.DataFrame({"id": frame["id"], "label": (p > 0.5).astype("int64"), "proba_0": 1 - p, "proba_1": p})
    predicted = time.perf_counter()
    scored.to_sql("pandas_scores", engine, if_exists="replace", index=False)
    written = time.perf_counter()
    print(
        f"pandas: {len(scored)} rows in {written - started:.2f} s "
        f"(read_sql {read - started:.2f} s, predict {predicted - read:.2f} s, to_sql {written - predicted:.2f} s)"
    )


if __name__ == "__main__":
    main()
