"""`verdict predict` reading files from a web server, end to end: the binary against a server
on loopback, run by the test itself.

A web server is read only and cannot be listed: one URL names one file, read through range
requests (a Parquet file's footer, then its row groups; a CSV's blocks), as from S3. The server
here answers them as most do; a second one ignores the `Range` header and sends the whole file,
which `verdict` must refuse by name rather than misread.

    target/s3-venv/bin/python -m pytest crates/cli/tests/object_storage/test_http.py -q
"""

import http.server
import io
import os
import re
import threading

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from common import assert_close_to_xgboost, fixture_rows, run_verdict, write_rows


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the files of a directory, answering `Range: bytes=A-B` with part of one."""

    def log_message(self, *args):
        pass

    def send_head(self):
        requested = self.headers.get("Range")
        path = self.translate_path(self.path)
        if requested is None or not os.path.isfile(path):
            return super().send_head()
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", requested)
        if match is None:
            self.send_error(416)
            return None
        size = os.path.getsize(path)
        start = int(match.group(1))
        end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
        if start > end:
            self.send_error(416)
            return None
        with open(path, "rb") as file:
            file.seek(start)
            body = file.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        # What `do_GET` copies to the client and `do_HEAD` closes: the part, as a file.
        return io.BytesIO(body)


def serve(directory, handler):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *args: handler(*args, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def files(tmp_path):
    """A directory on a web server that answers range requests: (directory, base URL)."""
    directory = tmp_path / "served"
    directory.mkdir()
    server = serve(directory, RangeHandler)
    yield directory, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("extension", ["parquet", "csv", "ndjson"])
def test_a_served_file_scores_as_the_same_local_file(files, tmp_path, extension):
    directory, base = files
    rows, expected = fixture_rows()
    served = directory / f"rows.{extension}"
    # Parquet in row groups of 32 rows: the reader asks for the footer, then for each group.
    write_rows(rows, served)

    remote, local = tmp_path / "remote.csv", tmp_path / "local.csv"
    run = run_verdict(os.environ, "--input", f"{base}/rows.{extension}", "--output", str(remote),
                      "--passthrough", "id", "--chunk-rows", "16")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("scored 150 rows in "), run.stdout
    run = run_verdict(os.environ, "--input", str(served), "--output", str(local),
                      "--passthrough", "id", "--chunk-rows", "16")
    assert run.returncode == 0, run.stderr
    assert remote.read_bytes() == local.read_bytes()
    assert_close_to_xgboost(pa_csv.read_csv(remote), expected)


def test_a_missing_file_is_named(files, tmp_path):
    _, base = files
    url = f"{base}/absent.parquet"
    run = run_verdict(os.environ, "--input", url, "--output", str(tmp_path / "out.csv"))
    assert run.returncode == 1
    assert run.stderr == f"verdict: no object matches `{url}`\n"
    assert not (tmp_path / "out.csv").exists()


def test_a_web_server_is_neither_listed_nor_written(files, tmp_path):
    directory, base = files
    pq.write_table(fixture_rows()[0], directory / "rows.parquet")
    run = run_verdict(os.environ, "--input", f"{base}/*.parquet", "--output", str(tmp_path / "out.csv"))
    assert run.returncode == 1
    assert run.stderr == (
        f"verdict: `{base}/*.parquet`: an HTTP server cannot be listed, so its URLs cannot be globs; "
        "name one file\n"
    )
    out = f"{base}/scores.csv"
    run = run_verdict(os.environ, "--input", f"{base}/rows.parquet", "--output", out)
    assert run.returncode == 1
    assert run.stderr == (
        f"verdict: cannot write {out}: an HTTP server is read-only here; write to s3://, gs:// or az://\n"
    )
    assert sorted(p.name for p in directory.iterdir()) == ["rows.parquet"]


@pytest.mark.parametrize("extension", ["parquet", "csv"])
def test_a_server_without_range_requests_is_refused_by_name(tmp_path, extension):
    rows, _ = fixture_rows()
    served = tmp_path / f"rows.{extension}"
    write_rows(rows, served)
    # Python's own file server ignores `Range` and always sends the whole file.
    server = serve(tmp_path, http.server.SimpleHTTPRequestHandler)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/rows.{extension}"
        run = run_verdict(os.environ, "--input", url, "--output", str(tmp_path / "out.csv"))
    finally:
        server.shutdown()
    assert run.returncode == 1
    assert run.stderr == (
        f"verdict: the server of `{url}` does not answer range requests (HTTP `Range`), which reading "
        "an object needs; serve the file from one that does, or copy it to a local file first\n"
    )
    assert not (tmp_path / "out.csv").exists()
