"""Verdict's `contribs` output (TreeSHAP) against XGBoost's and LightGBM's own contributions.

For each library and depth (6 and 8) it trains a 300-tree binary model on 50 synthetic
features (the data of compare.py, 1% missing values), then computes the contributions of the
same rows at each thread count (a model file already in --work is reused):

- XGBoost: Booster.predict(DMatrix, pred_contribs=True), the DMatrix built beforehand (not
  timed: it is XGBoost's input format, as Verdict's rows are already in memory);
- LightGBM: Booster.predict(X, pred_contrib=True, num_threads=...);
- Verdict: `verdict bench --output contribs`, which loads the library's own model file and
  times the computation only (rows from a .npy file, already in memory).

The best of --repeat runs counts. It checks that Verdict's contributions equal the library's
(the largest absolute difference; XGBoost computes in f32) and prints rows/s and the ratio.

    benches/compare/contribs.sh                           # 100,000 rows, depths 6 and 8, 1 and 2 threads
    benches/compare/contribs.sh --rows 20000 --repeat 1   # a shorter run
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import FEATURES, TRAIN_ROWS, TREES, best_of, labels, make_data, train  # noqa: E402


def library_contribs(lib, booster, X, dmatrix, threads):
    if lib == "xgboost":
        booster.set_param({"nthread": threads})
        return booster.predict(dmatrix, pred_contribs=True)
    return booster.predict(X, pred_contrib=True, num_threads=threads)


def verdict_contribs(verdict, model, npy, threads, repeat, save):
    out = subprocess.run(
        [verdict, "bench", "--model", str(model), "--npy", str(npy), "--threads", str(threads),
         "--repeat", str(repeat), "--output", "contribs", "--save", str(save), "--json"],
        check=True, capture_output=True, text=True,
    )
    report = json.loads(out.stdout)
    if report["output"] != "contribs":
        raise RuntimeError(f"verdict bench computed {report['output']}, not contribs")
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verdict", required=True, help="the verdict binary (a release build)")
    parser.add_argument("--work", required=True, help="a directory for models, rows and results")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--libs", default="xgboost,lightgbm")
    parser.add_argument("--depths", default="6,8")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    import lightgbm
    import xgboost

    results = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "xgboost": xgboost.__version__,
                    "lightgbm": lightgbm.__version__},
        "rows": args.rows, "trees": TREES, "features": FEATURES, "task": "binary", "runs": [],
    }
    Xtr, strain = make_data(TRAIN_ROWS, seed=1)
    Xte, _ = make_data(args.rows, seed=2)
    npy = work / f"X_{args.rows}.npy"
    if not npy.exists():
        np.save(npy, Xte)
    dmatrix = xgboost.DMatrix(Xte, missing=np.nan) if "xgboost" in args.libs else None
    print(f"{'library':9} {'depth':>5} {'thr':>3} {'library rows/s':>15} {'verdict rows/s':>15} {'ratio':>6} {'max |diff|':>10}",
          flush=True)
    for lib in args.libs.split(","):
        for depth in map(int, args.depths.split(",")):
            ext = "json" if lib == "xgboost" else "txt"
            model_path = work / f"contribs_{lib}_d{depth}.{ext}"
            if not model_path.exists():
                train(lib, "binary", depth, Xtr, labels("binary", strain), model_path)
            # Both sides read the same file.
            booster = (xgboost.Booster(model_file=str(model_path)) if lib == "xgboost"
                       else lightgbm.Booster(model_file=str(model_path)))
            for threads in map(int, args.threads.split(",")):
                lib_s, theirs = best_of(args.repeat, lambda: library_contribs(lib, booster, Xte, dmatrix, threads))
                save = work / "verdict_contribs.npy"
                ours = verdict_contribs(args.verdict, model_path, npy, threads, args.repeat, save)
                theirs = np.asarray(theirs, dtype=np.float64)
                diff = float(np.max(np.abs(np.load(save) - theirs)))
                row = {"library": lib, "depth": depth, "threads": threads,
                       "library_rows_per_second": args.rows / lib_s,
                       "verdict_rows_per_second": ours["rows_per_second"],
                       "ratio": ours["rows_per_second"] / (args.rows / lib_s), "max_abs_diff": diff,
                       "verdict_single_row_us": ours["single_row_median_us"]}
                results["runs"].append(row)
                print(f"{lib:9} {depth:>5} {threads:>3} {row['library_rows_per_second']:>15,.0f} "
                      f"{row['verdict_rows_per_second']:>15,.0f} {row['ratio']:>6.2f} {diff:>10.2e}", flush=True)
    out = work / "contribs_results.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
