"""Shared construction of the native client from keyword arguments."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

from . import _native

JSONValue = Union[None, bool, int, float, str, Sequence["JSONValue"], Mapping[str, "JSONValue"]]
"""What can be sent: dict (str keys), list, tuple, str, int (64-bit), float
(finite), bool and None, nested."""


def native_client(
    *,
    worker_url: Optional[str],
    account_id: Optional[str],
    api_token: Optional[str],
    timeout: Optional[float],
    retry_count: Optional[int],
    retry_delay: Optional[float],
    websocket_reconnect_delay: Optional[float],
    websocket_max_reconnect_delay: Optional[float],
    heartbeat_interval: Optional[float],
    heartbeat_timeout: Optional[float],
    send_queue_capacity: Optional[int],
    message_buffer: Optional[int],
    pool_size: Optional[int],
    allow_insecure_http: bool,
    event_sink: Optional[Callable[[Dict[str, Any]], None]],
    default_namespace: Optional[str] = None,
    api_base_url: Optional[str] = None,
) -> _native.NativeClient:
    """Builds the native client (environment variables fill what is unset)."""
    return _native.NativeClient(
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
        event_sink=event_sink,
        default_namespace=default_namespace,
        api_base_url=api_base_url,
    )
