"""The core's whole surface from Python, against the local worker: object
references (namespaces, ids, hints), storage batches, paged listing,
transactions, conditional writes, alarms, SQL, batched calls, ids, tracing;
and the management API against tests/harness/cloudflare_api_mock.py, a
loopback stand-in for Cloudflare's v4 API (these machines cannot reach
api.cloudflare.com)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from cloudflare_durable import (
    AsyncClient,
    BatchCall,
    CheckAbsent,
    CheckEquals,
    Client,
    ConflictError,
    Delete,
    Get,
    InvalidInputError,
    NotFoundError,
    ObjectRef,
    Put,
    UnauthorizedError,
)
from conftest import REPO
from worker import LocalWorker

Name = Callable[[str], str]


@pytest.fixture
def client(url: str) -> Iterator[Client]:
    with Client(url, timeout=10) as c:
        yield c


def test_object_refs_address_namespaces_and_ids(client: Client, name: Name) -> None:
    n = name("ns")
    sql = ObjectRef(n, namespace="sql")
    client.update_state(sql, "k", "in sql")
    client.update_state(n, "k", "in default")
    assert client.get_state(sql, "k") == "in sql"
    assert client.get_state(n, "k") == "in default"
    hex_id = client.namespace_object_id(n, "sql")
    assert len(hex_id) == 64
    assert client.get_state(ObjectRef.from_id(hex_id, namespace="sql"), "k") == "in sql"
    fresh = client.new_unique_id()
    assert fresh != hex_id and len(fresh) == 64
    client.initialize(ObjectRef(id=fresh), {"a": 1})
    assert client.get_state(ObjectRef(id=fresh)) == {"a": 1}
    client.update_state(ObjectRef(name("hint"), location_hint="weur"), "k", 1)
    with pytest.raises(NotFoundError):
        client.get_state(ObjectRef("x", namespace="nope"))
    with pytest.raises(InvalidInputError):
        client.get_state(ObjectRef(id="xyz"))
    with pytest.raises(TypeError):
        ObjectRef()
    with pytest.raises(TypeError):
        client.get_state(42)  # type: ignore[arg-type]


def test_default_namespace(url: str, name: Name) -> None:
    n = name("defns")
    with Client(url, default_namespace="sql") as c:
        c.update_state(n, "k", 1)
    with Client(url) as c:
        assert c.get_state(ObjectRef(n, namespace="sql"), "k") == 1
        with pytest.raises(NotFoundError):
            c.get_state(n, "k")


def test_storage_many_all_and_listing(client: Client, name: Name) -> None:
    obj = name("store")
    entries = {f"k{i:04d}": i for i in range(250)}
    for chunk in range(0, 250, 125):
        client.put_many(obj, dict(list(entries.items())[chunk : chunk + 125]))
    assert client.get_many(obj, ["k0001", "k0002", "absent"]) == {"k0001": 1, "k0002": 2}
    walked = list(client.list(obj, page_size=40))
    assert walked == sorted(entries.items())
    backwards = list(client.list(obj, prefix="k00", reverse=True, page_size=7))
    assert [k for k, _ in backwards] == [f"k{i:04d}" for i in range(99, -1, -1)]
    page, cursor = client.list_page(obj, limit=10)
    assert len(page) == 10 and cursor is not None
    assert client.delete_many(obj, ["k0000", "k0001", "nope"]) == 2
    assert client.delete_all(obj) == 248
    assert list(client.list(obj)) == []
    with pytest.raises(InvalidInputError):
        client.get_many(obj, [])
    with pytest.raises(InvalidInputError):
        client.put_many(obj, {f"k{i}": i for i in range(129)})


def test_transactions_and_conditional_writes(client: Client, name: Name) -> None:
    obj = name("tx")
    results = client.transaction(obj, [Put("a", 1), Get("a"), CheckAbsent("b"), Put("b", 2)])
    assert results[1] == {"value": 1}
    with pytest.raises(ConflictError) as failed:
        client.transaction(obj, [CheckEquals("a", 5), Put("a", 99)])
    assert failed.value.kind == "conflict" and failed.value.status == 409
    assert client.get_state(obj, "a") == 1
    assert client.transaction(obj, [Delete("b"), Get("b")])[1].get("absent") is True
    client.update_state(obj, "a", 2, if_equals=1)
    with pytest.raises(ConflictError):
        client.update_state(obj, "a", 3, if_equals=1)
    client.update_state(obj, "n", None, if_absent=True)
    with pytest.raises(ConflictError):
        client.update_state(obj, "n", 1, if_absent=True)
    client.update_state(obj, "n", 7, if_equals=None)
    assert client.get_state(obj) == {"a": 2, "n": 7}
    with pytest.raises(TypeError):
        client.transaction(obj, ["put"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        client.update_state(obj, "a", 1, if_equals=1, if_absent=True)


def test_alarms_fire_to_sockets(client: Client, name: Name) -> None:
    obj = name("alarm")
    assert client.get_alarm(obj) is None
    far = int(time.time() * 1000) + 3_600_000
    client.set_alarm(obj, far)
    assert client.get_alarm(obj) == far
    client.delete_alarm(obj)
    assert client.get_alarm(obj) is None
    with client.websocket(obj) as ws:
        client.set_alarm(obj, int(time.time() * 1000) + 300)
        deadline = time.monotonic() + 15
        while True:
            message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            if message.get("type") == "alarm":
                break
    with pytest.raises(InvalidInputError):
        client.set_alarm(obj, 2**53)


def test_sql(client: Client, name: Name) -> None:
    rw = ObjectRef(name("sql"), namespace="sql")
    client.sql(rw, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    inserted = client.sql(
        rw, "INSERT INTO notes (body) VALUES (?), (?)", "a'; DROP TABLE notes; --", "b"
    )
    assert inserted.rows_written == 2
    selected = client.sql(rw, "SELECT id, body FROM notes WHERE id >= ? ORDER BY id", 1)
    assert selected.columns == ["id", "body"]
    assert selected.rows == [[1, "a'; DROP TABLE notes; --"], [2, "b"]]
    ro = ObjectRef(name("sqlro"), namespace="sqlro")
    with pytest.raises(InvalidInputError):
        client.sql(ro, "CREATE TABLE t (x)")
    assert client.sql(ro, "SELECT 1 + ? AS two", 1).rows == [[2]]
    with pytest.raises(NotFoundError):
        client.sql(name("nosql"), "SELECT 1")
    with pytest.raises(InvalidInputError):
        client.sql(rw, "SELECT ?", {"not": "scalar"})
    with pytest.raises(InvalidInputError):
        client.sql(rw, "   ")


def test_batch(client: Client, name: Name) -> None:
    obj = name("batch")
    results = client.batch(
        obj,
        [
            BatchCall("increment", {"increment": 2}),
            BatchCall("test_fail", {"status": 404, "message": "nope"}),
            BatchCall("increment", {"increment": 3}, idempotency_key="batch-key-1"),
        ],
    )
    assert results[0]["value"] == 2
    assert isinstance(results[1], NotFoundError)
    assert results[2]["value"] == 5
    with pytest.raises(InvalidInputError):
        client.batch(obj, [])
    with pytest.raises(InvalidInputError):
        client.batch(obj, [BatchCall("not a method!")])
    with pytest.raises(TypeError):
        client.batch(obj, [("increment", {})])  # type: ignore[list-item]


def test_traceparent_reaches_the_worker(client: Client, worker: LocalWorker, name: Name) -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced = client.with_traceparent(tp)
    traced.call_method(name("trace"), "echo", 1)
    deadline = time.monotonic() + 10
    while tp not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "traceparent not in the worker log"
        time.sleep(0.05)
    with pytest.raises(InvalidInputError):
        client.with_traceparent("garbage")


def test_async_surface(url: str, name: Name) -> None:
    async def main() -> None:
        async with AsyncClient(url, timeout=10) as c:
            obj = ObjectRef(name("async"), namespace="sql")
            await c.put_many(obj, {f"k{i:03d}": i for i in range(30)})
            assert await c.get_many(obj, ["k001"]) == {"k001": 1}
            seen: List[str] = []
            async for key, _ in c.list(obj, page_size=4):
                seen.append(key)
            assert seen == [f"k{i:03d}" for i in range(30)]
            assert (await c.transaction(obj, [Put("x", 1), Get("x")]))[1] == {"value": 1}
            with pytest.raises(ConflictError):
                await c.update_state(obj, "x", 2, if_equals=0)
            await c.update_state(obj, "x", 2, if_equals=1)
            assert await c.get_state(obj, "x") == 2
            assert await c.delete_many(obj, ["x"]) == 1
            assert await c.delete_all(obj) == 30
            assert await c.get_alarm(obj) is None
            await c.set_alarm(obj, 2_000_000_000_000)
            assert await c.get_alarm(obj) == 2_000_000_000_000
            await c.delete_alarm(obj)
            r = await c.sql(obj, "SELECT ? AS v", "x")
            assert r.rows == [["x"]]
            b = await c.batch(
                obj, [BatchCall("echo", {"a": 1}), BatchCall("test_fail", {"status": 409})]
            )
            assert b[0] == {"a": 1} and isinstance(b[1], Exception)
            hex_id = await c.namespace_object_id(obj.name or "", "sql")
            assert await c.get_state(ObjectRef(id=hex_id, namespace="sql")) == {}
            assert len(await c.new_unique_id("sql")) == 64
            await c.with_traceparent(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            ).call_method(obj, "echo", 1)
            async with c.websocket(obj) as ws:
                await c.set_alarm(obj, int(time.time() * 1000) + 200)
                while (await ws.recv(15)).get("type") != "alarm":
                    pass
            # cancelling an awaited call cancels the Rust task; the client stays usable
            slow = asyncio.ensure_future(c.call_method(obj, "test_sleep", {"ms": 5000}))
            await asyncio.sleep(0.05)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert await c.call_method(obj, "echo", 3) == 3

    asyncio.run(main())


@pytest.fixture(scope="module")
def api_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The loopback stand-in for Cloudflare's v4 API (not the real API)."""
    state = tmp_path_factory.mktemp("api-mock")
    script = REPO / "tests" / "harness" / "cloudflare_api_mock.py"
    out = subprocess.run(
        [sys.executable, str(script), "start", "--state-dir", str(state), "--token", "api-tok"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    yield out.stdout.strip().splitlines()[-1]
    subprocess.run([sys.executable, str(script), "stop", "--state-dir", str(state)], timeout=60)


def test_management_api_against_the_stand_in(url: str, api_mock: str) -> None:
    with Client(url, account_id="acc123", api_token="api-tok", api_base_url=api_mock) as c:
        first = c.list_namespaces(1, 5)
        assert [n.id for n in first.namespaces] == [f"ns-{i}" for i in range(5)]
        assert first.total_count == 7 and first.has_more
        assert first.namespaces[0].class_name == "Class0"
        second = c.list_namespaces(2, 5)
        assert [n.id for n in second.namespaces] == ["ns-5", "ns-6"] and not second.has_more
        ids: List[str] = []
        cursor = None
        while True:
            page = c.list_objects("ns-1", cursor, limit=10)
            ids += [o.id for o in page.objects]
            cursor = page.cursor
            if cursor is None:
                break
        assert len(ids) == 25 and len(set(ids)) == 25
        with pytest.raises(InvalidInputError):
            c.list_namespaces(0, 5)
        with pytest.raises(InvalidInputError):
            c.list_objects("bad/id")

        async def run_async() -> None:
            async with AsyncClient(
                url, account_id="acc123", api_token="api-tok", api_base_url=api_mock
            ) as a:
                assert len((await a.list_namespaces(1, 10)).namespaces) == 7
                assert len((await a.list_objects("ns-1", limit=100)).objects) == 25

        asyncio.run(run_async())
    with Client(url, account_id="acc123", api_token="wrong", api_base_url=api_mock) as c:
        with pytest.raises(UnauthorizedError):
            c.list_namespaces()
    with Client(url, api_base_url=api_mock) as c:
        with pytest.raises(InvalidInputError):
            c.list_namespaces()


def test_traceparent_from_opentelemetry_current_span(
    client: Client, worker: LocalWorker, name: Name
) -> None:
    trace = pytest.importorskip("opentelemetry.trace")
    import cloudflare_durable

    assert cloudflare_durable.current_traceparent() is None  # no span: none sent
    context = trace.SpanContext(
        trace_id=0x1234567890ABCDEF1234567890ABCDEF,
        span_id=0x1122334455667788,
        is_remote=False,
        trace_flags=trace.TraceFlags(1),
    )
    expected = "00-1234567890abcdef1234567890abcdef-1122334455667788-01"
    with trace.use_span(trace.NonRecordingSpan(context)):
        assert cloudflare_durable.current_traceparent() == expected
        client.call_method(name("otel"), "echo", 1)
    deadline = time.monotonic() + 10
    while expected not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "OpenTelemetry traceparent not in the worker log"
        time.sleep(0.05)
