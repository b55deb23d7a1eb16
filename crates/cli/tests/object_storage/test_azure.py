"""`verdict predict` with Azure Blob Storage, end to end: the binary against Azurite.

Azurite is Microsoft's Azure Storage emulator, on loopback, started by `tools/azurite.sh start`
(tools/test-all.sh starts it and runs these tests). It checks each request's Shared Key
signature, so a wrong account key is refused as by Azure. `verdict` finds it as any Azure
client finds the emulator (AZURE_STORAGE_USE_EMULATOR, AZURITE_BLOB_STORAGE_URL for its port,
the emulator's well-known account); azure-storage-blob puts inputs in and looks at what
`verdict` left, including blobs whose blocks were staged but never committed.

Predictions are checked against XGBoost's own and against `verdict predict` on the same rows in
local files, as in test_s3.py: the store changes where the bytes are, nothing else.

    tools/azurite.sh start && eval "$(tools/azurite.sh env)"
    target/s3-venv/bin/python -m pytest crates/cli/tests/object_storage/test_azure.py -q

Without a server the tests fail under CI (CI=true) and are skipped, loudly, elsewhere.
"""

import base64
import io
import itertools
import os
import subprocess
import tempfile
import time

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from azure.storage.blob import BlobServiceClient

from common import MODEL, assert_close_to_xgboost, assert_scored_all_rows, fixture_rows, run_verdict, server_location, verdict_bin, write_rows

# The emulator's one account and its key, published by Microsoft for every Azurite.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
EMPTY_HOME = tempfile.mkdtemp(prefix="verdict-azure-home-")


@pytest.fixture(scope="session")
def endpoint():
    return server_location("VERDICT_TEST_AZURE_ENDPOINT", "Azure", "tools/azurite.sh")


@pytest.fixture(scope="session")
def service(endpoint):
    return BlobServiceClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={endpoint}/{ACCOUNT};"
    )


_containers = itertools.count()


@pytest.fixture
def container(service):
    """A new, empty container for each test."""
    name = f"verdict-test-{os.getpid()}-{next(_containers)}"
    service.create_container(name)
    return service.get_container_client(name)


