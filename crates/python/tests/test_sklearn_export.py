"""Tests for the scikit-learn exporter, `verdict.sklearn_export`.

The heart of this file is `Evaluator`: a small reference implementation of prediction
written only from the JSON export and docs/formats/sklearn.md, never from the estimator.
If it reproduces scikit-learn's outputs, the export carries everything a Rust importer
needs. It is deliberately plain Python (row by row, like an importer would be), using
numpy only where sklearn's own arithmetic must be mirrored (float32 casts, exp).

Run: target/venv/bin/python -m pytest crates/python/tests/test_sklearn_export.py -q
(tools/python-env.sh makes the environment).
"""

from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(REPO, "tools", "fixtures"))

from verdict import sklearn_export as verdict_export  # noqa: E402
from verdict.sklearn_export import UnsupportedEstimatorError, export  # noqa: E402

sklearn = pytest.importorskip("sklearn")
import gen_sklearn  # noqa: E402


# --------------------------------------------------------------------------------------
# Reference evaluator (the schema, executed)
# --------------------------------------------------------------------------------------

def F(v):
    """A float field: a JSON number or "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(v, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
    return float(v)


def is_missing(cell):
    return cell is None or (isinstance(cell, float) and math.isnan(cell))


def num(cell):
    """A cell fed to a numeric step: missing becomes NaN, strings are an error."""
    if is_missing(cell):
        return math.nan
    if isinstance(cell, str):
        raise ValueError(f"string {cell!r} in a numeric column")
    return float(cell)


def cat_match(cell, cat):
    """Does an input cell equal a category value (null category = missing)?"""
    if cat is None:
        return is_missing(cell)
    if is_missing(cell):
        return False
    if isinstance(cat, str) or isinstance(cell, str):
        return isinstance(cat, str) and isinstance(cell, str) and cat == cell
    return float(cat) == float(cell)


def cat_index(cell, cats):
    for i, c in enumerate(cats):
        if cat_match(cell, c):
            return i
    return None


def expit(x):
    # scipy.special.expit; numpy's exp keeps us within an ulp of sklearn.
    return float(1.0 / (1.0 + np.exp(-np.float64(x))))


def softmax(row):
    a = np.asarray(row, dtype=np.float64)
    e = np.exp(a - a.max())
    return list(e / e.sum())


def argmax(row):
    best = 0
    for i, v in enumerate(row):
        if v > row[best]:
            best = i
    return best


class Evaluator:
    """Predict from an export: `run(doc, rows)` -> {"predict", "predict_proba", "raw"}."""

    # ---- transformers: rows of cells -> rows of cells ------------------------------
    def transform(self, est, rows):
        t = est["type"]
        fn = getattr(self, "t_" + t)
        return [fn(est, r) for r in rows]

    def t_Pipeline(self, est, row):
        for step in est["steps"]:
            row = self.transform(step["estimator"], [row])[0]
        return row

    def t_StandardScaler(self, est, row):
        out = []
        for j, c in enumerate(row):
            x = num(c)
            if est["mean"] is not None:
                x = x - F(est["mean"][j])
            if est["scale"] is not None:
                x = x / F(est["scale"][j])
            out.append(x)
        return out

    def t_MinMaxScaler(self, est, row):
        lo, hi = (F(v) for v in est["feature_range"])
        out = []
        for j, c in enumerate(row):
            x = num(c) * F(est["scale"][j]) + F(est["min"][j])
            if est["clip"] and not math.isnan(x):
                x = min(max(x, lo), hi)
            out.append(x)
        return out

    def t_SimpleImputer(self, est, row):
        mv = est["missing_values"]
        out = []
        for j in est["output_columns"]:
            c = row[j]
            hit = is_missing(c) if mv is None else (not is_missing(c) and cat_match(c, mv))
            out.append(est["statistics"][j] if hit else c)
        return out

    def t_OneHotEncoder(self, est, row):
        out = [0.0] * est["n_output_features"]
        for j, feat in enumerate(est["features"]):
            i = cat_index(row[j], feat["categories"])
            if i is None:
                u = feat["unknown"]
                if u == "error":
                    raise ValueError(f"unknown category {row[j]!r} in column {j}")
                if u != "zeros":
                    out[u] = 1.0
                continue
            k = feat["output_index"][i]
            if k >= 0:
                out[k] = 1.0
        return out

    def t_OrdinalEncoder(self, est, row):
        out = []
        for j, feat in enumerate(est["features"]):
            i = cat_index(row[j], feat["categories"])
            if i is None:
                if feat["unknown"] == "error":
                    raise ValueError(f"unknown category {row[j]!r} in column {j}")
                out.append(F(feat["unknown"]))
            else:
                out.append(F(feat["codes"][i]))
        return out

    def t_ColumnTransformer(self, est, row):
        out = []
        for e in est["transformers"]:
            if e["kind"] == "drop":
                continue
            sub = [row[c] for c in e["columns"]]
            if e["kind"] == "transformer":
                sub = self.transform(e["estimator"], [sub])[0]
            assert len(sub) == e["output_width"]
            out.extend(sub)
        assert len(out) == est["n_output_features"]
        return out

    # ---- models: one row -> (label or values, proba, raw) ---------------------------
    def model(self, est, row):
        return getattr(self, "m_" + est["type"])(est, row)

    def m_Pipeline(self, est, row):
        for step in est["steps"][:-1]:
            row = self.transform(step["estimator"], [row])[0]
        return self.model(est["steps"][-1]["estimator"], row)

    def _linear(self, est, row):
        x = [num(c) for c in row]
        return [sum(xi * F(w) for xi, w in zip(x, coef)) + F(b) for coef, b in zip(est["coef"], est["intercept"])]

    def _reg_linear(self, est, row):
        return {"predict": self._linear(est, row)}

    m_LinearRegression = m_Ridge = m_Lasso = m_ElasticNet = m_LinearSVR = _reg_linear

    def _clf_linear(self, est, row):
        d = self._linear(est, row)
        classes = est["classes"]
        if len(d) == 1:
            label = classes[1] if d[0] > 0 else classes[0]
        else:
            label = classes[argmax(d)]
        out = {"predict": [label], "raw": d}
        if est["proba"] == "sigmoid":
            p = expit(d[0])
            out["predict_proba"] = [1 - p, p]
        elif est["proba"] == "softmax":
            out["predict_proba"] = softmax(d)
        elif est["proba"] == "ovr":
            p = [expit(v) for v in d]
            s = sum(p)
            out["predict_proba"] = [v / s for v in p]
        return out

    m_LogisticRegression = m_LinearSVC = _clf_linear

    def m_OneVsRestClassifier(self, est, row):
        scores, probs, raws = [], [], []
        for sub in est["estimators"]:
            r = self.model(sub["estimator"], row)
            if sub["score"] == "decision_function":
                scores.append(r["raw"][0])
            else:
                scores.append(r["predict_proba"][1])
            if "raw" in r:
                raws.append(r["raw"][0])
            if "predict_proba" in r:
                probs.append(r["predict_proba"][1])
        out = {"predict": [est["classes"][argmax(scores)]]}
        if est["has_predict_proba"]:
            s = sum(probs)
            out["predict_proba"] = [p / s for p in probs] if s != 0 else probs
        if len(raws) == len(est["estimators"]):
            out["raw"] = raws
        return out

    # sklearn trees: X is cast to float32, then compared x <= threshold in float64.
    @staticmethod
    def tree_leaf(tree, x):
        i = 0
        left, right = tree["children_left"], tree["children_right"]
        while left[i] != -1:
            v = float(np.float32(x[tree["feature"][i]]))
            if math.isnan(v):
                i = left[i] if tree["missing_go_to_left"][i] else right[i]
            elif v <= F(tree["threshold"][i]):
                i = left[i]
            else:
                i = right[i]
        return i

    def m_DecisionTreeClassifier(self, est, row):
        x = [num(c) for c in row]
        proba = [F(v) for v in est["tree"]["value"][self.tree_leaf(est["tree"], x)]]
        return {"predict": [est["classes"][argmax(proba)]], "predict_proba": proba}

    def m_DecisionTreeRegressor(self, est, row):
        x = [num(c) for c in row]
        return {"predict": [F(est["tree"]["value"][self.tree_leaf(est["tree"], x)])]}

    def _forest_clf(self, est, row):
        x = [num(c) for c in row]
        acc = [0.0] * len(est["classes"])
        for tree in est["trees"]:
            v = tree["value"][self.tree_leaf(tree, x)]
            acc = [a + F(p) for a, p in zip(acc, v)]
        proba = [a / len(est["trees"]) for a in acc]
        return {"predict": [est["classes"][argmax(proba)]], "predict_proba": proba}

    def _forest_reg(self, est, row):
        x = [num(c) for c in row]
        acc = 0.0
        for tree in est["trees"]:
            acc += F(tree["value"][self.tree_leaf(tree, x)])
        return {"predict": [acc / len(est["trees"])]}

    m_RandomForestClassifier = m_ExtraTreesClassifier = _forest_clf
    m_RandomForestRegressor = m_ExtraTreesRegressor = _forest_reg

    def _gb_raw(self, est, row):
        x = [num(c) for c in row]
        raw = [F(v) for v in est["init_raw"]]
        lr = F(est["learning_rate"])
        for stage in est["trees"]:
            for k, tree in enumerate(stage):
                raw[k] += lr * F(tree["value"][self.tree_leaf(tree, x)])
        return raw

    def m_GradientBoostingRegressor(self, est, row):
        return {"predict": self._gb_raw(est, row)}

    def m_GradientBoostingClassifier(self, est, row):
        raw = self._gb_raw(est, row)
        classes = est["classes"]
        if len(raw) == 1:
            z = raw[0] if est["loss"] == "log_loss" else 2.0 * raw[0]
            p = expit(z)
            return {"predict": [classes[1] if raw[0] >= 0 else classes[0]], "predict_proba": [1 - p, p], "raw": raw}
        return {"predict": [classes[argmax(raw)]], "predict_proba": softmax(raw), "raw": raw}

    # HistGradientBoosting: X stays float64.
    @staticmethod
    def hgb_value(tree, x, known, f_idx_map):
        def in_bitset(bitset, v):
            return (bitset[v // 32] >> (v % 32)) & 1

        i = 0
        while not tree["is_leaf"][i]:
            f = tree["feature_idx"][i]
            v = x[f]
            go_missing = tree["left"][i] if tree["missing_go_to_left"][i] else tree["right"][i]
            if math.isnan(v):
                i = go_missing
            elif tree["is_categorical"][i]:
                c = int(v)  # sklearn casts to uint8; encoded categories are 0..254
                if v < 0:
                    i = go_missing
                elif in_bitset(tree["raw_left_cat_bitsets"][tree["bitset_idx"][i]], c):
                    i = tree["left"][i]
                elif in_bitset(known[f_idx_map[f]], c):
                    i = tree["right"][i]
                else:
                    i = go_missing
            elif v <= F(tree["num_threshold"][i]):
                i = tree["left"][i]
            else:
                i = tree["right"][i]
        return F(tree["value"][i])

    def _hgb_raw(self, est, row):
        enc = []
        for c, col in zip(row, est["input_columns"]):
            if col["kind"] == "categorical":
                i = cat_index(c, col["categories"]) if not is_missing(c) else None
                enc.append(float(i) if i is not None else math.nan)
            else:
                enc.append(num(c))
        x = [enc[j] for j in est["feature_order"]]
        raw = [F(v) for v in est["baseline_prediction"]]
        for it in est["predictors"]:
            for k, tree in enumerate(it):
                raw[k] += self.hgb_value(tree, x, est["known_cat_bitsets"], est["f_idx_map"])
        return raw

    def m_HistGradientBoostingRegressor(self, est, row):
        raw = self._hgb_raw(est, row)
        if est["link"] == "log":
            return {"predict": [float(np.exp(raw[0]))]}
        return {"predict": raw}

    def m_HistGradientBoostingClassifier(self, est, row):
        raw = self._hgb_raw(est, row)
        classes = est["classes"]
        if len(raw) == 1:
            p = expit(raw[0])
            return {"predict": [classes[1] if raw[0] > 0 else classes[0]], "predict_proba": [1 - p, p], "raw": raw}
        return {"predict": [classes[argmax(raw)]], "predict_proba": softmax(raw), "raw": raw}

    def run(self, doc, rows):
        assert doc["format"] == "verdict-sklearn" and doc["format_version"] == 1
        n = doc["input"]["n_features"]
        out = {}
        for row in rows:
            assert len(row) == n
            for key, val in self.model(doc["estimator"], row).items():
                out.setdefault(key, []).append(val)
        return out


def check_outputs(got, want, exact_keys):
    """Labels must match exactly. Numbers in `exact_keys` must match bit for bit (the
    reference sums in sklearn's order); others to 1e-9 relative, since exp, expit and
    BLAS dot products may differ from sklearn in the last bits."""
    assert set(want) <= set(got), (set(want), set(got))
    for key, w in want.items():
        g = got[key]
        assert len(g) == len(w), key
        for i, (gr, wr) in enumerate(zip(g, w)):
            if isinstance(wr[0], (str, bool)) or (key == "predict" and isinstance(wr[0], int)):
                assert gr == wr, f"{key} row {i}: {gr} != {wr}"
            elif key in exact_keys:
                assert [float(v) for v in gr] == [float(v) for v in wr], f"{key} row {i}: {gr} != {wr}"
            else:
                np.testing.assert_allclose(gr, wr, rtol=1e-9, atol=1e-12, err_msg=f"{key} row {i}")


def final_type(doc):
    est = doc["estimator"]
    while est["type"] == "Pipeline":
        est = est["steps"][-1]["estimator"]
    return est["type"]


def exact_keys(doc):
    """Outputs the reference reproduces bit for bit: tree ensembles sum leaves in
    sklearn's order; linear models go through BLAS, probabilities through exp."""
    t = final_type(doc)
    if t.startswith(("DecisionTree", "RandomForest", "ExtraTrees")):
        return {"predict", "predict_proba"}
    if t.startswith("GradientBoosting"):
        return {"predict", "raw"}
    if t.startswith("HistGradientBoosting"):
        est = doc["estimator"]
        while est["type"] == "Pipeline":
            est = est["steps"][-1]["estimator"]
        return {"raw"} if est.get("link") == "log" else {"predict", "raw"}
    return set()


# --------------------------------------------------------------------------------------
# Every fixture case: export, JSON round trip, reference evaluator == sklearn
# --------------------------------------------------------------------------------------

CASES = gen_sklearn.cases()


def run_or_skip(case):
    """Run a fixture case; skip it on an older scikit-learn that cannot fit it (for
    example ExtraTrees with NaN before 1.6)."""
    try:
        return gen_sklearn.run_case(case)
    except ValueError as e:
        if "does not accept missing values" in str(e):
            pytest.skip(f"scikit-learn {sklearn.__version__} cannot fit this case: {str(e).splitlines()[0]}")
        raise


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_round_trip_and_parity(case):
    doc, data, est, X = run_or_skip(case)
    text = verdict_export.dumps(doc)
    assert "NaN" not in text.replace('"NaN"', "")  # no bare NaN: JSON would reject it
    again = json.loads(text)
    assert again == json.loads(json.dumps(doc))
    assert again["sklearn_version"] == sklearn.__version__
    got = Evaluator().run(again, data["inputs"])
    check_outputs(got, data["outputs"], exact_keys(again))


def test_fixture_cases_cover_every_supported_estimator():
    seen = set()

    def walk(d):
        seen.add(d["type"])
        for step in d.get("steps", []):
            walk(step["estimator"])
        for e in d.get("transformers", []):
            if e.get("estimator"):
                walk(e["estimator"])
        for e in d.get("estimators", []):
            walk(e["estimator"])

    for case in CASES:
        try:
            est, _ = case.build()
        except ValueError as e:
            pytest.skip(f"scikit-learn {sklearn.__version__} cannot fit case {case.name}: {str(e).splitlines()[0]}")
        walk(export(est)["estimator"])
    assert seen >= set(verdict_export.SUPPORTED), set(verdict_export.SUPPORTED) - seen


# --------------------------------------------------------------------------------------
# Committed fixtures: the stored outputs follow from the stored export
# --------------------------------------------------------------------------------------

FIXTURE_DIRS = sorted(glob.glob(os.path.join(REPO, "tests", "fixtures", "sklearn", "*")))


@pytest.mark.parametrize("d", FIXTURE_DIRS, ids=[os.path.basename(d) for d in FIXTURE_DIRS])
def test_committed_fixture_is_self_consistent(d):
    with open(os.path.join(d, "model.json")) as f:
        doc = json.load(f)
    with open(os.path.join(d, "data.json")) as f:
        data = json.load(f)
    assert data["case"] == os.path.basename(d)
    assert len(data["feature_names"]) == doc["input"]["n_features"]
    got = Evaluator().run(doc, data["inputs"])
    check_outputs(got, data["outputs"], exact_keys(doc))


# --------------------------------------------------------------------------------------
# Specific behaviour
# --------------------------------------------------------------------------------------

def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def test_tree_float32_cast_is_needed():
    """A value above the threshold in float64 that rounds onto it in float32 goes left."""
    from sklearn.tree import DecisionTreeRegressor

    X = np.array([[0.1], [0.2], [0.3], [0.4]], dtype=np.float64)
    y = np.array([0.0, 0.0, 1.0, 1.0])
    est = _fit(DecisionTreeRegressor(max_depth=1), X, y)
    doc = export(est)
    t = doc["estimator"]["tree"]["threshold"][0]
    a, b = gen_sklearn._f32_neighbors(t)
    m = a / 2 + b / 2
    probes = [t, float(np.nextafter(t, 1.0)), float(np.nextafter(m, -1.0)), m, float(np.nextafter(m, 1.0))]
    want = est.predict(np.array(probes).reshape(-1, 1))
    got = Evaluator().run(doc, [[p] for p in probes])["predict"]
    assert [g[0] for g in got] == list(want)
    # and at least one probe is decided by the float32 cast alone
    assert any((p <= t) != (float(np.float32(p)) <= t) for p in probes)


def test_tree_classifier_value_holds_probabilities():
    from sklearn.tree import DecisionTreeClassifier

    X, y, _ = gen_sklearn.dataset("iris")
    doc = export(_fit(DecisionTreeClassifier(max_depth=2, random_state=0), X, y))
    for row in doc["estimator"]["tree"]["value"]:
        assert abs(sum(row) - 1.0) < 1e-12


def test_nan_thresholds_and_infinity_are_encoded():
    """Trees trained with NaN may split at +inf; the export spells it "Infinity"."""
    from sklearn.tree import DecisionTreeRegressor

    X = np.array([[1.0], [2.0], [np.nan], [np.nan], [3.0], [np.nan]])
    y = np.array([1.0, 1.0, 5.0, 5.0, 1.0, 5.0])
    doc = export(_fit(DecisionTreeRegressor(max_depth=1), X, y))
    assert doc["estimator"]["tree"]["threshold"][0] == "Infinity"
    text = verdict_export.dumps(doc)
    json.loads(text)
    got = Evaluator().run(doc, [[2.0], [None], [2.5]])["predict"]
    assert [g[0] for g in got] == [1.0, 5.0, 1.0]


def test_gradient_boosting_init_raw_matches_sklearn():
    from sklearn.ensemble import GradientBoostingClassifier

    X, y, _ = gen_sklearn.dataset("wine")
    est = _fit(GradientBoostingClassifier(n_estimators=1, max_depth=1, random_state=0), X, y)
    doc = export(est)["estimator"]
    prior = np.bincount(y) / len(y)
    expected = np.log(prior) - np.mean(np.log(prior))
    np.testing.assert_allclose([float(v) for v in doc["init_raw"]], expected, rtol=1e-12)
    assert doc["init"]["kind"] == "DummyClassifier"


def test_hgb_bitset_layout():
    """Category at position p of `categories` is bit p % 32 of word p // 32."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    cats = [f"c{i:02d}" for i in range(40)]
    df = pd.DataFrame({"c": pd.Categorical(rng.choice(cats, 2000), categories=cats)})
    y = np.array([int(s[1:]) % 7 for s in df["c"]], dtype=float)
    est = _fit(HistGradientBoostingRegressor(max_iter=5, categorical_features="from_dtype", random_state=0), df, y)
    doc = export(est)["estimator"]
    assert doc["known_cat_bitsets"][0][0] == 0xFFFFFFFF and doc["known_cat_bitsets"][0][1] == 0xFF
    rows = [[c] for c in cats] + [["unseen"], [None]]
    want = est.predict(pd.DataFrame({"c": pd.Categorical([r[0] for r in rows], categories=cats + ["unseen"])}))
    got = [g[0] for g in Evaluator().run(export(est), rows)["predict"]]
    assert got == list(want)


def test_feature_names_argument():
    from sklearn.linear_model import LinearRegression

    X, y, _ = gen_sklearn.dataset("diabetes")
    est = _fit(LinearRegression(), X, y)
    names = [f"f{i}" for i in range(X.shape[1])]
    doc = export(est, feature_names=names)
    assert doc["input"]["feature_names"] == names
    assert [c["name"] for c in doc["input"]["columns"]] == names
    with pytest.raises(ValueError):
        export(est, feature_names=names[:3])


def test_pipeline_input_columns_describe_kinds():
    case = next(c for c in CASES if c.name == "pipeline_onehot_logistic_pandas")
    est, _ = case.build()
    cols = export(est)["input"]["columns"]
    kinds = {c["name"]: c["kind"] for c in cols}
    assert kinds == {"age": "numeric", "color": "categorical", "income": "numeric",
                     "city": "categorical", "plan": "ignored", "score": "numeric"}
    color = next(c for c in cols if c["name"] == "color")
    assert color["categories"] == ["blue", "green", "missing", "red", "yellow"]


def test_writes_file_and_cli(tmp_path):
    import joblib
    from sklearn.linear_model import Ridge

    X, y, _ = gen_sklearn.dataset("diabetes")
    est = _fit(Ridge(), X, y)
    p = tmp_path / "m.json"
    doc = export(est, str(p))
    assert json.loads(p.read_text()) == json.loads(verdict_export.dumps(doc))
    pkl = tmp_path / "m.joblib"
    joblib.dump(est, pkl)
    out = tmp_path / "cli.json"
    r = subprocess.run([sys.executable, "-m", "verdict.sklearn_export", str(pkl), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "only load files you trust" in r.stderr
    assert json.loads(out.read_text())["estimator"]["type"] == "Ridge"


def test_cli_reports_unsupported(tmp_path):
    import joblib
    from sklearn.neighbors import KNeighborsClassifier

    X, y, _ = gen_sklearn.dataset("iris")
    pkl = tmp_path / "knn.pkl"
    joblib.dump(_fit(KNeighborsClassifier(), X, y), pkl)
    r = subprocess.run([sys.executable, "-m", "verdict.sklearn_export", str(pkl), "-o", str(tmp_path / "o.json")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "KNeighborsClassifier" in r.stderr
    assert not (tmp_path / "o.json").exists()


def _frame():
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 300
    df = pd.DataFrame({
        "s": rng.choice(["a", "b", "c", "d", "e"], size=n, p=[0.4, 0.3, 0.2, 0.07, 0.03]),
        "t": rng.choice(["u", "v"], size=n),
        "k": rng.choice([3.0, 1.0, 2.0], size=n),
        "x": rng.normal(size=n),
        "e": np.nan,
    })
    df.loc[rng.random(n) < 0.1, "s"] = np.nan
    df.loc[rng.random(n) < 0.1, "x"] = np.nan
    df.loc[rng.random(n) < 0.1, "k"] = np.nan
    return df


def _transformers():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

    cat = ["s", "t", "k"]
    out = []
    for drop in (None, "first", "if_binary"):
        for hu, extra in (("error", {}), ("ignore", {}), ("infrequent_if_exist", {"min_frequency": 25}),
                          ("infrequent_if_exist", {"max_categories": 3}), ("ignore", {"min_frequency": 25})):
            if hu == "error":
                continue  # unknown rows below would raise
            out.append((f"ohe-{drop}-{hu}-{sorted(extra)}", cat,
                        OneHotEncoder(drop=drop, handle_unknown=hu, sparse_output=False, **extra)))
    out.append(("ohe-drop-explicit-infrequent", cat,
                OneHotEncoder(drop=["b", "u", 2.0], handle_unknown="infrequent_if_exist", min_frequency=25,
                              sparse_output=False)))
    out += [
        ("ordinal-nan", cat, OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)),
        ("ordinal-codes", cat, OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                              encoded_missing_value=-7)),
        ("imputer-mean-drops-empty", ["x", "e", "k"], SimpleImputer(strategy="mean")),
        ("imputer-median-keep-empty", ["x", "e", "k"], SimpleImputer(strategy="median", keep_empty_features=True)),
        ("imputer-most-frequent-str", ["s", "t"], SimpleImputer(strategy="most_frequent")),
        ("imputer-constant-missing-value", ["t"], SimpleImputer(strategy="constant", missing_values="u", fill_value="Q")),
        ("scaler-no-mean", ["x", "k"], StandardScaler(with_mean=False)),
        ("scaler-no-std", ["x", "k"], StandardScaler(with_std=False)),
        ("minmax-clip", ["x", "k"], MinMaxScaler(feature_range=(-1, 1), clip=True)),
        ("ct-names-slices-remainder-scaler", ["s", "t", "k", "x"], ColumnTransformer(
            [("o", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), slice("s", "t")),
             ("p", "passthrough", ["x"])], remainder=make_pipeline(SimpleImputer(), StandardScaler()))),
        ("ct-bool-mask-drop", ["s", "t", "k", "x"], ColumnTransformer(
            [("o", OneHotEncoder(handle_unknown="ignore", sparse_output=False), [True, True, False, False]),
             ("d", "drop", ["k"])], remainder="passthrough")),
    ]
    return out


TRANSFORMERS = _transformers()


@pytest.mark.parametrize("name,cols,est", TRANSFORMERS, ids=[t[0] for t in TRANSFORMERS])
def test_transformer_parity(name, cols, est):
    import pandas as pd

    df = _frame()[cols]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(df)
    probe = df.iloc[:60].copy()
    unknown = {"s": "zz", "t": "w", "k": 9.0}
    extra = []
    for c in cols:
        if c in unknown and not name.startswith(("imputer", "scaler", "minmax")):
            r = probe.iloc[0].to_dict()
            r[c] = unknown[c]
            extra.append(r)
    X = pd.concat([probe, pd.DataFrame(extra, columns=cols)], ignore_index=True) if extra else probe
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = est.transform(X)
    want = np.asarray(want.toarray() if hasattr(want, "toarray") else want, dtype=object)
    doc = json.loads(verdict_export.dumps(verdict_export._export_any(est, role="transformer")))
    got = Evaluator().transform(doc, gen_sklearn.rows_of(X))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert len(g) == len(w), f"row {i}: width {len(g)} != {len(w)}"
        for a, b in zip(g, w):
            if isinstance(b, str) or isinstance(a, str):
                assert a == b, f"row {i}: {g} != {list(w)}"
            else:
                a, b = float("nan") if a is None else float(a), float(b)
                assert (math.isnan(a) and math.isnan(b)) or a == b, f"row {i}: {g} != {list(w)}"


def test_hgb_categorical_by_mask_and_names():
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    df = _frame()[["s", "k", "x"]]
    y = df["x"].fillna(0).to_numpy() + (df["s"] == "a").to_numpy() + df["k"].fillna(5).to_numpy()
    for spec in ([True, True, False], ["s", "k"]):
        est = _fit(HistGradientBoostingRegressor(max_iter=10, categorical_features=spec, random_state=0), df, y)
        doc = json.loads(verdict_export.dumps(export(est)))
        assert [c["kind"] for c in doc["input"]["columns"]] == ["categorical", "categorical", "numeric"]
        X = pd.concat([df.iloc[:50], pd.DataFrame({"s": ["zz", None], "k": [9.0, np.nan], "x": [0.1, np.nan]})],
                      ignore_index=True)
        got = [g[0] for g in Evaluator().run(doc, gen_sklearn.rows_of(X))["predict"]]
        assert got == list(est.predict(X))


def _more_models():
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingRegressor, RandomForestClassifier)
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    Xd, yd, _ = gen_sklearn.dataset("diabetes")
    Xb, yb, names_b = gen_sklearn.dataset("breast_cancer")
    Xw, yw, names_w = gen_sklearn.dataset("wine")
    pos = np.abs(yd) / 100.0 + 0.1
    return [
        ("linreg-no-intercept", LinearRegression(fit_intercept=False), Xd, yd),
        ("ridge-two-targets", Ridge(), Xd, np.c_[yd, -2 * yd]),
        ("logreg-binary-str-no-intercept", LogisticRegression(fit_intercept=False, max_iter=5000), Xb[:, :5],
         gen_sklearn.str_labels(yb, names_b)),
        ("ovr-linear-svc", OneVsRestClassifier(LinearSVC(max_iter=20000)), Xw[:, :6], yw),
        ("gb-init-most-frequent", GradientBoostingClassifier(init=DummyClassifier(strategy="most_frequent"),
                                                             n_estimators=5), Xw, yw),
        ("gb-init-dummy-constant", GradientBoostingRegressor(init=DummyRegressor(strategy="constant", constant=7.5),
                                                             n_estimators=5), Xd, yd),
        ("gb-bool-labels", GradientBoostingClassifier(n_estimators=5), Xb, yb.astype(bool)),
        ("hgb-gamma", HistGradientBoostingRegressor(loss="gamma", max_iter=10), Xd, pos),
        ("hgb-quantile", HistGradientBoostingRegressor(loss="quantile", quantile=0.8, max_iter=10), Xd, yd),
        ("extra-trees-regressor", ExtraTreesRegressor(n_estimators=5, max_depth=4, random_state=0), Xd, yd),
        ("tree-class-weight", DecisionTreeClassifier(class_weight="balanced", max_depth=4, random_state=0), Xw, yw),
        ("forest-bootstrap-off", RandomForestClassifier(n_estimators=4, bootstrap=False, max_features=None,
                                                        random_state=0), Xw, yw),
    ]


MORE = _more_models()


@pytest.mark.parametrize("name,est,X,y", MORE, ids=[m[0] for m in MORE])
def test_more_estimator_settings(name, est, X, y):
    _fit(est, X, y)
    doc = json.loads(verdict_export.dumps(export(est)))
    rows = gen_sklearn.rows_of(X[:80])
    want = gen_sklearn.outputs(est, X[:80])
    got = Evaluator().run(doc, rows)
    check_outputs(got, want, exact_keys(doc))


# --------------------------------------------------------------------------------------
# Refusals name the class (and the parameter)
# --------------------------------------------------------------------------------------

def _refusals():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder, PolynomialFeatures, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    Xi, yi, _ = gen_sklearn.dataset("iris")
    Xb, yb, _ = gen_sklearn.dataset("breast_cancer")
    y2 = np.c_[yi, yi]

    class MyLogisticRegression(LogisticRegression):
        pass

    df = pd.DataFrame({"a": ["x", "y", "z", "x"] * 10, "b": np.arange(40.0)})
    return [
        ("KNeighborsClassifier", None, lambda: _fit(KNeighborsClassifier(), Xi, yi)),
        ("SVC", None, lambda: _fit(SVC(), Xi, yi)),
        ("MyLogisticRegression", None, lambda: _fit(MyLogisticRegression(max_iter=500), Xi, yi)),
        ("DecisionTreeClassifier", "multi-output", lambda: _fit(DecisionTreeClassifier(), Xi, y2)),
        ("DecisionTreeRegressor", "multi-output", lambda: _fit(DecisionTreeRegressor(), Xi, y2.astype(float))),
        ("SimpleImputer", "add_indicator", lambda: _fit(make_pipeline(SimpleImputer(add_indicator=True), LinearRegression()), Xi, yi)),
        ("PolynomialFeatures", None, lambda: _fit(make_pipeline(PolynomialFeatures(), LinearRegression()), Xi, yi)),
        ("GradientBoostingRegressor", "init", lambda: _fit(GradientBoostingRegressor(init=LinearRegression(), n_estimators=2), Xi, yi)),
        ("GradientBoostingClassifier", "init", lambda: _fit(GradientBoostingClassifier(init=DummyClassifier(strategy="stratified"), n_estimators=2), Xb, yb)),
        ("ColumnTransformer", "transformer_weights", lambda: _fit(make_pipeline(ColumnTransformer([("s", StandardScaler(), [0, 1])], transformer_weights={"s": 2.0}), LinearRegression()), Xi, yi)),
        ("OrdinalEncoder", "min_frequency", lambda: _fit(make_pipeline(OrdinalEncoder(min_frequency=5), LinearRegression()), df[["a"]], np.arange(40.0))),
        ("OneVsRestClassifier", "binary", lambda: _fit(OneVsRestClassifier(LogisticRegression()), Xb[:, :3], yb)),
        ("StandardScaler", "no predict", lambda: _fit(StandardScaler(), Xi, yi)),
        ("HistGradientBoostingClassifier", "not fitted", lambda: HistGradientBoostingClassifier()),
    ]


@pytest.mark.parametrize("cls,param,make", _refusals(), ids=[r[0] + "-" + str(r[1]) for r in _refusals()])
def test_refusal_names_class_and_parameter(cls, param, make):
    est = make()
    with pytest.raises(UnsupportedEstimatorError) as e:
        export(est)
    msg = str(e.value)
    assert cls in msg
    if param:
        assert param in msg


def test_the_package_installs_the_verdict_export_script(tmp_path):
    """`pip install ./crates/python` puts `verdict-export` beside the interpreter, and it is
    the exporter: it refuses an estimator it cannot export, by name."""
    import joblib
    from sklearn.neighbors import KNeighborsClassifier

    script = os.path.join(os.path.dirname(sys.executable), "verdict-export")
    assert os.access(script, os.X_OK), f"{script} was not installed"
    r = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert verdict_export.__version__ in r.stdout
    X, y, _ = gen_sklearn.dataset("iris")
    pkl = tmp_path / "knn.pkl"
    joblib.dump(_fit(KNeighborsClassifier(), X, y), pkl)
    r = subprocess.run([script, str(pkl), "-o", str(tmp_path / "o.json")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "KNeighborsClassifier" in r.stderr


def test_the_exporter_version_is_the_package_version():
    import re

    with open(os.path.join(REPO, "Cargo.toml")) as f:
        m = re.search(r'^version = "([^"]+)"', f.read(), re.M)
    assert m and m.group(1) == verdict_export.__version__
