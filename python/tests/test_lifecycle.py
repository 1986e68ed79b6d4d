"""Reconnection after a worker restart, full send queue, fork() and Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, List

import pytest

import cloudflare_durable as cd
from conftest import wait_until

FAST = dict(websocket_reconnect_delay=0.05, websocket_max_reconnect_delay=0.5, retry_delay=0.05)


async def test_async_socket_reconnects_after_restart(
    own_worker: Any, name: Callable[[str], str]
) -> None:
    obj = name("restart")
    events: List[cd.Event] = []
    async with cd.AsyncClient(worker_url=own_worker.url, on_event=events.append, **FAST) as client:
        await client.initialize(obj, {"value": 1})
        async with client.websocket(obj) as ws:
            assert (await ws.recv(10))["type"] == "init"
            await asyncio.get_running_loop().run_in_executor(None, own_worker.restart)
            for _ in range(2000):
                if any(
                    e.type == "websocket_connected" and (e.reconnects or 0) >= 1 for e in events
                ):
                    break
                await asyncio.sleep(0.01)
            assert ws.status == "connected"
            assert any(e.type == "websocket_disconnected" and e.will_reconnect for e in events)
            await client.update_state(obj, "value", 2)
            while True:
                message = await ws.recv(20)
                if message.get("type") == "update":
                    break
            assert message["key"] == "value" and message["value"] == 2


def test_sync_socket_reconnects_and_queue_full(own_worker: Any, name: Callable[[str], str]) -> None:
    obj = name("qfull")
    with cd.Client(worker_url=own_worker.url, send_queue_capacity=1, **FAST) as client:
        with client.websocket(obj) as ws:
            assert ws.recv(timeout=10)["type"] == "init"
            own_worker.kill()
            assert ws.wait_for_status("reconnecting", 20) == "reconnecting"
            ws.send({"type": "update", "key": "queued", "value": 1})
            with pytest.raises(cd.QueueFullError) as qf:
                ws.send({"type": "update", "key": "queued", "value": 2})
            assert qf.value.kind == "queue_full"
            own_worker.restart()
            assert ws.wait_for_status("connected", 20) == "connected"
            # The queued message went out after the reconnect.
            wait_until(lambda: _get(client, obj, "queued") == 1, what="queued send")
            client.update_state(obj, "after", True)
            for message in ws:
                if message.get("key") == "after":
                    break
            assert message["value"] is True


def _get(client: cd.Client, obj: str, key: str) -> Any:
    try:
        return client.get_state(obj, key)
    except cd.CloudflareDurableError:
        return None


def test_fork_child_gets_clear_error_and_new_client_works(
    url: str, name: Callable[[str], str]
) -> None:
    obj = name("fork")
    client = cd.Client(worker_url=url)
    client.initialize(obj, {"value": 7})  # the runtime is running now
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 10
        try:
            try:
                client.get_state(obj)
                code = 11
            except cd.ConnectionClosedError as e:
                code = 12 if "fork()" in str(e) else 13
            if code == 12:
                with cd.Client(worker_url=url) as fresh:
                    code = 0 if fresh.get_state(obj, "value") == 7 else 14
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert client.get_state(obj, "value") == 7  # the parent is unaffected
    client.close()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _interrupt_once_blocked(script: str, timeout: float) -> None:
    """Runs `script` in a child, sends it SIGINT once it has printed "ready"
    and its main thread sleeps, and checks that it printed "interrupted" and
    exited 0 within `timeout` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        wait_until(lambda: _state(proc.pid) == "S", what="child blocked")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "interrupted" in out


def test_blocking_iteration_answers_ctrl_c(url: str, name: Callable[[str], str]) -> None:
    script = textwrap.dedent(
        f"""
        import signal, sys, cloudflare_durable as cd
        # Python leaves SIGINT ignored when its parent ignored it (a shell's
        # background job): install its handler whatever the test runs under.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with cd.Client(worker_url={url!r}) as client:
            with client.websocket({name("sigint")!r}) as ws:
                ws.recv(timeout=10)
                waiting = False
                try:
                    print("ready", flush=True)
                    waiting = True
                    for message in ws:
                        pass
                except KeyboardInterrupt:
                    print("interrupted" if waiting else "early", flush=True)
                    sys.exit(0)
        sys.exit(3)
        """
    )
    _interrupt_once_blocked(script, timeout=30)


def test_blocking_call_answers_ctrl_c(url: str, name: Callable[[str], str]) -> None:
    script = textwrap.dedent(
        f"""
        import signal, sys, cloudflare_durable as cd
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as above
        with cd.Client(worker_url={url!r}) as client:
            obj = {name("sigint-call")!r}
            client.call_method(obj, "echo", {{}})
            waiting = False
            try:
                print("ready", flush=True)
                waiting = True
                client.call_method(obj, "test_sleep", {{"ms": 20000}}, timeout=30)
            except KeyboardInterrupt:
                print("interrupted" if waiting else "early", flush=True)
                sys.exit(0)
        sys.exit(3)
        """
    )
    _interrupt_once_blocked(script, timeout=10)  # well before the 20 s call ends


def _switches(tid: int) -> int:
    with open(f"/proc/self/task/{tid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches line")


def test_blocking_call_off_the_main_thread_waits_without_waking(
    url: str, name: Callable[[str], str]
) -> None:
    # Only the main thread runs signal handlers; another thread waiting for
    # a 1.5 s call must sleep through it instead of waking every 50 ms.
    seen: List[Any] = []

    def call() -> None:
        tid = threading.get_native_id()
        before = _switches(tid)
        result = client.call_method(name("quiet"), "test_sleep", {"ms": 1500}, timeout=30)
        seen.append((result, _switches(tid) - before))

    with cd.Client(worker_url=url) as client:
        client.call_method(name("quiet"), "echo", {})  # connection and runtime ready
        thread = threading.Thread(target=call)
        thread.start()
        thread.join(30)
    assert not thread.is_alive()
    (result, switches) = seen[0]
    assert result == {"slept": 1500}
    assert switches < 10, f"the waiting thread woke {switches} times"


def test_blocking_socket_wait_off_the_main_thread_waits_without_waking(
    url: str, name: Callable[[str], str]
) -> None:
    # The same for a blocking wait on a WebSocket: 1.5 s without a message.
    seen: List[Any] = []

    def wait(ws: cd.WebSocket) -> None:
        tid = threading.get_native_id()
        before = _switches(tid)
        try:
            ws.recv(timeout=1.5)
            seen.append(("message", _switches(tid) - before))
        except cd.DurableTimeoutError:
            seen.append(("timeout", _switches(tid) - before))

    with cd.Client(worker_url=url) as client:
        with client.websocket(name("quiet-socket")) as ws:
            assert ws.recv(timeout=10)["type"] == "init"
            thread = threading.Thread(target=wait, args=(ws,))
            thread.start()
            thread.join(30)
    assert not thread.is_alive()
    (outcome, switches) = seen[0]
    assert outcome == "timeout"
    assert switches < 10, f"the waiting thread woke {switches} times"
