"""Verdict against CatBoost's own predictor, on the same oblivious-tree models and rows.

For depth 6 and 8 and 300 and 1,000 iterations it trains a CatBoostRegressor (RMSE) on 50
synthetic features with 1% NaNs (the same data as compare.py), saves it as `.cbm` (CatBoost's
default format), then times
on the same 1,000,000 test rows, at 1 and 2 threads, the best of --repeat runs:

- CatBoost: `CatBoostRegressor.predict` on the float64 numpy array (`thread_count=threads`);
- Verdict: the `score_f64` example of verdict-model (rows already in memory, as for CatBoost),
  which loads the `.cbm` file and times `predict_into_parallel` only.

It checks that the two predictions agree (max absolute difference) and prints a table.

    python3.11 -m venv /work/venvs/catboost
    /work/venvs/catboost/bin/pip install -r tools/fixtures/requirements-catboost.txt
    cargo build --release -p verdict-model --example score_f64
    /work/venvs/catboost/bin/python benches/compare/compare_catboost.py --rows 1000000
"""

import argparse
import json
import subprocess
from pathlib import Path

import catboost as cb
import numpy as np

from compare import TRAIN_ROWS, best_of, make_data

ROOT = Path(__file__).resolve().parents[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--depths", default="6,8")
    parser.add_argument("--iterations", default="300,1000")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--work", default=str(ROOT / "target" / "compare"))
    parser.add_argument("--scorer", default=str(ROOT / "target" / "release" / "examples" / "score_f64"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    Xtr, ytr = make_data(TRAIN_ROWS, seed=1)
    Xte, _ = make_data(args.rows, seed=2)
    rows_file = work / f"X_{args.rows}.f64"
    Xte.astype("<f8").tofile(rows_file)
    print(f"catboost {cb.__version__}, {args.rows} rows x {Xte.shape[1]} features")
    print(f"{'depth':>5} {'iters':>5} {'thr':>3} {'catboost rows/s':>16} {'verdict rows/s':>15} {'ratio':>6} {'max |diff|':>10}", flush=True)
    results = []
    for depth in map(int, args.depths.split(",")):
        for iterations in map(int, args.iterations.split(",")):
            model = cb.CatBoostRegressor(iterations=iterations, depth=depth, learning_rate=0.1, random_seed=0,
                                         thread_count=2, verbose=0, allow_writing_files=False)
            model.fit(Xtr, ytr)
            path = work / f"catboost_d{depth}_i{iterations}.cbm"
            model.save_model(str(path))
            for threads in map(int, args.threads.split(",")):
                cb_s, theirs = best_of(args.repeat, lambda: model.predict(Xte, thread_count=threads))
                out = work / "verdict_pred.f64"
                ours = json.loads(subprocess.run(
                    [args.scorer, str(path), str(rows_file), str(Xte.shape[1]), str(threads), str(args.repeat), str(out)],
                    check=True, capture_output=True, text=True).stdout)
                diff = float(np.max(np.abs(np.fromfile(out, dtype="<f8") - theirs)))
                row = {"depth": depth, "iterations": iterations, "threads": threads,
                       "catboost_rows_per_second": args.rows / cb_s,
                       "verdict_rows_per_second": args.rows / ours["seconds"], "max_abs_diff": diff}
                row["ratio"] = row["verdict_rows_per_second"] / row["catboost_rows_per_second"]
                results.append(row)
                print(f"{depth:>5} {iterations:>5} {threads:>3} {row['catboost_rows_per_second']:>16,.0f} "
                      f"{row['verdict_rows_per_second']:>15,.0f} {row['ratio']:>6.2f} {diff:>10.2e}", flush=True)
    (work / "catboost_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
