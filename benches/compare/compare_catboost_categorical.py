"""Verdict against CatBoost on a model with categorical features, from a pandas DataFrame.

CatBoost's strength is categorical features: it hashes each category and turns it into CTR
statistics (and one-hot bits for small ones) before its trees run. This trains a
CatBoostClassifier (300 iterations of depth 6, CatBoost's default CTRs and combinations) on
20 float features with 1% NaNs and four string columns of 4, 60, 1,000 and 20,000 values,
then scores the same test DataFrame (strings as Python objects, as pandas reads them) with:

- CatBoost: ``model.predict_proba(frame, thread_count=threads)``, which builds its pool from
  the frame (hashing every string) and applies the model;
- Verdict: ``verdict.load("model.cbm").predict(frame, outputs="predict_proba",
  threads=threads)``, which hands the frame to Arrow (converting the string columns) and
  scores it; and the same from a pyarrow Table made beforehand, to show the conversion's part.

Both are timed from the same pandas frame, best of --repeat, at 1 and 2 threads, and the
script checks that the probabilities agree (max absolute difference) before it reports.

    /work/venvs/catboost/bin/pip install -r tools/fixtures/requirements-catboost.txt pyarrow==26.0.1
    target/venv/bin/maturin build --release -m crates/python/Cargo.toml -o target/wheels-release
    /work/venvs/catboost/bin/pip install --force-reinstall --no-deps target/wheels-release/verdict-*.whl
    /work/venvs/catboost/bin/python benches/compare/compare_catboost_categorical.py --rows 300000
"""

import argparse
import json
from pathlib import Path

import catboost as cb
import numpy as np
import pandas as pd
import pyarrow as pa
import verdict

from compare import best_of

ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = {"tier": 4, "region": 60, "shop": 1_000, "user": 20_000}
FLOATS = 20


def make_data(rows, seed):
    """Floats with 1% NaNs, four string columns, and a target that depends on both."""
    rng = np.random.default_rng(seed)
    effects = np.random.default_rng(0)
    frame = {}
    x = rng.normal(size=(rows, FLOATS))
    x[rng.uniform(size=x.shape) < 0.01] = np.nan
    for j in range(FLOATS):
        frame[f"x{j}"] = x[:, j]
    logit = np.nan_to_num(x[:, 0]) - 0.5 * np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
    for name, levels in CATEGORIES.items():
        codes = rng.integers(0, levels, rows)
        frame[name] = np.array([f"{name}_{i}" for i in range(levels)], dtype=object)[codes]
        logit = logit + effects.normal(scale=0.7, size=levels)[codes]
    y = (logit + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return pd.DataFrame(frame), y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--work", default=str(ROOT / "target" / "compare"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    train, y = make_data(args.train_rows, seed=1)
    test, _ = make_data(args.rows, seed=2)
    model = cb.CatBoostClassifier(iterations=300, depth=6, learning_rate=0.1, random_seed=0,
                                  thread_count=2, verbose=0, allow_writing_files=False)
    model.fit(train, y, cat_features=list(CATEGORIES))
    path = work / "catboost_categorical.cbm"
    model.save_model(str(path))
    ours = verdict.load(str(path))
    table = pa.Table.from_pandas(test, preserve_index=False)
    ctrs = model.get_all_params().get("simple_ctr")
    print(f"catboost {cb.__version__}, {args.rows} rows x {FLOATS} floats + "
          f"{len(CATEGORIES)} string columns {CATEGORIES}, simple_ctr {ctrs}")
    print(f"{'thr':>3} {'catboost rows/s':>16} {'verdict (pandas)':>17} {'ratio':>6} "
          f"{'verdict (arrow)':>16} {'ratio':>6} {'max |diff|':>10}", flush=True)
    results = []
    for threads in map(int, args.threads.split(",")):
        cb_s, theirs = best_of(args.repeat, lambda: model.predict_proba(test, thread_count=threads))
        pd_s, from_pandas = best_of(args.repeat, lambda: ours.predict(
            test, outputs="predict_proba", threads=threads))
        pa_s, from_arrow = best_of(args.repeat, lambda: ours.predict(
            table, outputs="predict_proba", threads=threads))
        mine = from_pandas["proba_1"].to_numpy()
        diff = max(float(np.max(np.abs(mine - theirs[:, 1]))),
                   float(np.max(np.abs(from_arrow.column("proba_1").to_numpy() - theirs[:, 1]))))
        row = {"threads": threads, "catboost_rows_per_second": args.rows / cb_s,
               "verdict_pandas_rows_per_second": args.rows / pd_s,
               "verdict_arrow_rows_per_second": args.rows / pa_s, "max_abs_diff": diff}
        results.append(row)
        print(f"{threads:>3} {args.rows / cb_s:>16,.0f} {args.rows / pd_s:>17,.0f} "
              f"{cb_s / pd_s:>6.2f} {args.rows / pa_s:>16,.0f} {cb_s / pa_s:>6.2f} "
              f"{diff:>10.2e}", flush=True)
    (work / "catboost_categorical_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
