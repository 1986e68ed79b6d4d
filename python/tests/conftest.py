"""Fixtures: real local workers started with the shared harness."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "harness"))

from worker import LocalWorker  # noqa: E402

TOKEN = "py-test-token-123"


@pytest.fixture(scope="session")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorker]:
    """One worker (test hooks on, no auth) for the whole session."""
    w = LocalWorker(tmp_path_factory.mktemp("worker"))
    w.start()
    yield w
    w.stop()


@pytest.fixture(scope="session")
def auth_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorker]:
    """A second worker that requires a bearer token."""
    w = LocalWorker(tmp_path_factory.mktemp("auth-worker"), token=TOKEN)
    w.start()
    yield w
    w.stop()


@pytest.fixture
def own_worker(tmp_path: Path) -> Iterator[LocalWorker]:
    """A worker of this test alone (for restarts and kills)."""
    w = LocalWorker(tmp_path / "own")
    w.start()
    yield w
    w.stop()


@pytest.fixture
def url(worker: LocalWorker) -> str:
    return worker.url


@pytest.fixture
def name() -> Callable[[str], str]:
    """Object names unique to this test."""
    run = uuid.uuid4().hex[:10]
    return lambda base: f"{base}-{run}"


def wait_until(pred: Callable[[], bool], limit: float = 20.0, what: str = "condition") -> None:
    """Polls `pred` until true, failing after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
