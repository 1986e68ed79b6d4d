"""The asyncio client and WebSocket."""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from types import TracebackType
import copy
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Deque,
    Dict,
    Generator,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    overload,
)

from . import _native
from ._json import JSONValue
from ._errors import CloudflareDurableError
from ._events import EventHandler, _deliver, logger
from ._objects import (
    UNSET,
    BatchCall,
    NamespacePage,
    Object,
    ObjectPage,
    SqlResult,
    TxOp,
    _batch_spec,
    _namespace_page,
    _object_page,
    _spec,
    _sql_result,
    _tx_spec,
    current_traceparent,
)

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
    loop's thread) and to what ``async for`` reads (a buffer filled a batch
    at a time, one wake-up of the waiting tasks per batch).
    """

    def __init__(self, client: "AsyncClient", object: Object) -> None:
        self._client = client
        self._object = object
        self._native: Optional[_native.NativeWebSocket] = None
        self._callbacks: List[MessageCallback] = []
        # What `async for` has not taken yet; at most _MAX_UNREAD, the oldest
        # dropped first. The reader appends a whole batch, then wakes the
        # iterating tasks once (each waits on a future of its own).
        self._unread: "Deque[Any]" = collections.deque(maxlen=_MAX_UNREAD)
        self._waiters: "List[asyncio.Future[None]]" = []
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
        """The object this socket talks to (its name, or a label)."""
        if self._native is not None:
            return self._native.object
        return self._object if isinstance(self._object, str) else str(self._object)

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
                if self._callbacks:
                    for message in batch:
                        self._dispatch(message)
                self._keep_unread(batch)
        except CloudflareDurableError as error:
            logger.info("WebSocket %r ended: %s", self._object, error)
            self._keep_unread([error])
        finally:
            self._keep_unread([_END])

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

    def _keep_unread(self, items: List[Any]) -> None:
        """Appends `items` for `async for` and wakes every task waiting there."""
        unread = self._unread
        if not self._dropped and len(unread) + len(items) > (unread.maxlen or 0):
            self._dropped = True
            logger.warning(
                "WebSocket %r: over %d messages not iterated; dropping the oldest",
                self._object,
                unread.maxlen,
            )
        unread.extend(items)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        self._socket()
        self._start_pump()
        unread = self._unread
        while not unread:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        item = unread[0]
        if item is _END:
            raise StopAsyncIteration  # it stays, so later calls end too
        unread.popleft()
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
        max_concurrent_requests: Optional[int] = None,
        allow_insecure_http: bool = False,
        on_event: Optional[EventHandler] = None,
        default_namespace: Optional[str] = None,
        api_base_url: Optional[str] = None,
    ) -> None:
        self._traceparent: Optional[str] = None
        self._on_event = on_event
        try:
            self._loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        wants_events = on_event is not None or logger.isEnabledFor(logging.INFO)
        self._wants_events = wants_events
        self._native = _native.NativeClient(
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
            max_concurrent_requests=max_concurrent_requests,
            allow_insecure_http=allow_insecure_http,
            event_sink=self._sink if wants_events else None,
            default_namespace=default_namespace,
            api_base_url=api_base_url,
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
        # Only events need the loop (and asking for it costs a getpid).
        if self._wants_events:
            self._loop = asyncio.get_running_loop()

    @property
    def worker_url(self) -> str:
        """The worker URL in use."""
        return self._native.worker_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    def with_traceparent(self, traceparent: str) -> "AsyncClient":
        """A view of this client whose requests carry this W3C ``traceparent``
        (it shares the connections; closing either closes both). Without
        one, requests carry OpenTelemetry's current span when the
        ``opentelemetry`` package is installed."""
        self._native.check_traceparent(traceparent)
        view = copy.copy(self)
        view._traceparent = traceparent
        return view

    def _tp(self) -> Optional[str]:
        self._bind_loop()
        return self._traceparent or current_traceparent()

    async def initialize(self, object: Object, state: Dict[str, JSONValue]) -> None:
        """Stores ``state`` (a dict) in the object, one key per member, atomically."""
        await self._native.initialize(_spec(object), state, aio=True, traceparent=self._tp())

    async def call_method(
        self,
        object: Object,
        method: str,
        params: JSONValue = None,
        *,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Calls ``method`` on the object with ``params`` and returns its result.
        Retried safely (every call carries an idempotency key)."""
        return await self._native.call_method(
            _spec(object),
            method,
            params,
            idempotency_key,
            timeout,
            aio=True,
            traceparent=self._tp(),
        )

    @overload
    async def get_state(self, object: Object) -> Dict[str, Any]: ...

    @overload
    async def get_state(self, object: Object, key: str) -> Any: ...

    async def get_state(self, object: Object, key: Optional[str] = None) -> Any:
        """The object's whole state as a dict, or with ``key`` that key's value
        (:class:`NotFoundError` when absent)."""
        return await self._native.get_state(_spec(object), key, aio=True, traceparent=self._tp())

    async def update_state(
        self,
        object: Object,
        key: str,
        value: JSONValue,
        *,
        if_equals: JSONValue = UNSET,
        if_absent: bool = False,
    ) -> None:
        """Sets one key of the object's state and broadcasts it. With
        ``if_equals=v`` only if the key holds ``v``, with ``if_absent=True``
        only if it does not exist: otherwise :class:`ConflictError`."""
        await self._native.update_state(
            _spec(object),
            key,
            value,
            None if if_equals is UNSET else (if_equals,),
            if_absent,
            aio=True,
            traceparent=self._tp(),
        )

    async def delete_state(self, object: Object, key: str) -> None:
        """Deletes one key (no error when absent) and broadcasts the deletion."""
        await self._native.delete_state(_spec(object), key, aio=True, traceparent=self._tp())

    async def get_many(self, object: Object, keys: List[str]) -> Dict[str, Any]:
        """Reads up to 128 keys at once; absent keys are left out."""
        result: Dict[str, Any] = await self._native.get_many(
            _spec(object), list(keys), aio=True, traceparent=self._tp()
        )
        return result

    async def put_many(self, object: Object, entries: Mapping[str, JSONValue]) -> None:
        """Writes up to 128 entries atomically (one broadcast per key)."""
        await self._native.put_many(_spec(object), dict(entries), aio=True, traceparent=self._tp())

    async def delete_many(self, object: Object, keys: List[str]) -> int:
        """Deletes up to 128 keys; returns how many existed."""
        return int(
            await self._native.delete_many(
                _spec(object), list(keys), aio=True, traceparent=self._tp()
            )
        )

    async def delete_all(self, object: Object) -> int:
        """Deletes every key of the object's storage; returns how many there were."""
        return int(await self._native.delete_all(_spec(object), aio=True, traceparent=self._tp()))

    async def list_page(
        self,
        object: Object,
        *,
        prefix: Optional[str] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        limit: Optional[int] = None,
        reverse: bool = False,
        cursor: Optional[str] = None,
    ) -> Tuple[List[Tuple[str, Any]], Optional[str]]:
        """One page of ``(key, value)`` entries and the cursor of the next
        (None at the end); pass it back with the same options."""
        raw = await self._native.list_page(
            _spec(object),
            prefix,
            start,
            end,
            limit,
            reverse,
            cursor,
            aio=True,
            traceparent=self._tp(),
        )
        return [(k, v) for k, v in raw["entries"]], raw["cursor"]

    async def transaction(self, object: Object, ops: List[TxOp]) -> List[Any]:
        """Applies up to 128 ops (:class:`Get`, :class:`Put`, :class:`Delete`,
        :class:`CheckEquals`, :class:`CheckAbsent`) atomically, in order;
        one result per op. A failed check raises :class:`ConflictError` and
        nothing is applied."""
        result: List[Any] = await self._native.transaction(
            _spec(object), _tx_spec(list(ops)), aio=True, traceparent=self._tp()
        )
        return result

    async def get_alarm(self, object: Object) -> Optional[int]:
        """The alarm's time (ms since the Unix epoch), or None."""
        result: Optional[int] = await self._native.get_alarm(
            _spec(object), aio=True, traceparent=self._tp()
        )
        return result

    async def set_alarm(self, object: Object, time_ms: int) -> None:
        """Sets the alarm to ``time_ms`` (ms since the Unix epoch). When it
        fires, the object's sockets receive ``{"type": "alarm", ...}``."""
        await self._native.set_alarm(_spec(object), time_ms, aio=True, traceparent=self._tp())

    async def delete_alarm(self, object: Object) -> None:
        """Deletes the alarm (no error when none is set)."""
        await self._native.delete_alarm(_spec(object), aio=True, traceparent=self._tp())

    async def sql(self, object: Object, query: str, *params: JSONValue) -> SqlResult:
        """Runs one SQL statement with ``?`` placeholders bound to ``params``
        (scalars) in an object of a SQLite-backed namespace."""
        return _sql_result(
            await self._native.sql(
                _spec(object), query, list(params), aio=True, traceparent=self._tp()
            )
        )

    async def batch(self, object: Object, calls: List[BatchCall]) -> List[Any]:
        """Runs up to 64 :class:`BatchCall` s in order in one round trip. Each
        item of the result is that call's result, or the
        :class:`CloudflareDurableError` it failed with (returned, not raised:
        one failure does not stop the next call)."""
        result: List[Any] = await self._native.batch(
            _spec(object), _batch_spec(list(calls)), aio=True, traceparent=self._tp()
        )
        return result

    async def new_unique_id(
        self, namespace: Optional[str] = None, *, jurisdiction: Optional[str] = None
    ) -> str:
        """A new unique object id (64 hex digits) in ``namespace`` (the
        client's default when None); address it with ``ObjectRef(id=...)``."""
        return str(
            await self._native.new_unique_id(
                namespace, jurisdiction, aio=True, traceparent=self._tp()
            )
        )

    async def namespace_object_id(self, name: str, namespace: Optional[str] = None) -> str:
        """The id the name maps to in ``namespace`` (``idFromName``)."""
        return str(
            await self._native.namespace_object_id(
                name, namespace, aio=True, traceparent=self._tp()
            )
        )

    async def list_namespaces(self, page: int = 1, per_page: int = 20) -> NamespacePage:
        """A page of the account's Durable Object namespaces (Cloudflare's
        management API: needs ``account_id`` and ``api_token``)."""
        return _namespace_page(await self._native.list_namespaces(page, per_page, aio=True))

    async def list_objects(
        self, namespace_id: str, cursor: Optional[str] = None, limit: int = 1000
    ) -> ObjectPage:
        """A page of the objects of a namespace (management API)."""
        return _object_page(await self._native.list_objects(namespace_id, cursor, limit, aio=True))

    async def list(
        self,
        object: Object,
        *,
        prefix: Optional[str] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        page_size: Optional[int] = None,
        reverse: bool = False,
    ) -> AsyncIterator[Tuple[str, Any]]:
        """``async for key, value in client.list(obj)``: the object's entries
        in key order (reversed when asked), fetched lazily one page
        (``page_size``, default 100) at a time: memory stays bounded by a page."""
        cursor: Optional[str] = None
        while True:
            entries, cursor = await self.list_page(
                object,
                prefix=prefix,
                start=start,
                end=end,
                limit=page_size,
                reverse=reverse,
                cursor=cursor,
            )
            for entry in entries:
                yield entry
            if cursor is None:
                return

    def websocket(self, object: Object) -> AsyncWebSocket:
        """A WebSocket to the object: ``async with`` it, or ``await`` it."""
        return AsyncWebSocket(self, object)

    async def _open_socket(self, object: Object) -> _native.NativeWebSocket:
        return await self._native.websocket_async(_spec(object), traceparent=self._tp())

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
