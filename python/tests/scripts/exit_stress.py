"""Does sockets + callbacks + events, then exits WITHOUT closing anything,
with Rust reader tasks and events still in flight (run many times by
test_exit.py: the interpreter must exit with status 0 every time)."""

import asyncio
import sys
import threading

from cloudflare_durable import AsyncClient, Client

url, name = sys.argv[1], sys.argv[2]
events = []

sync = Client(url, on_event=events.append)
ws = sync.websocket(name)
sync.update_state(name, "k", 1)
kinds = [ws.recv(timeout=10).get("type") for _ in range(1)]
while "update" not in kinds and len(kinds) < 20:
    kinds.append(ws.recv(timeout=10).get("type"))
assert "update" in kinds, kinds


def hammer() -> None:  # a daemon thread still waiting in Rust at exit
    try:
        for _ in ws:
            pass
    except Exception:
        pass


threading.Thread(target=hammer, daemon=True).start()


async def main() -> None:
    client = AsyncClient(url, on_event=lambda e: events.append(e))
    seen = asyncio.Event()
    sock = await client.websocket(name)
    sock.on_message(lambda m: seen.set())
    await client.update_state(name, "k", 2)
    await asyncio.wait_for(seen.wait(), 10)
    # Leave calls in flight: their results arrive after the loop is gone.
    for i in range(20):
        asyncio.ensure_future(client.call_method(name, "echo", {"i": i}))
    await asyncio.sleep(0)


asyncio.run(main())
for i in range(5):
    sync.call_method(name, "increment", {"increment": 1})
assert events, "no events were delivered"
print("done", flush=True)
