"""The asyncio client against the real worker."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, List

import pytest

import cloudflare_durable as cd
from conftest import wait_until


async def test_every_operation(url: str, name: Callable[[str], str]) -> None:
    obj = name("aops")
    async with cd.AsyncClient(worker_url=url) as client:
        await client.initialize(obj, {"value": 0})
        assert await client.call_method(obj, "increment", {"increment": 2}) == {"value": 2}
        assert await client.get_state(obj) == {"value": 2}
        assert await client.get_state(obj, "value") == 2
        await client.update_state(obj, "k", [1, "two", {"three": 3.0}])
        assert await client.get_state(obj, "k") == [1, "two", {"three": 3.0}]
        await client.delete_state(obj, "k")
        with pytest.raises(cd.NotFoundError):
            await client.get_state(obj, "k")
        results = await asyncio.gather(
            *(client.call_method(obj, "increment", {"increment": 1}) for _ in range(20))
        )
        assert sorted(r["value"] for r in results) == list(range(3, 23))


async def test_websocket_iteration_and_call(url: str, name: Callable[[str], str]) -> None:
    obj = name("aws")
    async with cd.AsyncClient(worker_url=url) as client:
        await client.initialize(obj, {"value": 10})
        async with client.websocket(obj) as ws:
            assert ws.status == "connected"
            assert await ws.call("increment", {"increment": 5}) == {"value": 15}
            await ws.send({"type": "update", "key": "note", "value": "hello"})
            seen: List[Any] = []
            async for message in ws:
                seen.append(message)
                if message.get("key") == "note":
                    break
            assert seen[0]["type"] == "init" and seen[0]["state"] == {"value": 10}
            assert {"type": "update", "key": "value", "value": 15}.items() <= seen[1].items()
        assert ws.status == "closed"


async def test_a_close_cancelled_while_it_waits_still_closes(
    url: str, name: Callable[[str], str]
) -> None:
    async with cd.AsyncClient(worker_url=url) as client:
        sockets = [await client.websocket(name(f"acancel{i}")) for i in range(3)]
        assert all(ws.status == "connected" for ws in sockets)
        closings = [
            asyncio.ensure_future(sockets[0].close()),
            asyncio.ensure_future(client.close()),
        ]
        # One turn of the loop: each task runs up to its wait on the native close.
        await asyncio.sleep(0)
        for closing in closings:
            closing.cancel()
        for closing in closings:
            with pytest.raises(asyncio.CancelledError):
                await closing
        # The closes were started before the waits, so cancelling the waits did not stop them.
        wait_until(lambda: all(ws.status == "closed" for ws in sockets), 10, "every socket closed")


async def test_callbacks_run_on_loop_thread(url: str, name: Callable[[str], str]) -> None:
    obj = name("acb")
    loop_thread = threading.get_ident()
    got: List[Any] = []
    threads: List[int] = []
    done = asyncio.Event()

    async with cd.AsyncClient(worker_url=url) as client:
        ws = await client.websocket(obj)

        @ws.on_message
        def handle(message: Any) -> None:
            threads.append(threading.get_ident())
            got.append(message)
            if message.get("type") == "update" and message.get("value") == 99:
                done.set()

        async_got: List[Any] = []

        async def handle_async(message: Any) -> None:
            async_got.append(message)

        ws.on_message(handle_async)
        for i in range(50):  # a burst arrives in batches
            await client.update_state(obj, f"k{i}", i)
        await client.update_state(obj, "value", 99)
        await asyncio.wait_for(done.wait(), 20)
        await ws.close()
    assert set(threads) == {loop_thread}
    updates = [m for m in got if m.get("type") == "update"]
    assert [m["key"] for m in updates] == [f"k{i}" for i in range(50)] + ["value"]
    assert len(async_got) >= len(updates)


async def test_unread_messages_survive_timeouts_and_reach_one_iterator_each(
    url: str, name: Callable[[str], str]
) -> None:
    obj = name("aunread")
    async with cd.AsyncClient(worker_url=url) as client:
        async with client.websocket(obj) as ws:
            assert (await ws.recv(10))["type"] == "init"
            with pytest.raises(asyncio.TimeoutError):
                await ws.recv(0.05)  # nothing sent: it times out and takes nothing
            seen: List[Any] = []
            all_seen = asyncio.Event()

            async def take(tag: str) -> None:
                while True:
                    seen.append((tag, (await ws.recv(20))["key"]))
                    if len(seen) == 40:
                        all_seen.set()

            takers = [asyncio.ensure_future(take(tag)) for tag in "ab"]
            for i in range(40):
                await client.update_state(obj, f"k{i}", i)
            await asyncio.wait_for(all_seen.wait(), 20)
            for taker in takers:
                taker.cancel()
            await asyncio.gather(*takers, return_exceptions=True)
            # Every update reached exactly one of the two iterating tasks.
            assert sorted(key for _, key in seen) == sorted(f"k{i}" for i in range(40))
            # Cancelling the waiting tasks took nothing from the socket.
            await client.update_state(obj, "after", 1)
            assert (await ws.recv(10))["key"] == "after"
        with pytest.raises(StopAsyncIteration):
            await ws.recv(1)
        with pytest.raises(StopAsyncIteration):
            await ws.recv(1)  # it stays finished


async def test_unread_messages_past_the_limit_drop_the_oldest(
    url: str,
    name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cloudflare_durable import _async

    monkeypatch.setattr(_async, "_MAX_UNREAD", 8)
    obj = name("adrop")
    async with cd.AsyncClient(worker_url=url) as client:
        async with client.websocket(obj) as ws:
            last = asyncio.Event()
            ws.on_message(lambda m: m.get("key") == "k19" and last.set())
            for i in range(20):
                await client.update_state(obj, f"k{i}", i)
            await asyncio.wait_for(last.wait(), 20)
            kept = [(await ws.recv(1))["key"] for _ in range(8)]
            assert kept == [f"k{i}" for i in range(12, 20)]
            with pytest.raises(asyncio.TimeoutError):
                await ws.recv(0.05)
    warnings = [r for r in caplog.records if "dropping the oldest" in r.getMessage()]
    assert len(warnings) == 1


async def test_on_event_on_loop_thread(url: str, name: Callable[[str], str]) -> None:
    loop_thread = threading.get_ident()
    events: List[cd.Event] = []
    threads: List[int] = []

    def on_event(event: cd.Event) -> None:
        threads.append(threading.get_ident())
        events.append(event)

    async with cd.AsyncClient(worker_url=url, on_event=on_event) as client:
        await client.call_method(name("aev"), "echo", {})
        async with client.websocket(name("aev")):
            pass
        for _ in range(2000):
            if any(e.type == "websocket_connected" for e in events) and any(
                e.type == "request_stop" for e in events
            ):
                break
            await asyncio.sleep(0.01)
    assert {e.type for e in events} >= {"request_start", "request_stop", "websocket_connected"}
    assert set(threads) == {loop_thread}


async def test_not_connected_socket_raises(url: str, name: Callable[[str], str]) -> None:
    async with cd.AsyncClient(worker_url=url) as client:
        ws = client.websocket(name("lazy"))
        assert ws.status == "connecting"
        with pytest.raises(cd.CloudflareDurableError):
            await ws.send({"type": "update", "value": 1})


def test_results_reach_each_new_loop(url: str, name: Callable[[str], str]) -> None:
    # Results come back through a per-loop queue: a thread that runs one
    # loop after another (asyncio.run each time) gets every result on the
    # loop that awaits it, in bursts of concurrent calls and errors alike.
    obj = name("loops")

    async def burst(round_no: int) -> None:
        async with cd.AsyncClient(worker_url=url) as client:
            echoes = await asyncio.gather(
                *(client.call_method(obj, "echo", {"round": round_no, "i": i}) for i in range(200))
            )
            assert echoes == [{"round": round_no, "i": i} for i in range(200)]
            with pytest.raises(cd.NotFoundError):
                await client.get_state(obj, "absent")

    for round_no in range(3):
        asyncio.run(burst(round_no))
