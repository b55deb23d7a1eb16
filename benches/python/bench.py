"""The `verdict` package in-process, against the libraries' own predictors on the same frame.

For XGBoost and LightGBM it trains a binary model (300 trees of depth 8 on 50 synthetic
features, 1% of the values missing), then scores the same pandas DataFrame of --rows rows at
1 thread and at every core, the best of --repeat runs:

- XGBoost: ``Booster.inplace_predict(frame)``; LightGBM: ``Booster.predict(frame)``: the
  probability of class 1;
- Verdict: ``model.predict(frame, outputs="predict_proba")`` (a pandas DataFrame out), and
  with its default outputs (``label`` as well);
- ``verdict bench`` on the same rows from a .npy file: prediction alone, in the CLI, so the
  ratio of the two Verdict times is what the binding costs (frame in, frame out).

It checks that Verdict's probabilities equal the library's, and prints a table.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# The shared pieces of the comparison against the libraries (benches/compare/compare.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compare"))
from compare import FEATURES, TRAIN_ROWS, TREES, best_of  # noqa: E402

DEPTH = 8


def make_rows(rows, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, FEATURES))
    X[rng.random(size=X.shape) < 0.01] = np.nan
    Z = np.nan_to_num(X)
    signal = Z[:, 0] * Z[:, 1] + np.sin(Z[:, 2] * 2) + Z[:, 3:8].sum(1) * 0.5
    return X, (signal + rng.normal(size=rows) * 0.5 > 0).astype(int)


def as_frame(X):
    # Column by column, as read_csv or read_parquet build a frame: each column contiguous.
    return pd.DataFrame({f"f{i}": np.ascontiguousarray(X[:, i]) for i in range(X.shape[1])})


def train(lib, X, y, path):
    frame = as_frame(X)
    if lib == "xgboost":
        import xgboost as xgb

        params = {"objective": "binary:logistic", "max_depth": DEPTH, "eta": 0.1, "tree_method": "hist", "seed": 0}
        booster = xgb.train(params, xgb.DMatrix(frame, y), TREES)
    else:
        import lightgbm as lgb

        params = {"objective": "binary", "max_depth": DEPTH, "num_leaves": 255, "learning_rate": 0.1,
                  "verbose": -1, "seed": 0, "min_data_in_leaf": 5}
        booster = lgb.train(params, lgb.Dataset(frame, y), TREES)
    booster.save_model(str(path))
    return booster


def library_predict(lib, booster, frame, threads):
    if lib == "xgboost":
        booster.set_param({"nthread": threads})
        return booster.inplace_predict(frame)
    return booster.predict(frame, num_threads=threads)


def verdict_bench(verdict, model, npy, threads, repeat):
    out = subprocess.run(
        [verdict, "bench", "--model", str(model), "--npy", str(npy), "--threads", str(threads),
         "--repeat", str(repeat), "--output", "predict_proba", "--json"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verdict", required=True, help="the verdict binary, for `verdict bench`")
    parser.add_argument("--work", required=True, help="where models and rows are written")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--libs", default="xgboost,lightgbm")
    args = parser.parse_args()

    import verdict

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count()
    print(f"{platform.processor() or platform.machine()}, {cores} cores; {args.rows:,} rows x {FEATURES} features, "
          f"{TREES} trees of depth {DEPTH}, best of {args.repeat}")
    X_train, y_train = make_rows(TRAIN_ROWS, seed=1)
    X, _ = make_rows(args.rows, seed=2)
    frame = as_frame(X)
    npy = work / f"rows_{args.rows}.npy"
    if not npy.exists():
        np.save(npy, X)

    rows = []
    for lib in args.libs.split(","):
        path = work / f"{lib}_binary_d{DEPTH}.{'json' if lib == 'xgboost' else 'txt'}"
        booster = train(lib, X_train, y_train, path)
        model = verdict.load(path)
        for threads in sorted({1, cores}):
            theirs_s, theirs = best_of(args.repeat, lambda: library_predict(lib, booster, frame, threads))
            proba_s, ours = best_of(args.repeat, lambda: model.predict(frame, outputs="predict_proba", threads=threads))
            default_s, _ = best_of(args.repeat, lambda: model.predict(frame, threads=threads))
            bench = verdict_bench(args.verdict, path, npy, threads, args.repeat)
            difference = float(np.max(np.abs(ours["proba_1"].to_numpy() - np.asarray(theirs, dtype=np.float64))))
            rows.append({
                "library": lib, "threads": threads,
                "library_rows_s": args.rows / theirs_s,
                "verdict_rows_s": args.rows / proba_s,
                "verdict_default_rows_s": args.rows / default_s,
                "bench_rows_s": bench["rows_per_second"],
                "speedup": theirs_s / proba_s,
                "binding_cost": bench["rows_per_second"] * proba_s / args.rows - 1,
                "max_abs_difference": difference,
            })
            r = rows[-1]
            print(f"{lib:9} {threads} thr  library {r['library_rows_s']:>11,.0f} rows/s   "
                  f"verdict.predict {r['verdict_rows_s']:>11,.0f} ({r['speedup']:.2f}x)   "
                  f"default outputs {r['verdict_default_rows_s']:>11,.0f}   "
                  f"verdict bench {r['bench_rows_s']:>11,.0f} (binding costs {r['binding_cost']:+.1%})   "
                  f"max |diff| {difference:.2e}", flush=True)
    (work / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
