"""Client for Cloudflare Durable Objects behind a CloudflareDurable worker.

``Client`` blocks; ``AsyncClient`` is for asyncio. Both wrap one Rust core
(retries, reconnection, validation and the wire protocol live there)::

    from cloudflare_durable import Client

    with Client(worker_url="https://my-worker.example.com") as client:
        client.initialize("counter", {"value": 0})
        client.call_method("counter", "increment", {"increment": 1})
"""

from ._async import AsyncClient, AsyncWebSocket
from ._config import JSONValue
from ._errors import (
    CloudflareDurableError,
    ConflictError,
    ConnectionClosedError,
    DurableTimeoutError,
    HTTPStatusError,
    InvalidInputError,
    InvalidResponseError,
    NetworkError,
    NotFoundError,
    QueueFullError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
)
from ._events import Event, EventHandler, logger
from ._sync import Client, WebSocket

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncWebSocket",
    "Client",
    "WebSocket",
    "Event",
    "EventHandler",
    "JSONValue",
    "logger",
    "CloudflareDurableError",
    "InvalidInputError",
    "UnauthorizedError",
    "NotFoundError",
    "RateLimitedError",
    "ServerError",
    "HTTPStatusError",
    "DurableTimeoutError",
    "NetworkError",
    "InvalidResponseError",
    "ConnectionClosedError",
    "QueueFullError",
    "ConflictError",
]
