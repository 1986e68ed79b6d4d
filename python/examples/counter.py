"""Counter example: initialize an object, call a method, read the state.

Run with CLOUDFLARE_WORKER_URL set (e.g. a local worker from
tests/harness/worker.py).
"""

from __future__ import annotations

import uuid

from cloudflare_durable import Client, NotFoundError


def main() -> None:
    counter = f"counter-{uuid.uuid4().hex[:8]}"
    with Client(timeout=10.0, retry_count=2) as client:
        client.initialize(counter, {"value": 0})
        result = client.call_method(counter, "increment", {"increment": 5})
        print("after increment:", result)
        assert result == {"value": 5}
        state = client.get_state(counter)
        print("state:", state)
        client.update_state(counter, "label", "five")
        assert client.get_state(counter, "label") == "five"
        client.delete_state(counter, "label")
        try:
            client.get_state(counter, "label")
        except NotFoundError as error:
            print("deleted:", error.kind)
    print("done")


if __name__ == "__main__":
    main()
