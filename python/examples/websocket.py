"""WebSocket example (asyncio): live updates, a call over the socket, and a
callback on the event loop's thread.

Run with CLOUDFLARE_WORKER_URL set.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, List

from cloudflare_durable import AsyncClient


async def main() -> None:
    counter = f"live-{uuid.uuid4().hex[:8]}"
    seen: List[Any] = []
    async with AsyncClient() as client:
        await client.initialize(counter, {"value": 0})
        async with client.websocket(counter) as ws:
            ws.on_message(seen.append)
            result = await ws.call("increment", {"increment": 1})
            print("call over the socket:", result)
            await client.call_method(counter, "increment", {"increment": 2})
            async for message in ws:
                print("message:", message)
                if message.get("type") == "update" and message["value"] == 3:
                    break
            print("status:", ws.status)
    print("callback saw", len(seen), "messages")
    print("done")


if __name__ == "__main__":
    asyncio.run(main())
