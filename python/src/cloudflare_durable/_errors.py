"""The exception hierarchy: one class per core error kind, all under
:class:`CloudflareDurableError`, each with the core's stable ``kind`` name."""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
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


class CloudflareDurableError(Exception):
    """Base class of every error raised by this package.

    ``kind`` is the core's stable error name (``"not_found"``, …), the same in
    every language; ``status`` is the HTTP status (or WebSocket close code)
    when there is one.
    """

    kind: str = "error"

    def __init__(self, message: str, *, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class InvalidInputError(CloudflareDurableError, ValueError):
    """Input refused before anything was sent (bad name, key, method, config
    or payload), or a 400 from the worker. ``field`` names the input."""

    kind = "invalid_input"

    def __init__(
        self, message: str, *, status: Optional[int] = None, field: Optional[str] = None
    ) -> None:
        super().__init__(message, status=status)
        self.field = field


class UnauthorizedError(CloudflareDurableError):
    """The worker refused the credentials (401/403, or close code 1008)."""

    kind = "unauthorized"


class NotFoundError(CloudflareDurableError):
    """The object, key, method or route does not exist."""

    kind = "not_found"


class RateLimitedError(CloudflareDurableError):
    """The worker asked to slow down (429); ``retry_after`` is in seconds."""

    kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(CloudflareDurableError):
    """The worker or the object failed (5xx); ``status`` holds the code."""

    kind = "server_error"


class HTTPStatusError(CloudflareDurableError):
    """Another unexpected HTTP status; ``status`` holds it."""

    kind = "http_error"


class DurableTimeoutError(CloudflareDurableError, TimeoutError):
    """No answer within the configured time (also a builtin ``TimeoutError``)."""

    kind = "timeout"


class NetworkError(CloudflareDurableError, ConnectionError):
    """The connection could not be made or broke (also a builtin ``ConnectionError``)."""

    kind = "network_error"


class InvalidResponseError(CloudflareDurableError):
    """The worker answered something that is not the protocol."""

    kind = "invalid_response"


class ConnectionClosedError(CloudflareDurableError):
    """The WebSocket (or the client) is closed for good; ``code`` is the close
    code when the peer sent one."""

    kind = "connection_closed"

    @property
    def code(self) -> Optional[int]:
        """The WebSocket close code, when the peer sent one."""
        return self.status


class QueueFullError(CloudflareDurableError):
    """The WebSocket's send queue is full while disconnected."""

    kind = "queue_full"


class ConflictError(CloudflareDurableError):
    """A conditional write or transaction lost a race (409)."""

    kind = "conflict"


class InternalError(CloudflareDurableError):
    """A fault inside the package's native code (a bug; please report it).
    The operation may or may not have taken effect. Elixir reports the same
    case as ``:internal_error``."""

    kind = "internal_error"


_BY_KIND: Dict[str, Type[CloudflareDurableError]] = {
    cls.kind: cls
    for cls in (
        InvalidInputError,
        UnauthorizedError,
        NotFoundError,
        RateLimitedError,
        ServerError,
        HTTPStatusError,
        DurableTimeoutError,
        NetworkError,
        InvalidResponseError,
        ConnectionClosedError,
        QueueFullError,
        ConflictError,
        InternalError,
    )
}


def _from_native(
    kind: str,
    message: str,
    status: Optional[int],
    retry_after: Optional[float],
    field: Optional[str],
) -> CloudflareDurableError:
    """Builds the exception for a core error (called by the native module)."""
    cls = _BY_KIND.get(kind, CloudflareDurableError)
    if cls is RateLimitedError:
        return RateLimitedError(message, status=status, retry_after=retry_after)
    if cls is InvalidInputError:
        return InvalidInputError(message, status=status, field=field)
    return cls(message, status=status)
