"""Client for Cloudflare Durable Objects behind a CloudflareDurable worker.

``Client`` blocks; ``AsyncClient`` is for asyncio. Both wrap one Rust core
(retries, reconnection, validation and the wire protocol live there)::

    from cloudflare_durable import Client

    with Client(worker_url="https://my-worker.example.com") as client:
        client.initialize("counter", {"value": 0})
        client.call_method("counter", "increment", {"increment": 1})
"""

import atexit

from . import _native
from ._async import AsyncClient, AsyncWebSocket
from ._json import JSONValue
from ._errors import (
    CloudflareDurableError,
    ConflictError,
    ConnectionClosedError,
    DurableTimeoutError,
    HTTPStatusError,
    InvalidInputError,
    InternalError,
    InvalidResponseError,
    NetworkError,
    NotFoundError,
    QueueFullError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
)
from ._events import Event, EventHandler, logger
from ._objects import (
    BatchCall,
    CheckAbsent,
    CheckEquals,
    Delete,
    Get,
    NamespaceInfo,
    NamespacePage,
    Object,
    ObjectInfo,
    ObjectPage,
    ObjectRef,
    Put,
    SqlResult,
    TxOp,
    current_traceparent,
)
from ._sync import Client, WebSocket

# Registered at import, so it runs after the handlers of code that uses the
# package: closes every socket and keeps Rust threads off the interpreter
# from then on (see native/src/runtime.rs).
atexit.register(_native.shutdown)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncWebSocket",
    "Client",
    "WebSocket",
    "Event",
    "EventHandler",
    "JSONValue",
    "Object",
    "ObjectRef",
    "Get",
    "Put",
    "Delete",
    "CheckEquals",
    "CheckAbsent",
    "TxOp",
    "BatchCall",
    "SqlResult",
    "NamespaceInfo",
    "NamespacePage",
    "ObjectInfo",
    "ObjectPage",
    "current_traceparent",
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
    "InternalError",
]