def azure_env(endpoint, **overrides):
    """The environment `verdict` finds the emulator and its account in, as a user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZURITE_"))}
    env.update(
        AZURE_STORAGE_USE_EMULATOR="true",
        AZURITE_BLOB_STORAGE_URL=endpoint,
        AZURE_STORAGE_ACCOUNT_NAME=ACCOUNT,
        AZURE_STORAGE_ACCOUNT_KEY=ACCOUNT_KEY,
        HOME=EMPTY_HOME,
    )
    env.update(overrides)
    return env


def predict(endpoint, *args, env=None):
    return run_verdict(env or azure_env(endpoint), *args)


def put_parquet(container, name, table):
    sink = io.BytesIO()
    pq.write_table(table, sink)
    container.upload_blob(name, sink.getvalue())


def get_bytes(container, name):
    return container.download_blob(name).readall()


def blobs(container, prefix="", uncommitted=False):
    """The names of the container's blobs; with `uncommitted`, also those that have only
    staged blocks (an upload not committed), which readers do not see."""
    include = ["uncommittedblobs"] if uncommitted else None
    return sorted(b.name for b in container.list_blobs(name_starts_with=prefix, include=include))


def test_a_parquet_glob_over_blobs_scores_as_the_same_local_files(endpoint, container, tmp_path):
    rows, expected = fixture_rows()
    parts = [rows.slice(0, 40), rows.slice(40, 60), rows.slice(100, 50)]
    for i, part in enumerate(parts):
        put_parquet(container, f"in/part-{i}.parquet", part)
        pq.write_table(part, tmp_path / f"part-{i}.parquet")
    # Not matched by in/*.parquet: one level down, and another extension.
    put_parquet(container, "in/old/part-9.parquet", rows.slice(0, 7))
    container.upload_blob("in/README.md", b"not rows")
    url = f"az://{container.container_name}"

    run = predict(endpoint, "--input", f"{url}/in/*.parquet", "--output", f"{url}/out/scores.parquet",
                  "--passthrough", "id")
    scored = assert_scored_all_rows(run, f"{url}/out/scores.parquet",
                                    get_bytes(container, "out/scores.parquet"), expected)

    local = tmp_path / "scores.parquet"
    run = predict(endpoint, "--input", str(tmp_path / "part-*.parquet"), "--output", str(local),
                  "--passthrough", "id")
    assert run.returncode == 0, run.stderr
    assert scored.equals(pq.read_table(local))

    # A prefix reads like a directory: the blobs directly under it with a known extension.
    run = predict(endpoint, "--input", f"{url}/in/", "--output", f"{url}/out/prefix.parquet",
                  "--passthrough", "id")
    assert run.returncode == 0, run.stderr
    assert pq.read_table(io.BytesIO(get_bytes(container, "out/prefix.parquet"))).equals(scored)
    assert blobs(container, "out/", uncommitted=True) == ["out/prefix.parquet", "out/scores.parquet"]


@pytest.mark.parametrize("extension", ["csv", "ndjson"])
def test_text_blobs_stream_into_the_block_readers(endpoint, container, tmp_path, extension):
    rows, expected = fixture_rows()
    local_input = tmp_path / f"rows.{extension}"
    write_rows(rows, local_input)
    container.upload_blob(f"in/rows.{extension}", local_input.read_bytes())
    url = f"az://{container.container_name}"

    # Small chunks: the blob is cut into many blocks as it streams in.
    run = predict(endpoint, "--input", f"{url}/in/rows.{extension}", "--output", f"{url}/out/scores.csv",
                  "--passthrough", "id", "--chunk-rows", "16")
    assert run.returncode == 0, run.stderr
    local_output = tmp_path / "scores.csv"
    run = predict(endpoint, "--input", str(local_input), "--output", str(local_output),
                  "--passthrough", "id", "--chunk-rows", "16")
    assert run.returncode == 0, run.stderr
    written = get_bytes(container, "out/scores.csv")
    assert written == local_output.read_bytes()
    assert_close_to_xgboost(pa_csv.read_csv(io.BytesIO(written)), expected)


def test_an_existing_blob_is_kept_unless_replace_is_asked(endpoint, container):
    put_parquet(container, "in/rows.parquet", fixture_rows()[0])
    container.upload_blob("out/scores.parquet", b"yesterday's scores")
    url = f"az://{container.container_name}"
    args = ["--input", f"{url}/in/rows.parquet", "--output", f"{url}/out/scores.parquet"]

    run = predict(endpoint, *args)
    assert run.returncode == 1
    assert run.stderr == (
        f"verdict: {url}/out/scores.parquet already exists; pass --if-exists replace to overwrite it\n"
    )
    assert get_bytes(container, "out/scores.parquet") == b"yesterday's scores"

    run = predict(endpoint, *args, "--if-exists", "replace")
    assert run.returncode == 0, run.stderr
    assert pq.read_table(io.BytesIO(get_bytes(container, "out/scores.parquet"))).num_rows == 150


def test_a_run_that_fails_midway_leaves_no_blob(endpoint, container):
    rows, _ = fixture_rows()
    put_parquet(container, "in/part-0.parquet", rows.slice(0, 100))
    second = rows.slice(100, 50)
    feature = rows.column_names[5]
    values = [str(v) for v in second.column(feature).to_pylist()]
    values[30] = "n/a"
    put_parquet(container, "in/part-1.parquet", second.set_column(5, feature, pa.array(values)))
    url = f"az://{container.container_name}"

    # Chunks of 10 rows: the first blob's are scored and written before the second fails.
    run = predict(endpoint, "--input", f"{url}/in/*.parquet", "--output", f"{url}/out/scores.parquet",
                  "--chunk-rows", "10")
    assert run.returncode == 1
    assert run.stderr == (
        f"verdict: column `{feature}`, row 31 of {url}/in/part-1.parquet: `n/a` is not a number\n"
    )
    assert blobs(container, "out/") == []


def test_a_killed_run_leaves_no_visible_blob(endpoint, container):
    rows, _ = fixture_rows()
    # 600,000 rows in chunks of 100: the CSV output passes a part (8 MiB) long before the end.
    put_parquet(container, "in/rows.parquet", pa.concat_tables([rows] * 4000))
    url = f"az://{container.container_name}"
    process = subprocess.Popen(
        [verdict_bin(), "predict", "--model", str(MODEL), "--input", f"{url}/in/rows.parquet",
         "--output", f"{url}/out/scores.csv", "--chunk-rows", "100"],
        env=azure_env(endpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Once a block is staged, the output is being written.
    deadline = time.monotonic() + 120
    while not blobs(container, "out/", uncommitted=True):
        assert process.poll() is None, f"the run ended before a block was seen: {process.communicate()}"
        assert time.monotonic() < deadline, "no block was staged"
        time.sleep(0.05)
    process.kill()
    process.communicate(timeout=60)
    # Its staged blocks stay (Azure drops uncommitted blocks after a week), but no blob appears.
    assert blobs(container, "out/") == []


def test_a_missing_container_or_blob_is_named(endpoint, container):
    put_parquet(container, "in/rows.parquet", fixture_rows()[0])
    url = f"az://{container.container_name}"
    for missing in [f"{url}/nothing/*.parquet", f"{url}/in/rows.csv"]:
        run = predict(endpoint, "--input", missing, "--output", f"{url}/out/scores.parquet")
        assert run.returncode == 1
        assert run.stderr == f"verdict: no object matches `{missing}`\n"
    absent = f"{url}-absent/in/*.parquet"
    run = predict(endpoint, "--input", absent, "--output", "/dev/null/never.parquet")
    assert run.returncode == 1
    assert run.stderr.startswith(f"verdict: the bucket of `{absent}` does not exist"), run.stderr


def test_a_wrong_account_key_is_refused_before_any_row_is_scored(endpoint, container, tmp_path):
    rows, _ = fixture_rows()
    put_parquet(container, "in/rows.parquet", rows)
    pq.write_table(rows, tmp_path / "rows.parquet")
    env = azure_env(endpoint, AZURE_STORAGE_ACCOUNT_KEY=base64.b64encode(b"not the key" * 6).decode())
    url = f"az://{container.container_name}"
    hint = "check the credentials it is given (AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY"
    # A listing's answer carries Azure's error code and message; a HEAD's only its status.
    for source, reason in [(f"{url}/in/*.parquet", "(AuthorizationFailure: Server failed to authenticate the request."),
                           (f"{url}/in/rows.parquet", "(403 Forbidden)")]:
        run = predict(endpoint, "--input", source, "--output", str(tmp_path / "out.parquet"), env=env)
        assert run.returncode == 1
        assert run.stderr.startswith(f"verdict: object storage refused access to `{source}` {reason}"), run.stderr
        assert hint in run.stderr, run.stderr
        assert not (tmp_path / "out.parquet").exists()
    # Writing: refused when the run checks its output, before reading the input.
    out = f"{url}/out/scores.parquet"
    run = predict(endpoint, "--input", str(tmp_path / "rows.parquet"), "--output", out, env=env)
    assert run.returncode == 1
    assert run.stderr.startswith(f"verdict: object storage refused access to `{out}`"), run.stderr
    assert blobs(container, "out/", uncommitted=True) == []
