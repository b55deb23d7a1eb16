#!/usr/bin/env python3
"""Soak test of `verdict serve` (not run in CI): mixed good and bad requests at several
concurrency levels while the model file is rewritten every few seconds (hot reload).

It starts the server on 127.0.0.1 (with --max-rows 1000, so that one bad kind is a body over
the row limit) with a copy of examples/models/breast_cancer_xgb.json, runs
each concurrency level for an equal share of the time, and reports the requests sent, the
good requests that failed, the bad requests answered with an unexpected status, by kind, and
the server's resident memory at the start, the middle and the end.

    cargo build -p verdict-cli            # or --release, and pass --binary target/release/verdict
    python3 tools/soak.py --minutes 10 --levels 1,8,32

Only the Python standard library is used. Every loop is bounded by the time limit.
"""

import argparse
import csv
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_rows():
    with open(ROOT / "examples/data/breast_cancer.csv") as f:
        reader = csv.DictReader(f)
        return [[float(row[k]) for k in reader.fieldnames if k not in ("id", "target")] for row in reader]


def requests_of(rows):
    """(kind, method, path, body, content type, expected statuses)."""
    row = random.choice(rows)
    many = random.sample(rows, 16)
    good = [
        ("simple", "POST", "/predict", json.dumps({"input": row}), "application/json", {200}),
        ("simple-batch", "POST", "/predict", json.dumps({"inputs": many}), "application/json", {200}),
        ("v2", "POST", "/v2/models/model/infer",
         json.dumps({"inputs": [{"name": "x", "shape": [16, 30], "datatype": "FP64",
                                 "data": [v for r in many for v in r]}]}), "application/json", {200}),
        ("mlflow", "POST", "/invocations", json.dumps({"inputs": many}), "application/json", {200}),
        ("ready", "GET", "/v2/health/ready", None, None, {200}),
    ]
    bad = [
        ("bad-json", "POST", "/predict", '{"input": [1, 2,', "application/json", {400}),
        ("bad-width", "POST", "/predict", json.dumps({"input": row[:5]}), "application/json", {400}),
        ("bad-model", "POST", "/v2/models/nope/infer", json.dumps({"inputs": []}), "application/json", {404}),
        ("bad-type", "POST", "/invocations", "a,b\n1,2", "text/plain", {415}),
        ("bad-rows", "POST", "/predict", json.dumps({"inputs": [row] * 2000}), "application/json", {413}),
        ("bad-form", "POST", "/v2/repository/models/model/unload", "a=1",
         "application/x-www-form-urlencoded", {415}),
    ]
    return random.choice(good if random.random() < 0.7 else bad)


def client(port, rows, deadline, totals, lock):
    counts = Counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < deadline:
        kind, method, path, body, content_type, expected = requests_of(rows)
        headers = {"Content-Type": content_type} if content_type else {}
        counts["requests"] += 1
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            counts[f"{kind}: {type(error).__name__}"] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if status not in expected:
            counts[f"{kind}: status {status}"] += 1
        elif status >= 300:
            counts[f"expected non-2xx {status}"] += 1
    connection.close()
    with lock:
        totals.update(counts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target/debug/verdict"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--reload-seconds", type=float, default=3.0)
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    rows = load_rows()
    workdir = Path(tempfile.mkdtemp(prefix="verdict-soak-"))
    model = workdir / "model.json"
    source = ROOT / "examples/models/breast_cancer_xgb.json"
    shutil.copy(source, model)
    server = subprocess.Popen(
        [args.binary, "serve", "--model-dir", str(workdir), "--port", "0", "--poll-ms", "500",
         "--max-rows", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "RUST_LOG": "warn"})
    try:
        first = server.stdout.readline()
        port = int(first.strip().rstrip("/").rsplit(":", 1)[1])
        threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
        start = time.monotonic()
        end = start + args.minutes * 60
        rss = {"start": rss_mib(server.pid)}
        stop_reloads = threading.Event()

        def reload_loop():
            # A new file (same model) swapped in atomically, as a deployment would.
            while not stop_reloads.wait(args.reload_seconds):
                fresh = workdir / ".model.json.new"
                shutil.copy(source, fresh)
                os.replace(fresh, model)

        reloader = threading.Thread(target=reload_loop, daemon=True)
        reloader.start()
        totals, lock = Counter(), threading.Lock()
        share = (end - start) / len(levels)
        for i, level in enumerate(levels):
            deadline = start + share * (i + 1)
            threads = [threading.Thread(target=client, args=(port, rows, deadline, totals, lock))
                       for _ in range(level)]
            for t in threads:
                t.start()
            if i == len(levels) // 2:
                time.sleep(max(0.0, (deadline - time.monotonic()) / 2))
                rss["middle"] = rss_mib(server.pid)
            for t in threads:
                t.join()
            print(f"level {level}: done at {time.monotonic() - start:.0f} s, "
                  f"{totals['requests']} requests so far", file=sys.stderr)
        stop_reloads.set()
        rss["end"] = rss_mib(server.pid)
        report = {
            "minutes": args.minutes,
            "levels": levels,
            "requests": totals.pop("requests", 0),
            "outcomes": dict(sorted(totals.items())),
            "rss_mib": {k: round(v, 1) for k, v in rss.items()},
            "binary": args.binary,
        }
        print(json.dumps(report, indent=2))
        unexpected = {k: v for k, v in totals.items() if not k.startswith("expected")}
        return 1 if unexpected else 0
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
