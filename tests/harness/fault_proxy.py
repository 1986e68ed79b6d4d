#!/usr/bin/env python3
"""A loopback TCP proxy that loses replies on purpose, for the fault suites.

It forwards every connection to the worker, and with probability `--drop-rate`
cuts a connection at the moment the worker's reply starts to come back: the
request reached the object (and may have run), the client never sees the
answer. That is the case idempotency keys exist for. SIGUSR1 cuts every open
connection at once (sockets included).

    python3 tests/harness/fault_proxy.py start --state-dir DIR --target-port P [--drop-rate 0.05] [--seed 1]
    python3 tests/harness/fault_proxy.py {cut,stats,stop} --state-dir DIR

`start` prints the proxy's URL and writes DIR/proxy.json; `stats` prints
JSON counters (connections, replies_dropped, cuts). Python 3.9+, stdlib only.
Loopback only: it binds 127.0.0.1 and refuses any other target.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import sys
from pathlib import Path

import daemon


class Proxy:
    """The proxy's event loop side: accept, pipe, and drop replies."""

    def __init__(self, target_port: int, drop_rate: float, seed: int, stats_path: Path):
        self.target_port = target_port
        self.drop_rate = drop_rate
        self.rng = random.Random(seed)
        self.stats_path = stats_path
        self.stats = {"connections": 0, "replies_dropped": 0, "cuts": 0}
        self.open = set()

    def save_stats(self) -> None:
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.stats))
        tmp.replace(self.stats_path)

    def cut_all(self) -> None:
        self.stats["cuts"] += 1
        for writer in list(self.open):
            writer.transport.abort()
        self.save_stats()

    async def handle(self, client_r, client_w) -> None:
        self.stats["connections"] += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self.open.update((client_w, up_w))
        # A reply is dropped only right after the client sent something, so
        # the request has reached the worker.
        armed = {"value": False}

        async def client_to_upstream():
            while data := await client_r.read(65536):
                armed["value"] = True
                up_w.write(data)
                await up_w.drain()

        async def upstream_to_client():
            while data := await up_r.read(65536):
                if armed["value"]:
                    armed["value"] = False
                    if self.rng.random() < self.drop_rate:
                        self.stats["replies_dropped"] += 1
                        self.save_stats()
                        return
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(client_to_upstream()), asyncio.ensure_future(upstream_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except Exception:
            pass
        finally:
            for t in tasks:
                t.cancel()
            for w in (client_w, up_w):
                self.open.discard(w)
                w.transport.abort()

    async def serve(self, port: int) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", port)
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self.cut_all)
        self.save_stats()
        async with server:
            await server.serve_forever()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "serve", "cut", "stats", "stop"])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--target-port", type=int)
    parser.add_argument("--port", type=int)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "start":
        if args.target_port is None:
            parser.error("start needs --target-port")
        serve_args = ["--target-port", str(args.target_port), "--drop-rate", str(args.drop_rate), "--seed", str(args.seed)]
        port = daemon.start(__file__, args.state_dir, "proxy", serve_args)
        print(f"http://127.0.0.1:{port}")
    elif args.command == "serve":
        proxy = Proxy(args.target_port, args.drop_rate, args.seed, args.state_dir / "proxy-stats.json")
        asyncio.run(proxy.serve(args.port))
    elif args.command == "cut":
        os.kill(daemon.pid(args.state_dir, "proxy"), signal.SIGUSR1)
    elif args.command == "stats":
        print((args.state_dir / "proxy-stats.json").read_text())
    elif args.command == "stop":
        daemon.stop(args.state_dir, "proxy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
