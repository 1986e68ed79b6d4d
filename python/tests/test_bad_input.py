"""The bad-input matrix from Python: bad object names, method names, values
Python cannot encode as JSON, payloads over the limits, and a hostile server
(tests/harness/hostile_server.py). Each must raise a clear exception and
leave the process working; refusals made client-side must send nothing
(checked with a listener that counts connections)."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple, Type

import pytest

import cloudflare_durable as cd
from conftest import REPO

TRIED: List[str] = []


class CountingListener:
    """Accepts and counts TCP connections on loopback (nothing else)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.connections = 0
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[CountingListener]:
    lst = CountingListener()
    yield lst
    lst.sock.close()


def refused(
    listener: CountingListener,
    what: str,
    action: Callable[[cd.Client], Any],
    errors: Tuple[Type[BaseException], ...] = (cd.InvalidInputError,),
) -> BaseException:
    """`action` must raise one of `errors` without opening a connection."""
    TRIED.append(what)
    before = listener.connections
    with cd.Client(listener.url, timeout=2, retry_count=0) as client:
        with pytest.raises(errors) as raised:
            action(client)
    assert str(raised.value), f"{what}: empty message"
    assert listener.connections == before, f"{what}: something was sent"
    return raised.value


BAD_VALUES: List[Tuple[str, Any, Type[BaseException]]] = [
    ("set", {1, 2}, TypeError),
    ("bytes", b"x", TypeError),
    ("object", object(), TypeError),
    ("Decimal", Decimal("1.5"), TypeError),
    ("complex", 1j, TypeError),
    ("nan", math.nan, ValueError),
    ("inf", math.inf, ValueError),
    ("-inf", [-math.inf], ValueError),
    ("int > 64 bits", 2**64, ValueError),
    ("int < -2^63", -(2**63) - 1, ValueError),
    ("int key", {1: "a"}, TypeError),
    ("tuple key", {(1,): "a"}, TypeError),
    ("lone surrogate", "\ud800", ValueError),
    ("surrogate key", {"\udfff": 1}, ValueError),
    ("nested set", {"a": [{"b": {3}}]}, TypeError),
    ("deep", None, ValueError),  # filled below
    ("cycle", None, ValueError),  # filled below
]


def _deep() -> Any:
    v: Any = 1
    for _ in range(300):
        v = [v]
    return v


def _cycle() -> Any:
    c: List[Any] = []
    c.append(c)
    return c


BAD_VALUES[-2] = ("deep", _deep(), ValueError)
BAD_VALUES[-1] = ("cycle", _cycle(), ValueError)


