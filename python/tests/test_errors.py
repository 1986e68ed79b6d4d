"""Error kinds and bad input."""

from __future__ import annotations

import asyncio
import http.server
import math
import threading
from typing import Any, Callable, Iterator, List

import pytest

import cloudflare_durable as cd
from cloudflare_durable import _native
from conftest import TOKEN


def test_hierarchy_matches_core_kinds() -> None:
    classes = [
        cd.InvalidInputError,
        cd.UnauthorizedError,
        cd.NotFoundError,
        cd.RateLimitedError,
        cd.ServerError,
        cd.HTTPStatusError,
        cd.DurableTimeoutError,
        cd.NetworkError,
        cd.InvalidResponseError,
        cd.ConnectionClosedError,
        cd.QueueFullError,
        cd.ConflictError,
    ]
    assert [c.kind for c in classes] == _native.error_kinds()
    assert all(issubclass(c, cd.CloudflareDurableError) for c in classes)
    assert issubclass(cd.InvalidInputError, ValueError)
    assert issubclass(cd.DurableTimeoutError, TimeoutError)
    assert issubclass(cd.NetworkError, ConnectionError)
    # A panic in the native code: not a core kind (Elixir's :internal_error).
    assert cd.InternalError.kind == "internal_error"
    assert issubclass(cd.InternalError, cd.CloudflareDurableError)


@pytest.fixture
def client(url: str) -> Iterator[cd.Client]:
    with cd.Client(worker_url=url, retry_count=0, retry_delay=0.01) as c:
        yield c


def test_remote_error_kinds(client: cd.Client, name: Callable[[str], str]) -> None:
    obj = name("err")
    with pytest.raises(cd.NotFoundError) as nf:
        client.call_method(obj, "no_such_method", {})
    assert nf.value.kind == "not_found" and nf.value.status == 404
    with pytest.raises(cd.ServerError) as se:
        client.call_method(obj, "test_fail", {"status": 500, "message": "boom"})
    assert se.value.status == 500 and "boom" in str(se.value)
    with pytest.raises(cd.RateLimitedError) as rl:
        client.call_method(obj, "test_fail", {"status": 429, "retry_after": 120})
    assert rl.value.retry_after == 120.0 and rl.value.kind == "rate_limited"
    with pytest.raises(cd.HTTPStatusError) as he:
        client.call_method(obj, "test_fail", {"status": 418, "message": "teapot"})
    assert he.value.status == 418 and he.value.kind == "http_error"


def test_retry_after_past_any_duration(client: cd.Client, name: Callable[[str], str]) -> None:
    """A `Retry-After: 1e+300` is still a rate limit, its delay saturated."""
    with pytest.raises(cd.RateLimitedError) as rl:
        client.call_method(name("err"), "test_fail", {"status": 429, "retry_after": 1e300})
    assert rl.value.retry_after is not None and rl.value.retry_after > 1e18


async def test_retry_after_past_any_duration_async(url: str, name: Callable[[str], str]) -> None:
    async with cd.AsyncClient(worker_url=url, retry_count=0) as client:
        call = client.call_method(name("err"), "test_fail", {"status": 429, "retry_after": 1e300})
        with pytest.raises(cd.RateLimitedError) as rl:
            await asyncio.wait_for(call, 30)
    assert rl.value.retry_after is not None and rl.value.retry_after > 1e18


def test_timeout(url: str, name: Callable[[str], str]) -> None:
    with cd.Client(worker_url=url, timeout=0.2, retry_count=0) as client:
        with pytest.raises(cd.DurableTimeoutError) as te:
            client.call_method(name("slow"), "test_sleep", {"ms": 3000})
        assert isinstance(te.value, TimeoutError) and te.value.kind == "timeout"
        # A per-call timeout overrides the client's.
        assert client.call_method(name("slow"), "test_sleep", {"ms": 300}, timeout=10) == {
            "slept": 300
        }


def test_network_error() -> None:
    import socket

    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with cd.Client(worker_url=f"http://127.0.0.1:{port}", retry_count=0) as client:
        with pytest.raises(cd.NetworkError) as ne:
            client.get_state("x")
        assert isinstance(ne.value, ConnectionError) and ne.value.kind == "network_error"


