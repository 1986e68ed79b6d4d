"""Interpreter exit with live clients, sockets, callbacks, events and
in-flight async calls: the exit hook (`_native.shutdown`, registered with
atexit) must keep Rust threads off the finalizing interpreter. Regression
test for a segfault seen once in four runs of a benchmark script."""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from worker import LocalWorker

SCRIPT = Path(__file__).parent / "scripts" / "exit_stress.py"
RUNS = 30


def test_exit_is_clean_every_time(worker: LocalWorker) -> None:
    def one(i: int) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            [sys.executable, str(SCRIPT), worker.url, f"exit-{uuid.uuid4().hex[:8]}-{i}"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(one, range(RUNS)))
    failures = [
        (i, r.returncode, r.stderr[-2000:])
        for i, r in enumerate(results)
        if r.returncode != 0 or "done" not in r.stdout
    ]
    print(f"exit stress: {RUNS} runs, {len(failures)} failed")
    assert not failures, failures
