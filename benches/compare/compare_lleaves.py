"""Verdict against lleaves, the LLVM-compiled LightGBM predictor, on the same models and rows.

lleaves compiles a LightGBM text model to machine code (one function per tree, the thresholds
as constants), which makes it the fastest LightGBM predictor in Python. This script takes
LightGBM models that `run.sh` (compare.py) trained and saved in --work (by default the
binary classifiers of depth 6, 8 and 12), compiles each with lleaves (minutes per model; the
object file is cached in --work, keyed by the model's hash), and times, at 1 and 2 threads,
the best of --repeat runs on the same test rows (compare.py's `X_ROWS.npy`):

- lleaves: `Model.predict(X, n_jobs=threads)`;
- Verdict: `verdict bench --npy`, prediction only, as for lleaves.

It checks that the two predictions agree (max absolute difference) and prints a table.

    benches/compare/run.sh --rows 1000000 --libs lightgbm --tasks binary --depths 8
    python3.11 -m venv /work/venvs/lleaves
    /work/venvs/lleaves/bin/pip install -r benches/compare/requirements-lleaves.txt
    cargo build --release -p verdict-cli
    /work/venvs/lleaves/bin/python benches/compare/compare_lleaves.py --rows 1000000 --depths 8
"""

import argparse
import hashlib
import json
import os
import subprocess
from pathlib import Path

import lleaves
import numpy as np

from compare import best_of

ROOT = Path(__file__).resolve().parents[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--depths", default="6,8,12")
    parser.add_argument("--task", default="binary")
    parser.add_argument("--work", default=str(ROOT / "target" / "compare"))
    parser.add_argument("--verdict", default=str(ROOT / "target" / "release" / "verdict"))
    args = parser.parse_args()
    work = Path(args.work)
    npy = work / f"X_{args.rows}.npy"
    X = np.load(npy)
    print(f"{'depth':>5} {'thr':>3} {'lleaves rows/s':>15} {'verdict rows/s':>15} {'ratio':>6} {'max |diff|':>10}")
    results = []
    for depth in map(int, args.depths.split(",")):
        model_file = work / f"lightgbm_{args.task}_d{depth}.txt"
        digest = hashlib.sha256(model_file.read_bytes()).hexdigest()[:16]
        model = lleaves.Model(model_file=str(model_file))
        model.compile(cache=str(work / f"lleaves_{digest}.o"))
        for threads in sorted({1, os.cpu_count()}):
            seconds, theirs = best_of(args.repeat, lambda: model.predict(X, n_jobs=threads))
            save = work / "verdict_lleaves.npy"
            out = subprocess.run(
                [args.verdict, "bench", "--model", str(model_file), "--npy", str(npy), "--threads", str(threads),
                 "--repeat", str(args.repeat), "--save", str(save), "--json"],
                check=True, capture_output=True, text=True,
            )
            ours = json.loads(out.stdout)
            predicted = np.load(save)
            predicted = predicted[:, 1] if args.task == "binary" else predicted
            diff = float(np.max(np.abs(predicted.reshape(theirs.shape) - theirs)))
            row = {"depth": depth, "threads": threads, "lleaves_rows_per_second": len(X) / seconds,
                   "verdict_rows_per_second": ours["rows_per_second"], "max_abs_diff": diff}
            row["ratio"] = row["verdict_rows_per_second"] / row["lleaves_rows_per_second"]
            results.append(row)
            print(f"{depth:>5} {threads:>3} {row['lleaves_rows_per_second']:>15,.0f} "
                  f"{row['verdict_rows_per_second']:>15,.0f} {row['ratio']:>6.2f} {diff:>10.2e}", flush=True)
    (work / "lleaves_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
