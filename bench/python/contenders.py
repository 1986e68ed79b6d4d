"""Python benchmark contenders: the package's AsyncClient and Client, and the
peers aiohttp, httpx (async and sync), requests and websockets.

    python contenders.py CONTENDER CASE [ARGS]

CASE is ``http METHOD CONCURRENCY``, ``ws_seq``, ``ws_burst N`` or
``sockets N``; settings come from BENCH_* variables; the last line printed
is the JSON result (see bench/README.md). Exit 3 means "not applicable".
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

URL = os.environ.get("BENCH_URL", "http://127.0.0.1:8787").rstrip("/")
WS_URL = "ws" + URL[len("http") :]
SECONDS = float(os.environ.get("BENCH_SECONDS", "2"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "0.5"))
OBJECTS = int(os.environ.get("BENCH_OBJECTS", "16"))
PREFIX = os.environ.get("BENCH_PREFIX", "bench")
OPEN_CONCURRENCY = int(os.environ.get("BENCH_OPEN_CONCURRENCY", "256"))


def cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def idem() -> str:
    return "%032x" % random.getrandbits(128)


def traceparent() -> str:
    return "00-%032x-%016x-01" % (
        random.getrandbits(128) | 1,
        random.getrandbits(64) | 1,
    )


def headers() -> Dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Idempotency-Key": idem(),
        "traceparent": traceparent(),
    }


def params(method: str, n: int) -> Any:
    return {"increment": 1} if method == "increment" else {"text": "hello", "n": n}


def obj(j: int, n: int) -> str:
    return f"{PREFIX}-h-{(j + n) % OBJECTS}"


def pct(sorted_lat: List[float], p: float) -> float:
    if not sorted_lat:
        return 0.0
    return sorted_lat[round((len(sorted_lat) - 1) * p)]


def report(
    ops: int, errors: int, wall: float, cpu_s: float, lat: List[float], **extra: Any
) -> None:
    lat.sort()
    out = {
        "ops": ops,
        "errors": errors,
        "wall_s": wall,
        "cpu_s": cpu_s,
        "ops_per_s": ops / wall if wall else 0.0,
        "cpu_us_per_op": cpu_s * 1e6 / ops if ops else 0.0,
        "p50_us": pct(lat, 0.5) * 1e6,
        "p99_us": pct(lat, 0.99) * 1e6,
    }
    out.update(extra)
    print(json.dumps(out), flush=True)


def check(reply: Any) -> None:
    if not isinstance(reply, dict) or "result" not in reply:
        raise RuntimeError(f"bad reply {reply!r}")


# ---------------------------------------------------------------- HTTP, async


async def http_async(
    call: Callable[[str, str, Any], Any], method: str, conc: int
) -> None:
    start = time.perf_counter()
    t0, t1 = start + WARMUP, start + WARMUP + SECONDS
    lat: List[float] = []
    errors = [0]

    async def worker(j: int) -> None:
        n = 0
        while True:
            begin = time.perf_counter()
            if begin >= t1:
                return
            try:
                await call(obj(j, n), method, params(method, n))
                ok = True
            except Exception as e:  # counted, first one shown
                ok = False
                if not errors[0]:
                    print(f"error: {e!r}", file=sys.stderr)
            n += 1
            done = time.perf_counter()
            if t0 <= done <= t1:  # calls that complete inside the window count
                if ok:
                    lat.append(done - begin)
                else:
                    errors[0] += 1

    tasks = [asyncio.ensure_future(worker(j)) for j in range(conc)]
    await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
    c0, w0 = cpu(), time.perf_counter()
    await asyncio.sleep(max(0.0, t1 - time.perf_counter()))
    c1, w1 = cpu(), time.perf_counter()
    await asyncio.gather(*tasks)
    report(len(lat), errors[0], w1 - w0, c1 - c0, lat)


def http_sync(
    make_call: Callable[[], Callable[[str, str, Any], Any]], method: str, conc: int
) -> None:
    lat: List[float] = []
    errors = [0]
    go = threading.Event()
    t0 = t1 = 0.0

    def worker(j: int) -> None:
        go.wait()  # the window is set once every thread has started
        call = make_call()
        n = 0
        mine: List[float] = []
        while True:
            begin = time.perf_counter()
            if begin >= t1:
                break
            try:
                call(obj(j, n), method, params(method, n))
                ok = True
            except Exception as e:
                ok = False
                if not errors[0]:
                    print(f"error: {e!r}", file=sys.stderr)
            n += 1
            done = time.perf_counter()
            if t0 <= done <= t1:  # calls that complete inside the window count
                if ok:
                    mine.append(done - begin)
                else:
                    errors[0] += 1
        lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(j,)) for j in range(conc)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    t0, t1 = start + WARMUP, start + WARMUP + SECONDS
    go.set()
    time.sleep(max(0.0, t0 - time.perf_counter()))
    c0, w0 = cpu(), time.perf_counter()
    time.sleep(max(0.0, t1 - time.perf_counter()))
    c1, w1 = cpu(), time.perf_counter()
    for t in threads:
        t.join()
    report(len(lat), errors[0], w1 - w0, c1 - c0, lat)


# ---------------------------------------------------------------- contenders


def run_http(contender: str, method: str, conc: int) -> None:
    if contender == "py-async":
        from cloudflare_durable import AsyncClient

        async def main() -> None:
            async with AsyncClient(URL, pool_size=conc) as client:
                await http_async(client.call_method, method, conc)

        asyncio.run(main())
    elif contender == "py-sync":
        from cloudflare_durable import Client

        with Client(URL, pool_size=conc) as client:
            http_sync(lambda: client.call_method, method, conc)
    elif contender == "aiohttp":
        import aiohttp

        async def main() -> None:
            connector = aiohttp.TCPConnector(limit=conc)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def call(o: str, m: str, p: Any) -> Any:
                    async with session.post(
                        f"{URL}/object/{o}/method/{m}",
                        data=json.dumps(p),
                        headers=headers(),
                    ) as r:
                        reply = json.loads(await r.read())
                        check(reply)
                        return reply["result"]

                await http_async(call, method, conc)

        asyncio.run(main())
    elif contender == "httpx-async":
        import httpx

        async def main() -> None:
            limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
            async with httpx.AsyncClient(limits=limits, timeout=30) as session:

                async def call(o: str, m: str, p: Any) -> Any:
                    r = await session.post(
                        f"{URL}/object/{o}/method/{m}",
                        content=json.dumps(p),
                        headers=headers(),
                    )
                    reply = json.loads(r.content)
                    check(reply)
                    return reply["result"]

                await http_async(call, method, conc)

        asyncio.run(main())
    elif contender == "httpx-sync":
        import httpx

        limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
        with httpx.Client(limits=limits, timeout=30) as session:

            def call(o: str, m: str, p: Any) -> Any:
                r = session.post(
                    f"{URL}/object/{o}/method/{m}",
                    content=json.dumps(p),
                    headers=headers(),
                )
                reply = json.loads(r.content)
                check(reply)
                return reply["result"]

            http_sync(lambda: call, method, conc)
    elif contender == "requests":
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=conc))

        def call(o: str, m: str, p: Any) -> Any:
            r = session.post(
                f"{URL}/object/{o}/method/{m}", data=json.dumps(p), headers=headers()
            )
            reply = json.loads(r.content)
            check(reply)
            return reply["result"]

        http_sync(lambda: call, method, conc)
    else:
        sys.exit(3)


def method_frame(n: int) -> str:
    return json.dumps(
        {
            "type": "method",
            "id": str(n),
            "method": "echo",
            "params": params("echo", n),
            "idempotency_key": idem(),
        }
    )


def run_ws_seq(contender: str) -> None:
    object_name = f"{PREFIX}-ws"
    start = time.perf_counter()
    t0, t1 = start + WARMUP, start + WARMUP + SECONDS

    async def loop_async(call: Callable[[int], Any]) -> None:
        lat: List[float] = []
        n, c0, w0 = 0, None, 0.0
        while True:
            begin = time.perf_counter()
            if begin >= t1:
                break
            if begin >= t0 and c0 is None:
                c0, w0 = cpu(), begin
            await call(n)
            n += 1
            if begin >= t0:
                lat.append(time.perf_counter() - begin)
        report(len(lat), 0, time.perf_counter() - w0, cpu() - (c0 or 0), lat)

    if contender == "py-async":
        from cloudflare_durable import AsyncClient

        async def main() -> None:
            async with AsyncClient(URL) as client:
                async with client.websocket(object_name) as ws:
                    await loop_async(lambda n: ws.call("echo", params("echo", n)))

        asyncio.run(main())
    elif contender == "py-sync":
        from cloudflare_durable import Client

        with Client(URL) as client, client.websocket(object_name) as ws:
            lat: List[float] = []
            n, c0, w0 = 0, None, 0.0
            while True:
                begin = time.perf_counter()
                if begin >= t1:
                    break
                if begin >= t0 and c0 is None:
                    c0, w0 = cpu(), begin
                ws.call("echo", params("echo", n))
                n += 1
                if begin >= t0:
                    lat.append(time.perf_counter() - begin)
            report(len(lat), 0, time.perf_counter() - w0, cpu() - (c0 or 0), lat)
    elif contender == "websockets":
        import websockets

        async def main() -> None:
            async with websockets.connect(
                f"{WS_URL}/object/{object_name}/websocket"
            ) as ws:
                await until(ws, lambda m: m.get("type") == "init")

                async def call(n: int) -> None:
                    await ws.send(method_frame(n))
                    reply = await until(
                        ws,
                        lambda m: m.get("type") == "response" and m.get("id") == str(n),
                    )
                    if reply.get("success") is not True:
                        raise RuntimeError(reply)

                await loop_async(call)

        asyncio.run(main())
    else:
        sys.exit(3)


async def until(ws: Any, pick: Callable[[Dict[str, Any]], bool]) -> Dict[str, Any]:
    async for text in ws:
        if text == "pong":
            continue
        m = json.loads(text)
        if pick(m):
            return m
    raise RuntimeError("socket closed")


def run_ws_burst(contender: str, count: int) -> None:
    object_name = f"{PREFIX}-burst"

    def done(c0: float, ready: float, first: Optional[float], received: int) -> None:
        end = time.perf_counter()
        c = cpu() - c0
        span = end - (first or ready)
        print(
            json.dumps(
                {
                    "ops": received,
                    "errors": 0,
                    "wall_s": end - ready,
                    "cpu_s": c,
                    "ops_per_s": received / span if span else 0.0,
                    "cpu_us_per_op": c * 1e6 / received if received else 0.0,
                    "first_to_last_s": span,
                }
            ),
            flush=True,
        )

    if contender == "py-async":
        from cloudflare_durable import AsyncClient

        async def main() -> None:
            async with AsyncClient(URL) as client:
                async with client.websocket(object_name) as ws:
                    async for m in ws:
                        if m.get("type") == "init":
                            break
                    c0, ready = cpu(), time.perf_counter()
                    print("READY", flush=True)
                    received, first = 0, None
                    async for m in ws:
                        if m.get("type") == "bench":
                            if first is None:
                                first = time.perf_counter()
                            received += 1
                            if received >= count:
                                break
                    done(c0, ready, first, received)

        asyncio.run(main())
    elif contender == "py-sync":
        from cloudflare_durable import Client

        with Client(URL) as client, client.websocket(object_name) as ws:
            for m in ws:
                if m.get("type") == "init":
                    break
            c0, ready = cpu(), time.perf_counter()
            print("READY", flush=True)
            received, first = 0, None
            for m in ws:
                if m.get("type") == "bench":
                    if first is None:
                        first = time.perf_counter()
                    received += 1
                    if received >= count:
                        break
            done(c0, ready, first, received)
    elif contender == "websockets":
        import websockets

        async def main() -> None:
            async with websockets.connect(
                f"{WS_URL}/object/{object_name}/websocket", max_queue=None
            ) as ws:
                await until(ws, lambda m: m.get("type") == "init")
                c0, ready = cpu(), time.perf_counter()
                print("READY", flush=True)
                received, first = 0, None
                async for text in ws:
                    m = json.loads(text)
                    if m.get("type") == "bench":
                        if first is None:
                            first = time.perf_counter()
                        received += 1
                        if received >= count:
                            break
                done(c0, ready, first, received)

        asyncio.run(main())
    else:
        sys.exit(3)


def run_sockets(contender: str, count: int) -> None:
    names = [f"{PREFIX}-s-{i % 100}" for i in range(count)]

    def done(
        r0: int, c0: float, t0: float, held: int, errors: int, settle: Callable[[], Any]
    ) -> None:
        open_s = time.perf_counter() - t0
        c = cpu() - c0
        settle()
        r1 = rss()
        print(
            json.dumps(
                {
                    "ops": held,
                    "errors": errors,
                    "wall_s": open_s,
                    "cpu_s": c,
                    "open_s": open_s,
                    "rss_before": r0,
                    "rss_after": r1,
                    "bytes_per_socket": max(0, r1 - r0) / max(1, held),
                    "cpu_us_per_op": c * 1e6 / max(1, held),
                }
            ),
            flush=True,
        )

    async def open_all(open_one: Callable[[str], Any]) -> List[Any]:
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        errors = [0]

        async def one(name: str) -> Any:
            async with gate:
                try:
                    return await open_one(name)
                except Exception as e:
                    if not errors[0]:
                        print(f"error: {e!r}", file=sys.stderr)
                    errors[0] += 1
                    return None

        held = await asyncio.gather(*(one(n) for n in names))
        return [h for h in held if h is not None]

    if contender == "py-async":
        from cloudflare_durable import AsyncClient

        async def main() -> None:
            async with AsyncClient(URL) as client:
                r0, c0, t0 = rss(), cpu(), time.perf_counter()
                held = await open_all(lambda name: client.websocket(name)._connect())
                done(r0, c0, t0, len(held), count - len(held), lambda: time.sleep(1))
                for ws in held:
                    await ws.close()

        asyncio.run(main())
    elif contender == "websockets":
        import websockets

        async def main() -> None:
            readers: List[Any] = []

            async def open_one(name: str) -> Any:
                ws = await websockets.connect(f"{WS_URL}/object/{name}/websocket")

                async def read() -> None:  # a real client keeps reading
                    try:
                        async for _ in ws:
                            pass
                    except Exception:
                        pass

                readers.append(asyncio.ensure_future(read()))
                return ws

            r0, c0, t0 = rss(), cpu(), time.perf_counter()
            held = await open_all(open_one)
            open_s_done = time.perf_counter()
            c1 = cpu()
            await asyncio.sleep(1)
            r1 = rss()
            print(
                json.dumps(
                    {
                        "ops": len(held),
                        "errors": count - len(held),
                        "wall_s": open_s_done - t0,
                        "cpu_s": c1 - c0,
                        "open_s": open_s_done - t0,
                        "rss_before": r0,
                        "rss_after": r1,
                        "bytes_per_socket": max(0, r1 - r0) / max(1, len(held)),
                        "cpu_us_per_op": (c1 - c0) * 1e6 / max(1, len(held)),
                    }
                ),
                flush=True,
            )
            await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
            for r in readers:
                r.cancel()

        asyncio.run(main())
    else:
        sys.exit(3)


def main() -> None:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    contender, case, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if case == "http":
        run_http(contender, args[0], int(args[1]))
    elif case == "ws_seq":
        run_ws_seq(contender)
    elif case == "ws_burst":
        run_ws_burst(contender, int(args[0]))
    elif case == "sockets":
        run_sockets(contender, int(args[0]))
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