def test_invalid_response() -> None:
    class NotTheProtocol(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>hello</html>")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotTheProtocol)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with cd.Client(worker_url=f"http://127.0.0.1:{server.server_port}") as client:
            with pytest.raises(cd.InvalidResponseError) as ir:
                client.get_state("x")
            assert ir.value.kind == "invalid_response"
    finally:
        server.shutdown()


def test_unauthorized_and_token(auth_worker: Any, name: Callable[[str], str]) -> None:
    with cd.Client(worker_url=auth_worker.url) as client:
        with pytest.raises(cd.UnauthorizedError) as ue:
            client.get_state(name("auth"))
        assert ue.value.status == 401 and ue.value.kind == "unauthorized"
        with pytest.raises(cd.UnauthorizedError):
            client.websocket(name("auth"))
    with cd.Client(worker_url=auth_worker.url, api_token="wrong-token") as client:
        with pytest.raises(cd.UnauthorizedError):
            client.call_method(name("auth"), "echo", {})
    with cd.Client(worker_url=auth_worker.url, api_token=TOKEN) as client:
        assert client.call_method(name("auth"), "echo", {"ok": True}) == {"ok": True}
        with client.websocket(name("auth")) as ws:
            assert ws.recv(timeout=10)["type"] == "init"


async def test_unauthorized_async(auth_worker: Any, name: Callable[[str], str]) -> None:
    async with cd.AsyncClient(worker_url=auth_worker.url) as client:
        with pytest.raises(cd.UnauthorizedError):
            await client.get_state(name("auth"))
    async with cd.AsyncClient(worker_url=auth_worker.url, api_token=TOKEN) as client:
        assert await client.get_state(name("auth")) == {}


def test_connection_closed(url: str, name: Callable[[str], str]) -> None:
    with cd.Client(worker_url=url) as client:
        ws = client.websocket(name("closed"))
        ws.close()
        ws.close()  # idempotent
        with pytest.raises(cd.ConnectionClosedError) as cc:
            ws.send({"type": "update", "value": 1})
        assert cc.value.kind == "connection_closed"
        with pytest.raises(cd.ConnectionClosedError):
            ws.call("echo", {})


BAD_VALUES = [
    ({"a": [1, 2, {1, 2}]}, TypeError, 'params["a"][2] is of type set'),
    ({"a": b"bytes"}, TypeError, 'params["a"] is of type bytes'),
    ([object()], TypeError, "params[0] is of type object"),
    ({"x": {"y": math.nan}}, ValueError, 'params["x"]["y"] is NaN'),
    ({"x": math.inf}, ValueError, 'params["x"] is inf'),
    ({"x": -math.inf}, ValueError, 'params["x"] is -inf'),
    ({"n": 2**64}, ValueError, 'params["n"] is the integer 18446744073709551616'),
    ({"n": -(2**63) - 1}, ValueError, 'params["n"] is the integer'),
    ({1: "int key"}, TypeError, "params has a key 1 of type int"),
    ({"s": "\ud800"}, ValueError, 'params["s"] is a str that is not valid Unicode'),
]


@pytest.mark.parametrize("params,exc,text", BAD_VALUES)
def test_bad_values_refused_before_sending(
    url: str, name: Callable[[str], str], params: Any, exc: type, text: str
) -> None:
    events: List[cd.Event] = []
    with cd.Client(worker_url=url, on_event=events.append) as client:
        with pytest.raises(exc) as info:
            client.call_method(name("bad"), "echo", params)
        assert text in str(info.value)
    assert not [e for e in events if e.type == "request_start"]


async def test_bad_values_async(url: str, name: Callable[[str], str]) -> None:
    async with cd.AsyncClient(worker_url=url) as client:
        with pytest.raises(TypeError, match=r'value\["k"\] is of type set'):
            await client.update_state(name("bad"), "k", {"k": {1}})
        ws = await client.websocket(name("bad"))
        with pytest.raises(ValueError, match=r"message\[0\] is NaN"):
            await ws.send([math.nan])
        await ws.close()


def test_cycle_refused(url: str, name: Callable[[str], str]) -> None:
    cyclic: List[Any] = []
    cyclic.append(cyclic)
    with cd.Client(worker_url=url) as client:
        with pytest.raises(ValueError, match="nested more than"):
            client.call_method(name("bad"), "echo", cyclic)


def test_bad_names_and_arguments(url: str, name: Callable[[str], str]) -> None:
    with cd.Client(worker_url=url) as client:
        with pytest.raises(cd.InvalidInputError) as ii:
            client.get_state("")
        assert isinstance(ii.value, ValueError) and ii.value.field == "object_name"
        with pytest.raises(cd.InvalidInputError):
            client.call_method(name("bad"), "_private", {})
        with pytest.raises(cd.InvalidInputError):
            client.update_state(name("bad"), "..", 1)
        with pytest.raises(cd.InvalidInputError):
            client.initialize(name("bad"), [1, 2])  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            client.get_state(42)  # type: ignore[call-overload]
        with pytest.raises(cd.InvalidInputError):
            client.call_method(name("bad"), "echo", {}, idempotency_key="")


def test_bad_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_WORKER_URL", raising=False)
    with pytest.raises(cd.InvalidInputError, match="worker_url is not set"):
        cd.Client()
    with pytest.raises(cd.InvalidInputError, match="timeout"):
        cd.Client(worker_url="http://127.0.0.1:1", timeout=-1.0)
    with pytest.raises(cd.InvalidInputError, match="timeout"):
        cd.Client(worker_url="http://127.0.0.1:1", timeout=0.0)
    with pytest.raises(cd.InvalidInputError, match="plain http"):
        cd.Client(worker_url="http://example.com")
    local = "http://127.0.0.1:1"
    with pytest.raises(cd.InvalidInputError, match="heartbeat_interval must be at most 365 days"):
        cd.Client(worker_url=local, heartbeat_interval=1e19)
    with pytest.raises(cd.InvalidInputError, match="timeout must be at most 365 days"):
        cd.AsyncClient(worker_url=local, timeout=1e12)
    with pytest.raises(cd.InvalidInputError, match="max_concurrent_requests must be at most"):
        cd.Client(worker_url=local, max_concurrent_requests=2**62)
    with pytest.raises(cd.InvalidInputError, match="message_buffer must be at most"):
        cd.AsyncClient(worker_url=local, message_buffer=2**62)
    with pytest.raises(TypeError):
        cd.Client(worker_url="http://127.0.0.1:1", retry_count="3")  # type: ignore[arg-type]


def test_json_walk_returns_equal_values() -> None:
    value = {"a": (1, [2.5, None, True, False]), "b": {"c": "é✓"}, "big": 2**64 - 1}
    assert _native.to_json_value(value) == {
        "a": [1, [2.5, None, True, False]],
        "b": {"c": "é✓"},
        "big": 2**64 - 1,
    }