@pytest.mark.parametrize("label,value,error", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_values_python_cannot_encode(
    listener: CountingListener, label: str, value: Any, error: Type[BaseException]
) -> None:
    for op, action in [
        ("call_method", lambda c: c.call_method("o", "echo", value)),
        ("update_state", lambda c: c.update_state("o", "k", value)),
        ("initialize", lambda c: c.initialize("o", {"k": value})),
        ("put_many", lambda c: c.put_many("o", {"k": value})),
        ("transaction", lambda c: c.transaction("o", [cd.Put("k", value)])),
        ("batch", lambda c: c.batch("o", [cd.BatchCall("echo", value)])),
        ("if_equals", lambda c: c.update_state("o", "k", 1, if_equals=value)),
    ]:
        exc = refused(listener, f"value {label} via {op}", action, (error,))
        assert not isinstance(exc, cd.CloudflareDurableError) or isinstance(exc, ValueError)


BAD_NAMES = [("empty", ""), ("huge", "n" * 10_000), ("control", "a\nb"), ("nul", "a\x00b")]


@pytest.mark.parametrize("label,bad", BAD_NAMES, ids=[b[0] for b in BAD_NAMES])
def test_bad_object_names(listener: CountingListener, label: str, bad: str) -> None:
    refused(listener, f"name {label}", lambda c: c.get_state(bad))
    refused(
        listener, f"name {label} (ref)", lambda c: c.get_state(cd.ObjectRef(bad, namespace="sql"))
    )
    refused(listener, f"name {label} (socket)", lambda c: c.websocket(bad))


def test_lone_surrogate_names_and_keys(listener: CountingListener) -> None:
    exc = refused(listener, "name lone surrogate", lambda c: c.get_state("a\ud800"))
    assert isinstance(exc, cd.InvalidInputError) and exc.field == "object_name"
    # Keys and method names are plain str arguments: Python's own encode error.
    refused(
        listener,
        "key lone surrogate",
        lambda c: c.get_state("o", "\udc00"),
        (ValueError, TypeError),
    )
    refused(
        listener,
        "method lone surrogate",
        lambda c: c.call_method("o", "a\ud800"),
        (ValueError, TypeError),
    )


@pytest.mark.parametrize(
    "method", ["", "not a method!", "a.b", "a-b", "1abc", "_private", "x" * 200, "a/b", "é"]
)
def test_method_names_that_are_not_identifiers(listener: CountingListener, method: str) -> None:
    refused(listener, f"method {method[:20]!r}", lambda c: c.call_method("o", method))
    refused(
        listener, f"batch method {method[:20]!r}", lambda c: c.batch("o", [cd.BatchCall(method)])
    )


def test_payloads_over_the_limits(listener: CountingListener) -> None:
    big_value = "v" * (128 * 1024 + 1)
    refused(listener, "value > 128 KiB", lambda c: c.update_state("o", "k", big_value))
    refused(listener, "put_many value > 128 KiB", lambda c: c.put_many("o", {"k": big_value}))
    big_body = "b" * (1024 * 1024 + 1)
    refused(listener, "params > 1 MiB", lambda c: c.call_method("o", "echo", {"x": big_body}))
    refused(listener, "batch > 1 MiB", lambda c: c.batch("o", [cd.BatchCall("echo", big_body)]))
    refused(listener, "key > 1 KiB", lambda c: c.update_state("o", "k" * 2000, 1))
    refused(listener, "129 keys", lambda c: c.get_many("o", [f"k{i}" for i in range(129)]))
    refused(listener, "65 calls", lambda c: c.batch("o", [cd.BatchCall("echo")] * 65))
    refused(listener, "empty transaction", lambda c: c.transaction("o", []))
    refused(
        listener,
        "idempotency key > limit",
        lambda c: c.call_method("o", "echo", idempotency_key="k" * 1000),
    )
    refused(listener, "bad traceparent", lambda c: c.with_traceparent("00-zz"))
    refused(listener, "negative timeout", lambda c: c.call_method("o", "echo", timeout=-1.0))
    refused(listener, "bad object id", lambda c: c.get_state(cd.ObjectRef(id="../x")))
    refused(listener, "bad namespace", lambda c: c.get_state(cd.ObjectRef("x", namespace="../ns")))
    refused(listener, "alarm beyond 2^53", lambda c: c.set_alarm("o", 2**53))
    refused(
        listener,
        "alarm negative",
        lambda c: c.set_alarm("o", -1),
        (OverflowError, TypeError, ValueError),
    )


def test_path_like_names_are_distinct_objects(
    url: str, name: Callable[[str], str], listener: CountingListener
) -> None:
    """Path-like names are one percent-encoded segment: each is its own
    object; "." and ".." (which URLs resolve) are refused client-side."""
    for dots in (".", ".."):
        refused(listener, f"name {dots!r}", lambda c: c.update_state(dots, "k", 1))
    base = name("p")
    names = ["../x", "a/b", "%2F", "/", "a%2Fb", "?q=1", "#h", " ", "a b", "..\\x"]
    with cd.Client(url, timeout=10) as client:
        for i, n in enumerate(names):
            TRIED.append(f"path-like name {n!r}")
            client.update_state(base + n, "k", i)
        for i, n in enumerate(names):
            assert client.get_state(base + n, "k") == i
        # "a/b" did not write to "a"
        with pytest.raises(cd.NotFoundError):
            client.get_state(base + "a", "k")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("hostile")
    script = REPO / "tests" / "harness" / "hostile_server.py"
    out = subprocess.run(
        [sys.executable, str(script), "start", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    yield out.stdout.strip().splitlines()[-1]
    subprocess.run([sys.executable, str(script), "stop", "--state-dir", str(state)], timeout=60)


HOSTILE = {
    "garbage": cd.InvalidResponseError,
    "truncated": (cd.InvalidResponseError, cd.NetworkError),
    "html": cd.InvalidResponseError,
    "endless": (cd.InvalidResponseError, cd.DurableTimeoutError),
    "not-object": cd.InvalidResponseError,
    "no-result": cd.InvalidResponseError,
    "hang": cd.DurableTimeoutError,
    "proxy-500": (cd.ServerError, cd.HTTPStatusError),
}


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_hostile_server(hostile: str, mode: str) -> None:
    # A fresh client per operation: the server answers one request per connection.
    for op, action in [
        ("call_method", lambda c: c.call_method(mode, "echo", 1)),
        ("get_state", lambda c: c.get_state(mode)),
        ("get_many", lambda c: c.get_many(mode, ["k"])),
        ("list", lambda c: list(c.list(mode))),
        ("transaction", lambda c: c.transaction(mode, [cd.Get("k")])),
    ]:
        TRIED.append(f"hostile {mode} {op}")
        with cd.Client(hostile, timeout=2, retry_count=0) as client:
            with pytest.raises(cd.CloudflareDurableError) as raised:
                action(client)
        assert isinstance(raised.value, HOSTILE[mode]), (op, raised.value)

    async def run_async() -> None:
        async with cd.AsyncClient(hostile, timeout=2, retry_count=0) as a:
            TRIED.append(f"hostile {mode} async")
            with pytest.raises(HOSTILE[mode]):
                await a.call_method(mode, "echo", 1)

    asyncio.run(run_async())


def test_hostile_websocket_frames(hostile: str) -> None:
    """Invalid frames: a clear error or skipped; the valid update arrives or
    the socket ends with an exception, never a crash or a hang."""
    TRIED.append("hostile badframes websocket")
    with cd.Client(hostile, timeout=2, retry_count=0, websocket_reconnect_delay=0.05) as client:
        try:
            ws = client.websocket("badframes")
        except cd.CloudflareDurableError:
            return
        with ws:
            got: List[Any] = []
            try:
                for _ in range(10):
                    got.append(ws.recv(timeout=3))
                    if isinstance(got[-1], dict) and got[-1].get("type") == "update":
                        break
            except cd.CloudflareDurableError as error:
                assert str(error)
            for message in got:
                assert isinstance(message, dict) and "type" in message, got


def test_process_survives_and_report(url: str, name: Callable[[str], str]) -> None:
    with cd.Client(url, timeout=10) as client:
        assert client.call_method(name("alive"), "echo", {"ok": True}) == {"ok": True}
    print(f"\nbad inputs tried: {len(TRIED)}")
    assert len(TRIED) > 100


def test_max_concurrent_requests_bounds_a_burst(hostile: str) -> None:
    """`held` answers with the most requests of its tag the server held at
    once: a burst of 6 never has more than max_concurrent_requests in flight."""

    def held_at_once(tag: str, **options: Any) -> int:
        with cd.Client(hostile, **options) as client, ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda _: client.call_method("held", tag), range(6)))
        return max(r["max_in_flight"] for r in replies)

    assert held_at_once("pyBounded", max_concurrent_requests=2) == 2
    assert held_at_once("pyUnbounded") >= 4

    async def held_at_once_async() -> int:
        async with cd.AsyncClient(hostile, max_concurrent_requests=3) as a:
            replies = await asyncio.gather(*(a.call_method("held", "pyAsync") for _ in range(6)))
        return max(r["max_in_flight"] for r in replies)

    assert asyncio.run(held_at_once_async()) == 3
    with pytest.raises(cd.InvalidInputError, match="max_concurrent_requests"):
        cd.Client(hostile, max_concurrent_requests=0)
