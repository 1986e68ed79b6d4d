"""CLOUDFLARE_DURABLE_RUNTIME_THREADS: the native runtime's worker count.

The runtime is process-wide and reads the variable once, so each case runs in
a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Callable

import pytest

# Makes one call, then prints how many of the process's threads are the
# runtime's workers (named "cloudflare-durable", which Linux cuts to 15
# characters), or the error's class and field.
SCRIPT = """
import json, os, sys
import cloudflare_durable as cd
try:
    with cd.Client(sys.argv[1], timeout=10) as client:
        assert client.call_method(sys.argv[2], "echo", {"n": 1}) == {"n": 1}
        workers = 0
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/comm") as f:
                workers += f.read().strip() == "cloudflare-durable"[:15]
        print(json.dumps({"workers": workers}))
except cd.CloudflareDurableError as e:
    print(json.dumps({"error": type(e).__name__, "field": getattr(e, "field", None), "message": str(e)}))
"""


def run_with(value: str | None, url: str, obj: str) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("CLOUDFLARE_DURABLE_RUNTIME_THREADS", None)
    if value is not None:
        env["CLOUDFLARE_DURABLE_RUNTIME_THREADS"] = value
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, obj],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_one_worker_by_default(url: str, name: Callable[[str], str]) -> None:
    assert run_with(None, url, name("rt-default")) == {"workers": 1}


def test_the_variable_sets_the_worker_count(url: str, name: Callable[[str], str]) -> None:
    assert run_with("3", url, name("rt-three")) == {"workers": 3}


@pytest.mark.parametrize("bad", ["0", "two", "-1", "1000"])
def test_a_bad_value_is_refused_when_the_client_is_built(
    url: str, name: Callable[[str], str], bad: str
) -> None:
    result = run_with(bad, url, name("rt-bad"))
    assert result["error"] == "InvalidInputError"
    assert result["field"] == "config"
    assert "CLOUDFLARE_DURABLE_RUNTIME_THREADS" in result["message"] and bad in result["message"]
