"""Verdict against XGBoost's and LightGBM's own predictors, on the same models and rows.

For each library, task (binary, multiclass, regression) and depth (6, 8, 12), it trains a
300-tree model on 50 synthetic features, then scores the same test rows:

- XGBoost: Booster.inplace_predict; LightGBM: Booster.predict;
- Verdict: `verdict bench`, which loads the library's own model file and times prediction
  only (rows from a .npy file, already in memory, as for the libraries);

at 1 thread and at all cores, the best of --repeat runs. It checks that Verdict's predictions
equal the library's (max absolute difference) and prints a table of rows/s and ratios.

`--tasks categorical` adds a LightGBM binary classifier whose first 5 features are categorical
(codes 0 to 29; XGBoost is not in this task).

With --end-to-end it also times, for the depth-8 binary models, a CSV -> predictions CSV job:
the classic pandas + joblib script (pd.read_csv, model.predict_proba, DataFrame.to_csv) against
`verdict predict` with its default outputs (`label`, `proba_0`, `proba_1`: more columns than
the script writes), with peak RSS from /usr/bin/time -v. `--end-to-end-formats csv,parquet`
adds the Parquet -> predictions Parquet job on the same rows: pyarrow's reader, the library's
own predictor on all cores (`inplace_predict`, `Booster.predict`) and pyarrow's writer,
against `verdict predict` again with its default outputs.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FEATURES = 50
TREES = 300
TRAIN_ROWS = 20_000


def make_data(rows, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, FEATURES))
    X[rng.random(size=X.shape) < 0.01] = np.nan
    Z = np.nan_to_num(X)
    signal = Z[:, 0] * Z[:, 1] + np.sin(Z[:, 2] * 2) + Z[:, 3:8].sum(1) * 0.5 + rng.normal(size=rows) * 0.5
    return X, signal


CATEGORICAL = 5
"""The first features of the `categorical` task: category codes 0 to 29 (NaN stays missing)."""


def with_categories(X):
    """X with its first CATEGORICAL columns turned into category codes, for the `categorical` task."""
    X = X.copy()
    codes = np.floor(np.abs(X[:, :CATEGORICAL]) * 10) % 30
    X[:, :CATEGORICAL] = codes
    return X


def labels(task, signal):
    if task in ("binary", "categorical"):
        return (signal > 0).astype(int)
    if task == "multiclass":
        return np.digitize(signal, np.quantile(signal, [0.33, 0.66]))
    return signal


def train(lib, task, depth, X, y, path):
    if lib == "xgboost":
        import xgboost as xgb

        objective = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}[task]
        params = {"objective": objective, "max_depth": depth, "eta": 0.1, "nthread": os.cpu_count(), "tree_method": "hist", "seed": 0}
        if task == "multiclass":
            params["num_class"] = 3
        booster = xgb.train(params, xgb.DMatrix(X, y), TREES)
        booster.save_model(str(path))
        return booster
    import lightgbm as lgb

    objective = {"binary": "binary", "categorical": "binary", "multiclass": "multiclass", "regression": "regression"}[task]
    params = {"objective": objective, "max_depth": depth, "num_leaves": min(2 ** depth, 255), "learning_rate": 0.1,
              "verbose": -1, "seed": 0, "min_data_in_leaf": 5}
    if task == "multiclass":
        params["num_class"] = 3
    categorical = list(range(CATEGORICAL)) if task == "categorical" else "auto"
    booster = lgb.train(params, lgb.Dataset(X, y, categorical_feature=categorical), TREES)
    booster.save_model(str(path))
    return booster


def library_predict(lib, booster, X, threads):
    if lib == "xgboost":
        booster.set_param({"nthread": threads})
        return booster.inplace_predict(X)
    return booster.predict(X, num_threads=threads)


def best_of(repeat, fn):
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def verdict_bench(verdict, model, npy, threads, repeat, save):
    out = subprocess.run(
        [verdict, "bench", "--model", str(model), "--npy", str(npy), "--threads", str(threads),
         "--repeat", str(repeat), "--save", str(save), "--json"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def compare_predictions(lib, task, ours, theirs):
    theirs = np.asarray(theirs, dtype=np.float64)
    if task in ("binary", "categorical"):
        ours = ours[:, 1]
    elif task == "regression":
        ours = ours[:, 0]
    return float(np.max(np.abs(ours.reshape(theirs.shape) - theirs)))


def timed_command(command):
    """Runs a command under /usr/bin/time -v; returns (seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {proc.stderr[-2000:]}")
    rss_kb = next(int(line.split(":")[1]) for line in proc.stderr.splitlines() if "Maximum resident set size" in line)
    return seconds, rss_kb / 1024


PANDAS_SCRIPT = """
import sys, joblib, pandas as pd
model = joblib.load(sys.argv[1])
df = pd.read_csv(sys.argv[2])
proba = model.predict_proba(df[[f"f{i}" for i in range(50)]])[:, 1]
pd.DataFrame({"id": df["id"], "proba_1": proba}).to_csv(sys.argv[3], index=False)
"""


PYARROW_SCRIPT = """
import os, sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
lib, model_file, source, target = sys.argv[1:5]
table = pq.read_table(source)
X = np.column_stack([table.column(f"f{i}").to_numpy() for i in range(50)])
if lib == "xgboost":
    import xgboost as xgb
    booster = xgb.Booster(model_file=model_file)
    booster.set_param({"nthread": os.cpu_count()})
    proba = booster.inplace_predict(X)
else:
    import lightgbm as lgb
    proba = lgb.Booster(model_file=model_file).predict(X, num_threads=os.cpu_count())
pq.write_table(pa.table({"id": table.column("id"), "proba_1": proba}), target)
"""


def end_to_end(args, results, work):
    import joblib
    import pandas as pd

    formats = args.end_to_end_formats.split(",")
    X, signal = make_data(args.rows, seed=2)
    csv = work / f"e2e_{args.rows}.csv"
    parquet = work / f"e2e_{args.rows}.parquet"
    missing = [fmt for fmt, path in (("csv", csv), ("parquet", parquet)) if fmt in formats and not path.exists()]
    if missing:
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(FEATURES)])
        frame.insert(0, "id", np.arange(len(frame)))
    if "csv" in missing:
        frame.to_csv(csv, index=False)
    if "parquet" in missing:
        # pandas' defaults, as a user's file would have them (pyarrow, snappy, one row group
        # per 1,048,576 rows).
        frame.to_parquet(parquet, index=False)
    Xtr, strain = make_data(TRAIN_ROWS, seed=1)
    y = labels("binary", strain)
    script = work / "pandas_joblib.py"
    script.write_text(PANDAS_SCRIPT)
    arrow_script = work / "pyarrow_predict.py"
    arrow_script.write_text(PYARROW_SCRIPT)
    for lib in ("xgboost", "lightgbm"):
        if lib == "xgboost":
            import xgboost as xgb

            model = xgb.XGBClassifier(n_estimators=TREES, max_depth=8, learning_rate=0.1, tree_method="hist")
            model_file = work / "e2e_xgb.json"
        else:
            import lightgbm as lgb

            model = lgb.LGBMClassifier(n_estimators=TREES, max_depth=8, num_leaves=255, learning_rate=0.1, verbose=-1)
            model_file = work / "e2e_lgb.txt"
        frame = pd.DataFrame(Xtr, columns=[f"f{i}" for i in range(FEATURES)])
        model.fit(frame, y)
        pkl = work / f"e2e_{lib}.joblib"
        joblib.dump(model, pkl)
        if lib == "xgboost":
            model.get_booster().save_model(str(model_file))
        else:
            model.booster_.save_model(str(model_file))
        if "csv" in formats:
            python_job = [sys.executable, str(script), str(pkl), str(csv), str(work / f"e2e_{lib}_pandas.csv")]
            run_end_to_end(args, results, work, lib, "csv", model_file, csv, python_job)
        if "parquet" in formats:
            python_job = [sys.executable, str(arrow_script), lib, str(model_file), str(parquet),
                          str(work / f"e2e_{lib}_pyarrow.parquet")]
            run_end_to_end(args, results, work, lib, "parquet", model_file, parquet, python_job)


