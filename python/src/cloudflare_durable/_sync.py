"""The blocking client and WebSocket."""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from types import TracebackType
from typing import Any, Deque, Dict, Iterator, Optional, Type, overload

from . import _native
from ._config import JSONValue, native_client
from ._errors import ConnectionClosedError, DurableTimeoutError
from ._events import EventHandler, _deliver, logger

_STOP = object()


class _Dispatcher:
    """A Python thread that delivers events queued by the Rust threads, so
    user code never runs on a Rust thread."""

    def __init__(self, handler: Optional[EventHandler]) -> None:
        self._handler = handler
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="cloudflare-durable-events", daemon=True
        )
        self._thread.start()

    def put(self, raw: Dict[str, Any]) -> None:
        self._queue.put(raw)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            _deliver(self._handler, item)

    def stop(self) -> None:
        self._queue.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)


class WebSocket:
    """A live, blocking WebSocket to one object; iterate it for messages.

    Waiting releases the GIL and still answers Ctrl-C. Reconnection, resume
    and heartbeats happen by themselves.
    """

    def __init__(self, native: _native.NativeWebSocket) -> None:
        self._native = native
        self._buffer: Deque[Any] = deque()

    @property
    def object(self) -> str:
        """The object this socket talks to."""
        return self._native.object

    @property
    def status(self) -> str:
        """``"connecting"``, ``"connected"``, ``"reconnecting"`` or ``"closed"``."""
        return self._native.status

    def send(self, message: JSONValue) -> None:
        """Sends a JSON message (queued while reconnecting)."""
        self._native.send(message)

    def call(
        self,
        method: str,
        params: JSONValue = None,
        *,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Calls a method over the socket and returns its result."""
        return self._native.call(method, params, idempotency_key, timeout)

    def recv(self, timeout: Optional[float] = None) -> Any:
        """The next message. Raises :class:`DurableTimeoutError` after
        ``timeout`` seconds without one, :class:`ConnectionClosedError` once
        the socket is closed (or the error that closed it)."""
        if self._buffer:
            return self._buffer.popleft()
        batch = self._native.next_batch(256, timeout)
        if batch is None:
            raise DurableTimeoutError(f"no message within {timeout} s")
        if not batch:
            raise ConnectionClosedError("the socket is closed")
        self._buffer.extend(batch)
        return self._buffer.popleft()

    def wait_for_status(self, status: str, timeout: float) -> str:
        """Waits until the status is ``status`` (or closed), at most ``timeout``
        seconds; returns the status reached."""
        return self._native.wait_for_status(status, timeout)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._buffer:
            return self._buffer.popleft()
        batch = self._native.next_batch(256, None)
        if not batch:
            raise StopIteration
        self._buffer.extend(batch)
        return self._buffer.popleft()

    def close(self) -> None:
        """Closes the socket (code 1000). Idempotent."""
        self._native.close()

    def __enter__(self) -> "WebSocket":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


class Client:
    """A blocking client for one worker. Safe to share between threads.

    Every argument is keyword-only; ``worker_url``, ``account_id`` and
    ``api_token`` fall back to ``CLOUDFLARE_WORKER_URL``,
    ``CLOUDFLARE_ACCOUNT_ID`` and ``CLOUDFLARE_API_TOKEN``. Durations are
    seconds (floats). ``on_event`` receives :class:`Event` objects on a
    dispatcher thread owned by the client (never on a Rust thread).
    """

    def __init__(
        self,
        worker_url: Optional[str] = None,
        *,
        account_id: Optional[str] = None,
        api_token: Optional[str] = None,
        timeout: Optional[float] = None,
        retry_count: Optional[int] = None,
        retry_delay: Optional[float] = None,
        websocket_reconnect_delay: Optional[float] = None,
        websocket_max_reconnect_delay: Optional[float] = None,
        heartbeat_interval: Optional[float] = None,
        heartbeat_timeout: Optional[float] = None,
        send_queue_capacity: Optional[int] = None,
        message_buffer: Optional[int] = None,
        pool_size: Optional[int] = None,
        allow_insecure_http: bool = False,
        on_event: Optional[EventHandler] = None,
    ) -> None:
        self._dispatcher: Optional[_Dispatcher] = None
        if on_event is not None or logger.isEnabledFor(logging.INFO):
            self._dispatcher = _Dispatcher(on_event)
        try:
            self._native = native_client(
                worker_url=worker_url,
                account_id=account_id,
                api_token=api_token,
                timeout=timeout,
                retry_count=retry_count,
                retry_delay=retry_delay,
                websocket_reconnect_delay=websocket_reconnect_delay,
                websocket_max_reconnect_delay=websocket_max_reconnect_delay,
                heartbeat_interval=heartbeat_interval,
                heartbeat_timeout=heartbeat_timeout,
                send_queue_capacity=send_queue_capacity,
                message_buffer=message_buffer,
                pool_size=pool_size,
                allow_insecure_http=allow_insecure_http,
                event_sink=self._dispatcher.put if self._dispatcher else None,
            )
        except BaseException:
            if self._dispatcher is not None:
                self._dispatcher.stop()
            raise

    @property
    def worker_url(self) -> str:
        """The worker URL in use."""
        return self._native.worker_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    def initialize(self, object: str, state: Dict[str, JSONValue]) -> None:
        """Stores ``state`` (a dict) in the object, one key per member, atomically."""
        self._native.initialize(object, state)

    def call_method(
        self,
        object: str,
        method: str,
        params: JSONValue = None,
        *,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Calls ``method`` on the object with ``params`` and returns its result.
        Retried safely (every call carries an idempotency key)."""
        return self._native.call_method(object, method, params, idempotency_key, timeout)

    @overload
    def get_state(self, object: str) -> Dict[str, Any]: ...

    @overload
    def get_state(self, object: str, key: str) -> Any: ...

    def get_state(self, object: str, key: Optional[str] = None) -> Any:
        """The object's whole state as a dict, or with ``key`` that key's value
        (:class:`NotFoundError` when absent)."""
        if key is None:
            return self._native.get_state(object)
        return self._native.get_state_key(object, key)

    def update_state(self, object: str, key: str, value: JSONValue) -> None:
        """Sets one key of the object's state and broadcasts it."""
        self._native.update_state(object, key, value)

    def delete_state(self, object: str, key: str) -> None:
        """Deletes one key (no error when absent) and broadcasts the deletion."""
        self._native.delete_state(object, key)

    def websocket(self, object: str) -> WebSocket:
        """Opens a WebSocket to the object; returns once connected. Use it as
        a context manager: ``with client.websocket("counter") as ws: ...``."""
        return WebSocket(self._native.websocket(object))

    def close(self) -> None:
        """Closes the sockets this client opened and releases its connections."""
        self._native.close()
        if self._dispatcher is not None:
            self._dispatcher.stop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
