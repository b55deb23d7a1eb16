"""verdict.ray on a local Ray cluster (ray.init starts one on this machine, loopback only).

Ray publishes wheels for Linux x86_64 and aarch64 and for macOS arm64: there, Ray is pinned in
tools/requirements-test.txt and these tests run. Elsewhere they are skipped, saying why.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys

import pyarrow as pa
import pytest
from fixture_cases import Case, check_against_library

import verdict

RAY_PLATFORMS = {("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64")}

if (sys.platform, platform.machine()) not in RAY_PLATFORMS:
    pytest.skip(
        f"Ray publishes no wheel for {sys.platform}/{platform.machine()}",
        allow_module_level=True,
    )

# A one-machine cluster whose every server binds to loopback: Ray reads this when imported
# and then takes 127.0.0.1 as the node's address instead of the machine's network address.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import ray  # noqa: E402 - only where Ray has a wheel

import verdict.ray  # noqa: E402

ALL_OUTPUTS = ["predict", "predict_proba", "raw"]


@pytest.fixture(scope="module")
def cluster():
    # Four logical CPUs on two cores: room for the actors and the tasks that feed them.
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


def dataset(case: Case, blocks: int = 3):
    return ray.data.from_arrow(case.inputs).repartition(blocks)


def collected(ds) -> pa.Table:
    return pa.concat_tables(ray.get(ds.to_arrow_refs())).sort_by("id")


@pytest.mark.parametrize(
    "name",
    [
        "xgboost/nan_heavy",
        "lightgbm/multiclass_wine",
        "sklearn/hist_gradient_boosting_classifier_categorical_pandas",
    ],
)
def test_scores_as_the_library_does(cluster, name):
    case = Case.load(name)
    scored = verdict.ray.predict(
        dataset(case), case.model, outputs=ALL_OUTPUTS, passthrough="id", concurrency=2
    )
    table = collected(scored)
    assert table.column_names[0] == "id"
    check_against_library(case, table)


def test_predictor_in_map_batches_with_a_model_only_the_driver_has(cluster, tmp_path):
    case = Case.load("xgboost/binary_logistic")
    path = tmp_path / "model.json"
    shutil.copyfile(case.model, path)
    contents = path.read_bytes()
    path.unlink()
    scored = dataset(case).map_batches(
        verdict.ray.Predictor,
        fn_constructor_args=(contents,),
        fn_constructor_kwargs={"outputs": ALL_OUTPUTS, "passthrough": ["id"]},
        batch_format="pyarrow",
        batch_size=16,
        compute=ray.data.ActorPoolStrategy(size=1),
    )
    check_against_library(case, collected(scored))


def test_a_missing_column_names_it(cluster):
    case = Case.load("xgboost/binary_logistic")
    ds = dataset(case).drop_columns(["worst area"])
    with pytest.raises(Exception, match="worst area"):
        collected(verdict.ray.predict(ds, case.model))


def test_a_bad_model_file_fails_on_the_driver(tmp_path):
    bad = tmp_path / "model.txt"
    bad.write_text("tree\nversion=v4\n")
    with pytest.raises(verdict.ModelError):
        verdict.ray.Predictor(bad)