def run_end_to_end(args, results, work, lib, fmt, model_file, source, python_job):
    """Times one end-to-end job, the Python script's and `verdict predict`'s, and compares them."""
    import pandas as pd

    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    theirs_path = Path(python_job[-1])
    ours_path = work / f"e2e_{lib}_verdict.{fmt}"
    py_s, py_rss = timed_command(python_job)
    row = {"library": lib, "format": fmt, "rows": args.rows, "python_seconds": py_s, "python_peak_rss_mib": py_rss}
    try:
        v_s, v_rss = timed_command([args.verdict, "predict", "--model", str(model_file), "--input", str(source),
                                    "--output", str(ours_path), "--passthrough", "id", "--if-exists", "replace"])
        ours = read(ours_path)["proba_1"].to_numpy()
        theirs = read(theirs_path)["proba_1"].to_numpy()
        row.update({"verdict_seconds": v_s, "verdict_peak_rss_mib": v_rss, "speedup": py_s / v_s,
                    "rss_ratio": v_rss / py_rss, "max_abs_diff": float(np.max(np.abs(ours - theirs)))})
    except (RuntimeError, FileNotFoundError, KeyError) as e:
        row["verdict_error"] = str(e)[:300]
    results["end_to_end"].append(row)
    print(json.dumps(row), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verdict", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="50k rows, depth 8 only")
    parser.add_argument("--end-to-end", action="store_true", help="also time the end-to-end jobs")
    parser.add_argument("--end-to-end-formats", default="csv",
                        help="which end-to-end jobs: csv (CSV -> CSV), parquet (Parquet -> Parquet), or both")
    parser.add_argument("--libs", default="xgboost,lightgbm")
    parser.add_argument("--tasks", default="binary,multiclass,regression",
                        help="also `categorical`: LightGBM binary with 5 categorical features (codes 0-29)")
    parser.add_argument("--depths", default="6,8,12")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.depths = 50_000, "8"
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count()
    import lightgbm
    import xgboost

    results = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": cores, "python": platform.python_version(),
                    "xgboost": xgboost.__version__, "lightgbm": lightgbm.__version__},
        "rows": args.rows, "trees": TREES, "features": FEATURES, "engines": [], "end_to_end": [],
    }
    Xtr, strain = make_data(TRAIN_ROWS, seed=1)
    Xte, _ = make_data(args.rows, seed=2)
    npy = work / f"X_{args.rows}.npy"
    if not npy.exists():
        np.save(npy, Xte)
    header = f"{'library':9} {'task':10} {'depth':>5} {'thr':>3} {'library rows/s':>15} {'verdict rows/s':>15} {'ratio':>6} {'max |diff|':>10}"
    print(header, flush=True)
    for lib in args.libs.split(","):
        for task in args.tasks.split(","):
            if task == "categorical" and lib != "lightgbm":
                print(f"{lib:9} {task:10} (LightGBM only)", flush=True)
                continue
            Xtr_task, Xte_task, npy_task = Xtr, Xte, npy
            if task == "categorical":
                Xtr_task, Xte_task = with_categories(Xtr), with_categories(Xte)
                npy_task = work / f"Xcat_{args.rows}.npy"
                if not npy_task.exists():
                    np.save(npy_task, Xte_task)
            for depth in map(int, args.depths.split(",")):
                ext = "json" if lib == "xgboost" else "txt"
                model_path = work / f"{lib}_{task}_d{depth}.{ext}"
                booster = train(lib, task, depth, Xtr_task, labels(task, strain), model_path)
                for threads in sorted({1, cores}):
                    lib_s, theirs = best_of(args.repeat, lambda: library_predict(lib, booster, Xte_task, threads))
                    save = work / "verdict_pred.npy"
                    ours = verdict_bench(args.verdict, model_path, npy_task, threads, args.repeat, save)
                    diff = compare_predictions(lib, task, np.load(save), theirs)
                    row = {"library": lib, "task": task, "depth": depth, "threads": threads,
                           "library_rows_per_second": args.rows / lib_s, "verdict_rows_per_second": ours["rows_per_second"],
                           "ratio": ours["rows_per_second"] / (args.rows / lib_s), "max_abs_diff": diff,
                           "verdict_single_row_us": ours["single_row_median_us"]}
                    results["engines"].append(row)
                    print(f"{lib:9} {task:10} {depth:>5} {threads:>3} {row['library_rows_per_second']:>15,.0f} "
                          f"{row['verdict_rows_per_second']:>15,.0f} {row['ratio']:>6.2f} {diff:>10.2e}", flush=True)
    if args.end_to_end:
        end_to_end(args, results, work)
    out = work / "results.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
