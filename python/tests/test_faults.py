"""The fault scenario from Python (mirrors core/tests/faults.rs): a counter
incremented 1,000 times through tests/harness/fault_proxy.py, which drops 5%
of the replies after the request reached the object, while the worker is
SIGKILLed and restarted 10 times. Every call reported successful must count
exactly once (explicit idempotency keys; `test_count` gives the run count
per key), and a subscriber talking to the worker directly must see a
gap-free `seq` sequence or explicit resyncs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from cloudflare_durable import AsyncClient, Client, CloudflareDurableError, WebSocket
from conftest import REPO
from worker import LocalWorker

CALLS = 1_000
CONCURRENCY = 4
RESTARTS = 10
PROXY = REPO / "tests" / "harness" / "fault_proxy.py"


@pytest.fixture
def proxy(own_worker: LocalWorker, tmp_path: Path) -> Iterator[Tuple[str, Path]]:
    state = tmp_path / "proxy"
    out = subprocess.run(
        [
            sys.executable,
            str(PROXY),
            "start",
            "--state-dir",
            str(state),
            "--target-port",
            str(own_worker.port),
            "--drop-rate",
            "0.05",
            "--seed",
            "7",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    yield out.stdout.strip().splitlines()[-1], state
    subprocess.run([sys.executable, str(PROXY), "stop", "--state-dir", str(state)], timeout=60)


def proxy_stats(state: Path) -> Dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(PROXY), "stats", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout))


def watch_until(socket: WebSocket, target: int) -> Tuple[int, int]:
    """Reads until the subscriber shows `target`; every update must follow
    the previous by exactly one `seq` unless a resync came between."""
    updates = resyncs = value = 0
    last_seq = None
    while value != target:
        message = socket.recv(timeout=30)
        kind = message.get("type")
        if kind in ("init", "resync"):
            resyncs += kind == "resync"
            last_seq = message.get("seq")
            value = int((message.get("state") or {}).get("value", 0))
        elif kind == "update":
            seq = message["seq"]
            if last_seq is not None:
                assert seq == last_seq + 1, f"gap or duplicate without a resync: {message}"
            last_seq = seq
            if message.get("key") == "value":
                value = int(message["value"])
            updates += 1
    return updates, resyncs


def test_exactly_once_under_kills_and_dropped_replies(
    own_worker: LocalWorker, proxy: Tuple[str, Path]
) -> None:
    proxy_url, proxy_state = proxy
    obj = f"faults-{uuid.uuid4().hex[:10]}"
    subscriber = Client(own_worker.url, timeout=10)
    subscriber.initialize(obj, {"value": 0})
    socket = subscriber.websocket(obj)

    successes = 0
    started = 0
    restarts = 0
    lock = threading.Lock()
    progress = threading.Condition(lock)

    def killer() -> None:
        nonlocal restarts
        while restarts < RESTARTS:
            due = (restarts + 1) * CALLS // (RESTARTS + 1)
            with progress:
                if not progress.wait_for(lambda: successes >= due, timeout=120):
                    return
            own_worker.restart()
            restarts += 1

    async def main() -> Tuple[List[str], List[str]]:
        nonlocal successes, started
        keys: List[str] = []
        unresolved: List[str] = []
        async with AsyncClient(proxy_url, timeout=3, retry_count=12, retry_delay=0.02) as client:

            async def caller() -> None:
                nonlocal successes, started
                while True:
                    with lock:
                        if started >= CALLS:
                            return
                        started += 1
                    key = f"inc-{uuid.uuid4().hex}"
                    try:
                        await client.call_method(
                            obj, "increment", {"increment": 1}, idempotency_key=key
                        )
                    except CloudflareDurableError:
                        unresolved.append(key)
                        continue
                    keys.append(key)
                    with progress:
                        successes += 1
                        progress.notify_all()

            await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
            # A call that exhausted its retries may or may not have run:
            # repeating it with the same key runs it at most once.
            for key in unresolved:
                await client.call_method(obj, "increment", {"increment": 1}, idempotency_key=key)
                keys.append(key)
                with progress:
                    successes += 1
        return keys, unresolved

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    keys, unresolved = asyncio.run(main())
    thread.join(timeout=120)
    assert not thread.is_alive()

    final = subscriber.call_method(obj, "get_value", {})["value"]
    counts = subscriber.call_method(obj, "test_count", {})["counts"]
    duplicates = sum(1 for k in keys if counts.get(k, 0) > 1)
    lost = sum(1 for k in keys if counts.get(k, 0) == 0)
    updates, resyncs = watch_until(socket, final)
    stats = proxy_stats(proxy_state)
    print(
        f"\nfaults: calls={CALLS} restarts={restarts} replies_dropped={stats['replies_dropped']} "
        f"successes={successes} failed_then_resolved={len(unresolved)} final={final} "
        f"duplicates={duplicates} lost={lost} updates_seen={updates} resyncs={resyncs}"
    )
    assert len(set(keys)) == CALLS
    assert successes == CALLS
    assert final == successes, "lost or doubled increments"
    assert duplicates == 0 and lost == 0
    assert restarts >= RESTARTS
    assert stats["replies_dropped"] > 0, stats
    assert socket.status == "connected"
    subscriber.close()
