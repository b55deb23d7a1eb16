"""Makes the data and the model of benches/postgres/run.sh: a table of ROWS rows x FEATURES
uniform features (and an `id`) in PostgreSQL, and an XGBoost binary classifier trained on a
sample of the same distribution, saved as JSON for both sides of the benchmark.

    python prepare.py URL MODEL_PATH ROWS FEATURES TREES
"""

import sys

import numpy as np
import psycopg
import xgboost as xgb


def main() -> None:
    url, model_path, rows, features, trees = sys.argv[1:6]
    rows, features, trees = int(rows), int(features), int(trees)

    rng = np.random.default_rng(42)
    sample = rng.random((50_000, features))
    # A label that needs several features and interactions, with noise.
    score = sample[:, 0] + sample[:, 1] * sample[:, 2] - sample[:, 3] + 0.3 * rng.standard_normal(50_000)
    label = (score > 0.5).astype(int)
    names = [f"f{j}" for j in range(features)]
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 2, "seed": 0}
    booster = xgb.train(params, xgb.DMatrix(sample, label, feature_names=names), num_boost_round=trees)
    booster.save_model(model_path)

    columns = ", ".join(f"random() AS f{j}" for j in range(features))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_rows")
        conn.execute("SELECT setseed(0.42)")
        conn.execute(
            f"CREATE TABLE bench_rows AS SELECT g::bigint AS id, {columns} "
            f"FROM generate_series(1, {rows}) AS g"
        )
        conn.execute("VACUUM ANALYZE bench_rows")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('bench_rows'))").fetchone()[0]
    print(f"bench_rows: {rows} rows x {features} features ({size}); model: {trees} trees of depth 6")


if __name__ == "__main__":
    main()
