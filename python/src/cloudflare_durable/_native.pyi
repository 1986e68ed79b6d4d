"""Type stub of the native module (checked against it by mypy's stubtest)."""

from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, final

__all__ = [
    "NativeClient",
    "NativeWebSocket",
    "to_json_value",
    "error_kinds",
    "runtime_pid",
    "shutdown",
    "Canceller",
    "LoopCompletions",
    "CORE_VERSION",
]

CORE_VERSION: str

def error_kinds() -> List[str]: ...
def runtime_pid() -> Optional[int]: ...
def to_json_value(value: Any, name: str = "value") -> Any: ...
def shutdown() -> None: ...

@final
class LoopCompletions:
    def drain(self) -> None: ...

@final
class Canceller:
    def __call__(self, future: Any) -> None: ...

@final
class NativeClient:
    def __new__(
        cls,
        *,
        worker_url: Optional[str] = None,
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
        event_sink: Optional[Callable[[Dict[str, Any]], None]] = None,
        default_namespace: Optional[str] = None,
        api_base_url: Optional[str] = None,
    ) -> NativeClient: ...
    @property
    def worker_url(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def closed(self) -> bool: ...
    def check_traceparent(self, traceparent: str) -> None: ...
    def initialize(
        self, object: Any, state: Any, aio: bool = False, traceparent: Optional[str] = None
    ) -> Any: ...
    def call_method(
        self,
        object: Any,
        method: str,
        params: Any,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def get_state(
        self,
        object: Any,
        key: Optional[str] = None,
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def update_state(
        self,
        object: Any,
        key: str,
        value: Any,
        if_equals: Optional[Tuple[Any]] = None,
        if_absent: bool = False,
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def delete_state(
        self, object: Any, key: str, aio: bool = False, traceparent: Optional[str] = None
    ) -> Any: ...
    def get_many(
        self, object: Any, keys: List[str], aio: bool = False, traceparent: Optional[str] = None
    ) -> Any: ...
    def put_many(
        self,
        object: Any,
        entries: Dict[str, Any],
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def delete_many(
        self, object: Any, keys: List[str], aio: bool = False, traceparent: Optional[str] = None
    ) -> Any: ...
    def delete_all(
        self, object: Any, aio: bool = False, traceparent: Optional[str] = None
    ) -> Any: ...
    def list_page(
        self,
        object: Any,
        prefix: Optional[str] = None,
        start: Optional[str] = None,
        end: Optional[str] = None,
        limit: Optional[int] = None,
        reverse: bool = False,
        cursor: Optional[str] = None,
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def transaction(
        self,
        object: Any,
        ops: List[Tuple[str, str, Any]],
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def get_alarm(
        self, object: Any, aio: bool = False, traceparent: Optional[str] = None
    ) -> Any: ...
    def set_alarm(
        self, object: Any, time_ms: int, aio: bool = False, traceparent: Optional[str] = None
    ) -> Any: ...
    def delete_alarm(
        self, object: Any, aio: bool = False, traceparent: Optional[str] = None
    ) -> Any: ...
    def sql(
        self,
        object: Any,
        query: str,
        params: List[Any],
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def batch(
        self,
        object: Any,
        calls: List[Tuple[str, Any, Optional[str]]],
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def new_unique_id(
        self,
        namespace: Optional[str] = None,
        jurisdiction: Optional[str] = None,
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def namespace_object_id(
        self,
        name: str,
        namespace: Optional[str] = None,
        aio: bool = False,
        traceparent: Optional[str] = None,
    ) -> Any: ...
    def list_namespaces(self, page: int, per_page: int, aio: bool = False) -> Any: ...
    def list_objects(
        self,
        namespace_id: str,
        cursor: Optional[str] = None,
        limit: int = 1000,
        aio: bool = False,
    ) -> Any: ...
    def websocket(self, object: Any, traceparent: Optional[str] = None) -> NativeWebSocket: ...
    def websocket_async(
        self, object: Any, traceparent: Optional[str] = None
    ) -> Awaitable[NativeWebSocket]: ...
    def close(self) -> None: ...
    def close_async(self) -> Awaitable[None]: ...

@final
class NativeWebSocket:
    @property
    def object(self) -> str: ...
    @property
    def status(self) -> str: ...
    def send(self, message: Any) -> None: ...
    def send_async(self, message: Any) -> Awaitable[None]: ...
    def call(
        self,
        method: str,
        params: Any,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any: ...
    def call_async(
        self,
        method: str,
        params: Any,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Awaitable[Any]: ...
    def next_batch(
        self, max: int = 256, timeout: Optional[float] = None
    ) -> Optional[List[Any]]: ...
    def next_batch_async(self, max: int = 256) -> Awaitable[List[Any]]: ...
    def wait_for_status(self, status: str, timeout: float) -> str: ...
    def close(self) -> None: ...
    def close_async(self) -> Awaitable[None]: ...
