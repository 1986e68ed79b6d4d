"""The examples in python/examples run against the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("example", ["counter.py", "websocket.py"])
def test_example_runs(url: str, example: str) -> None:
    env = dict(os.environ, CLOUDFLARE_WORKER_URL=url)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / example)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout
