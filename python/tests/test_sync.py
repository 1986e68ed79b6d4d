"""The blocking client against the real worker."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List

import pytest

import cloudflare_durable as cd
from conftest import wait_until


def test_every_operation(url: str, name: Callable[[str], str]) -> None:
    obj = name("ops")
    with cd.Client(worker_url=url) as client:
        assert client.initialize(obj, {"value": 0, "label": "x"}) is None
        assert client.call_method(obj, "increment", {"increment": 5}) == {"value": 5}
        assert client.call_method(obj, "increment") == {"value": 6}
        assert client.get_state(obj) == {"value": 6, "label": "x"}
        assert client.get_state(obj, "label") == "x"
        client.update_state(obj, "nested", {"a": [1, 2.5, None, True], "t": (1, 2)})
        assert client.get_state(obj, "nested") == {"a": [1, 2.5, None, True], "t": [1, 2]}
        client.delete_state(obj, "label")
        with pytest.raises(cd.NotFoundError):
            client.get_state(obj, "label")
        assert "label" not in client.get_state(obj)
        assert client.call_method(obj, "echo", {"big": 2**53, "neg": -(2**53)}) == {
            "big": 2**53,
            "neg": -(2**53),
        }


def test_idempotency_key_runs_once(url: str, name: Callable[[str], str]) -> None:
    obj = name("idem")
    with cd.Client(worker_url=url) as client:
        first = client.call_method(obj, "increment", {"increment": 1}, idempotency_key="k-1")
        again = client.call_method(obj, "increment", {"increment": 1}, idempotency_key="k-1")
        assert first == again == {"value": 1}
        assert client.call_method(obj, "get_value") == {"value": 1}


def test_websocket_iterate_send_call(url: str, name: Callable[[str], str]) -> None:
    obj = name("sync-ws")
    with cd.Client(worker_url=url) as client:
        client.initialize(obj, {"value": 1})
        with client.websocket(obj) as ws:
            assert ws.status == "connected"
            assert ws.object == obj
            first = ws.recv(timeout=10)
            assert first["type"] == "init" and first["state"] == {"value": 1}
            assert ws.call("increment", {"increment": 2}) == {"value": 3}
            ws.send({"type": "update", "key": "other", "value": "hi"})
            seen: List[Any] = []
            for message in ws:
                seen.append(message)
                if message.get("key") == "other":
                    break
            assert seen[0] == {**seen[0], "type": "update", "key": "value", "value": 3}
            assert seen[-1]["value"] == "hi"
        assert ws.status == "closed"
        assert client.get_state(obj, "other") == "hi"


def test_recv_timeout(url: str, name: Callable[[str], str]) -> None:
    with cd.Client(worker_url=url) as client:
        with client.websocket(name("quiet")) as ws:
            assert ws.recv(timeout=10)["type"] == "init"
            with pytest.raises(cd.DurableTimeoutError):
                ws.recv(timeout=0.05)


def test_client_exit_closes_sockets(url: str, name: Callable[[str], str]) -> None:
    client = cd.Client(worker_url=url)
    with client:
        ws = client.websocket(name("exit"))
        assert ws.status == "connected"
    assert ws.status == "closed"
    assert client.closed
    remaining = list(ws)  # ends (buffered messages, then StopIteration)
    assert all(m["type"] == "init" for m in remaining)
    with pytest.raises(cd.ConnectionClosedError):
        client.get_state(name("exit"))


def test_shared_between_threads(url: str, name: Callable[[str], str]) -> None:
    obj = name("threads")
    with cd.Client(worker_url=url) as client:
        client.initialize(obj, {"value": 0})
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(
                pool.map(
                    lambda _: client.call_method(obj, "increment", {"increment": 1}), range(40)
                )
            )
        assert sorted(r["value"] for r in results) == list(range(1, 41))
        assert client.get_state(obj, "value") == 40


def test_on_event_runs_on_dispatcher_thread(url: str, name: Callable[[str], str]) -> None:
    events: List[cd.Event] = []
    threads: List[str] = []

    def on_event(event: cd.Event) -> None:
        threads.append(threading.current_thread().name)
        events.append(event)

    obj = name("events")
    with cd.Client(worker_url=url, on_event=on_event) as client:
        client.call_method(obj, "echo", {})
        with pytest.raises(cd.NotFoundError):
            client.call_method(obj, "nope", {})
        with client.websocket(obj):
            pass
        wait_until(lambda: any(e.type == "websocket_connected" for e in events), what="events")
        wait_until(lambda: sum(e.type == "request_stop" for e in events) >= 2, what="stops")
    kinds = [e.type for e in events]
    assert "request_start" in kinds
    stop = next(e for e in events if e.type == "request_stop" and e.method == "echo")
    assert stop.error is None and stop.attempts == 1 and stop.duration is not None
    failed = next(e for e in events if e.type == "request_stop" and e.method == "nope")
    assert failed.error == "not_found"
    assert set(threads) == {"cloudflare-durable-events"}


def test_logger_receives_events(
    url: str, name: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cloudflare_durable")
    with cd.Client(worker_url=url) as client:
        client.call_method(name("log"), "echo", {})
        wait_until(
            lambda: any("request_stop" in r.getMessage() for r in caplog.records), what="log"
        )
    assert all(r.name == "cloudflare_durable" for r in caplog.records)


def test_environment_fallback(
    url: str, name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_WORKER_URL", url)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with cd.Client() as client:
        assert client.worker_url.startswith(url)
        assert client.call_method(name("env"), "echo", {"a": 1}) == {"a": 1}
