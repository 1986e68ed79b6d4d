"""The blocking client and WebSocket."""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from types import TracebackType
import copy
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Tuple, Type, overload

from . import _native
from ._json import JSONValue
from ._errors import ConnectionClosedError, DurableTimeoutError
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
        max_concurrent_requests: Optional[int] = None,
        allow_insecure_http: bool = False,
        on_event: Optional[EventHandler] = None,
        default_namespace: Optional[str] = None,
        api_base_url: Optional[str] = None,
    ) -> None:
        self._traceparent: Optional[str] = None
        self._dispatcher: Optional[_Dispatcher] = None
        if on_event is not None or logger.isEnabledFor(logging.INFO):
            self._dispatcher = _Dispatcher(on_event)
        try:
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
                event_sink=self._dispatcher.put if self._dispatcher else None,
                default_namespace=default_namespace,
                api_base_url=api_base_url,
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

    def with_traceparent(self, traceparent: str) -> "Client":
        """A view of this client whose requests carry this W3C ``traceparent``
        (it shares the connections; closing either closes both). Without
        one, requests carry OpenTelemetry's current span when the
        ``opentelemetry`` package is installed."""
        self._native.check_traceparent(traceparent)
        view = copy.copy(self)
        view._traceparent = traceparent
        return view

    def _tp(self) -> Optional[str]:
        return self._traceparent or current_traceparent()

    def initialize(self, object: Object, state: Dict[str, JSONValue]) -> None:
        """Stores ``state`` (a dict) in the object, one key per member, atomically."""
        self._native.initialize(_spec(object), state, traceparent=self._tp())

    def call_method(
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
        return self._native.call_method(
            _spec(object), method, params, idempotency_key, timeout, traceparent=self._tp()
        )

    @overload
    def get_state(self, object: Object) -> Dict[str, Any]: ...

    @overload
    def get_state(self, object: Object, key: str) -> Any: ...

    def get_state(self, object: Object, key: Optional[str] = None) -> Any:
        """The object's whole state as a dict, or with ``key`` that key's value
        (:class:`NotFoundError` when absent)."""
        return self._native.get_state(_spec(object), key, traceparent=self._tp())

    def update_state(
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
        self._native.update_state(
            _spec(object),
            key,
            value,
            None if if_equals is UNSET else (if_equals,),
            if_absent,
            traceparent=self._tp(),
        )

    def delete_state(self, object: Object, key: str) -> None:
        """Deletes one key (no error when absent) and broadcasts the deletion."""
        self._native.delete_state(_spec(object), key, traceparent=self._tp())

    def get_many(self, object: Object, keys: List[str]) -> Dict[str, Any]:
        """Reads up to 128 keys at once; absent keys are left out."""
        result: Dict[str, Any] = self._native.get_many(
            _spec(object), list(keys), traceparent=self._tp()
        )
        return result

    def put_many(self, object: Object, entries: Mapping[str, JSONValue]) -> None:
        """Writes up to 128 entries atomically (one broadcast per key)."""
        self._native.put_many(_spec(object), dict(entries), traceparent=self._tp())

    def delete_many(self, object: Object, keys: List[str]) -> int:
        """Deletes up to 128 keys; returns how many existed."""
        return int(self._native.delete_many(_spec(object), list(keys), traceparent=self._tp()))

    def delete_all(self, object: Object) -> int:
        """Deletes every key of the object's storage; returns how many there were."""
        return int(self._native.delete_all(_spec(object), traceparent=self._tp()))

    def list_page(
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
        raw = self._native.list_page(
            _spec(object), prefix, start, end, limit, reverse, cursor, traceparent=self._tp()
        )
        return [(k, v) for k, v in raw["entries"]], raw["cursor"]

    def list(
        self,
        object: Object,
        *,
        prefix: Optional[str] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        page_size: Optional[int] = None,
        reverse: bool = False,
    ) -> Iterator[Tuple[str, Any]]:
        """Iterates over the object's ``(key, value)`` entries in key order
        (reversed when asked), fetching one page (``page_size``, default 100)
        at a time: memory stays bounded by a page."""
        cursor: Optional[str] = None
        while True:
            entries, cursor = self.list_page(
                object,
                prefix=prefix,
                start=start,
                end=end,
                limit=page_size,
                reverse=reverse,
                cursor=cursor,
            )
            yield from entries
            if cursor is None:
                return

    def transaction(self, object: Object, ops: List[TxOp]) -> List[Any]:
        """Applies up to 128 ops (:class:`Get`, :class:`Put`, :class:`Delete`,
        :class:`CheckEquals`, :class:`CheckAbsent`) atomically, in order;
        one result per op. A failed check raises :class:`ConflictError` and
        nothing is applied."""
        result: List[Any] = self._native.transaction(
            _spec(object), _tx_spec(list(ops)), traceparent=self._tp()
        )
        return result

    def get_alarm(self, object: Object) -> Optional[int]:
        """The alarm's time (ms since the Unix epoch), or None."""
        result: Optional[int] = self._native.get_alarm(_spec(object), traceparent=self._tp())
        return result

    def set_alarm(self, object: Object, time_ms: int) -> None:
        """Sets the alarm to ``time_ms`` (ms since the Unix epoch). When it
        fires, the object's sockets receive ``{"type": "alarm", ...}``."""
        self._native.set_alarm(_spec(object), time_ms, traceparent=self._tp())

    def delete_alarm(self, object: Object) -> None:
        """Deletes the alarm (no error when none is set)."""
        self._native.delete_alarm(_spec(object), traceparent=self._tp())

    def sql(self, object: Object, query: str, *params: JSONValue) -> SqlResult:
        """Runs one SQL statement with ``?`` placeholders bound to ``params``
        (scalars) in an object of a SQLite-backed namespace."""
        return _sql_result(
            self._native.sql(_spec(object), query, list(params), traceparent=self._tp())
        )

    def batch(self, object: Object, calls: List[BatchCall]) -> List[Any]:
        """Runs up to 64 :class:`BatchCall` s in order in one round trip. Each
        item of the result is that call's result, or the
        :class:`CloudflareDurableError` it failed with (returned, not raised:
        one failure does not stop the next call)."""
        result: List[Any] = self._native.batch(
            _spec(object), _batch_spec(list(calls)), traceparent=self._tp()
        )
        return result

    def new_unique_id(
        self, namespace: Optional[str] = None, *, jurisdiction: Optional[str] = None
    ) -> str:
        """A new unique object id (64 hex digits) in ``namespace`` (the
        client's default when None); address it with ``ObjectRef(id=...)``."""
        return str(self._native.new_unique_id(namespace, jurisdiction, traceparent=self._tp()))

    def namespace_object_id(self, name: str, namespace: Optional[str] = None) -> str:
        """The id the name maps to in ``namespace`` (``idFromName``)."""
        return str(self._native.namespace_object_id(name, namespace, traceparent=self._tp()))

    def list_namespaces(self, page: int = 1, per_page: int = 20) -> NamespacePage:
        """A page of the account's Durable Object namespaces (Cloudflare's
        management API: needs ``account_id`` and ``api_token``)."""
        return _namespace_page(self._native.list_namespaces(page, per_page))

    def list_objects(
        self, namespace_id: str, cursor: Optional[str] = None, limit: int = 1000
    ) -> ObjectPage:
        """A page of the objects of a namespace (management API)."""
        return _object_page(self._native.list_objects(namespace_id, cursor, limit))

    def websocket(self, object: Object) -> WebSocket:
        """Opens a WebSocket to the object; returns once connected. Use it as
        a context manager: ``with client.websocket("counter") as ws: ...``."""
        return WebSocket(self._native.websocket(_spec(object), traceparent=self._tp()))

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
