"""The asyncio client and WebSocket."""

from __future__ import annotations

import asyncio
import inspect
import logging
from types import TracebackType
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Generator,
    List,
    Optional,
    Type,
    overload,
)

from . import _native
from ._config import JSONValue, native_client
from ._errors import CloudflareDurableError
from ._events import EventHandler, _deliver, logger

MessageCallback = Callable[[Any], Any]
"""An ``on_message`` callback: called with each message on the loop's
thread; it may be a plain function or return an awaitable (run as a task)."""

_END = object()
_MAX_UNREAD = 4096
"""Messages kept for ``async for`` while only callbacks consume them; past
this the oldest are dropped (with one warning)."""


class AsyncWebSocket:
    """A live WebSocket for asyncio: ``async with client.websocket("x") as ws:
    async for message in ws: ...``, or ``ws = await client.websocket("x")``.

    Messages are fetched from the core in batches and handed to the loop by
    one reader task, started by the first ``async for``/``recv`` or
    ``on_message``; from then on every message goes to each callback (on the
    loop's thread) and to the iteration queue.
    """

    def __init__(self, client: "AsyncClient", object: str) -> None:
        self._client = client
        self._object = object
        self._native: Optional[_native.NativeWebSocket] = None
        self._callbacks: List[MessageCallback] = []
        self._queue: "asyncio.Queue[Any]" = asyncio.Queue()
        self._dropped = False
        self._pump: "Optional[asyncio.Task[None]]" = None
        self._tasks: "set[asyncio.Task[Any]]" = set()

    async def _connect(self) -> "AsyncWebSocket":
        if self._native is None:
            self._native = await self._client._open_socket(self._object)
        return self

    def __await__(self) -> Generator[Any, None, "AsyncWebSocket"]:
        return self._connect().__await__()

    async def __aenter__(self) -> "AsyncWebSocket":
        return await self._connect()

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    def _socket(self) -> _native.NativeWebSocket:
        if self._native is None:
            raise CloudflareDurableError(
                "the WebSocket is not connected yet: use `async with` or `await` it first"
            )
        return self._native

    @property
    def object(self) -> str:
        """The object this socket talks to."""
        return self._object

    @property
    def status(self) -> str:
        """``"connecting"``, ``"connected"``, ``"reconnecting"`` or ``"closed"``."""
        return "connecting" if self._native is None else self._native.status

    async def send(self, message: JSONValue) -> None:
        """Sends a JSON message (queued while reconnecting)."""
        await self._socket().send_async(message)

    async def call(
        self,
        method: str,
        params: JSONValue = None,
        *,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Calls a method over the socket and returns its result."""
        return await self._socket().call_async(method, params, idempotency_key, timeout)

    def on_message(self, callback: MessageCallback) -> MessageCallback:
        """Registers a callback for every message from now on (usable as a
        decorator). It runs on the event loop's thread."""
        self._callbacks.append(callback)
        self._start_pump()
        return callback

    def _start_pump(self) -> None:
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _run_pump(self) -> None:
        socket = self._socket()
        try:
            while True:
                batch = await socket.next_batch_async(256)
                if not batch:
                    break
                for message in batch:
                    self._dispatch(message)
        except CloudflareDurableError as error:
            logger.info("WebSocket %r ended: %s", self._object, error)
            self._queue.put_nowait(error)
        finally:
            self._queue.put_nowait(_END)

    def _dispatch(self, message: Any) -> None:
        for callback in list(self._callbacks):
            try:
                result = callback(message)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                logger.exception("on_message callback failed")
        if self._queue.qsize() >= _MAX_UNREAD:
            self._queue.get_nowait()
            if not self._dropped:
                self._dropped = True
                logger.warning(
                    "WebSocket %r: over %d messages not iterated; dropping the oldest",
                    self._object,
                    _MAX_UNREAD,
                )
        self._queue.put_nowait(message)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        self._socket()
        self._start_pump()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # stay finished for later calls
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    async def recv(self, timeout: Optional[float] = None) -> Any:
        """The next message; ``asyncio.TimeoutError`` after ``timeout`` seconds,
        ``StopAsyncIteration`` once closed."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def close(self) -> None:
        """Closes the socket (code 1000) and waits for its reader to finish."""
        if self._native is None:
            return
        await self._native.close_async()
        if self._pump is not None and not self._pump.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._pump), 10)
            except asyncio.TimeoutError:
                self._pump.cancel()


class AsyncClient:
    """An asyncio client for one worker.

    Same keyword arguments as :class:`Client`. ``on_event`` receives
    :class:`Event` objects on the event loop's thread (handed over with
    ``call_soon_threadsafe``); events that happen while no loop is known are
    dropped.
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
        self._on_event = on_event
        try:
            self._loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        wants_events = on_event is not None or logger.isEnabledFor(logging.INFO)
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
            event_sink=self._sink if wants_events else None,
        )

    def _sink(self, raw: Dict[str, Any]) -> None:
        # Runs on a Rust thread: only hands the event to the loop.
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(_deliver, self._on_event, raw)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()

    @property
    def worker_url(self) -> str:
        """The worker URL in use."""
        return self._native.worker_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    async def initialize(self, object: str, state: Dict[str, JSONValue]) -> None:
        """Stores ``state`` (a dict) in the object, one key per member, atomically."""
        self._bind_loop()
        await self._native.initialize_async(object, state)

    async def call_method(
        self,
        object: str,
        method: str,
        params: JSONValue = None,
        *,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Calls ``method`` on the object with ``params`` and returns its result."""
        self._bind_loop()
        return await self._native.call_method_async(
            object, method, params, idempotency_key, timeout
        )

    @overload
    async def get_state(self, object: str) -> Dict[str, Any]: ...

    @overload
    async def get_state(self, object: str, key: str) -> Any: ...

    async def get_state(self, object: str, key: Optional[str] = None) -> Any:
        """The object's whole state as a dict, or with ``key`` that key's value
        (:class:`NotFoundError` when absent)."""
        self._bind_loop()
        if key is None:
            return await self._native.get_state_async(object)
        return await self._native.get_state_key_async(object, key)

    async def update_state(self, object: str, key: str, value: JSONValue) -> None:
        """Sets one key of the object's state and broadcasts it."""
        self._bind_loop()
        await self._native.update_state_async(object, key, value)

    async def delete_state(self, object: str, key: str) -> None:
        """Deletes one key (no error when absent) and broadcasts the deletion."""
        self._bind_loop()
        await self._native.delete_state_async(object, key)

    def websocket(self, object: str) -> AsyncWebSocket:
        """A WebSocket to the object: ``async with`` it, or ``await`` it."""
        return AsyncWebSocket(self, object)

    async def _open_socket(self, object: str) -> _native.NativeWebSocket:
        self._bind_loop()
        return await self._native.websocket_async(object)

    async def close(self) -> None:
        """Closes the sockets this client opened and releases its connections."""
        await self._native.close_async()

    async def __aenter__(self) -> "AsyncClient":
        self._bind_loop()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()
