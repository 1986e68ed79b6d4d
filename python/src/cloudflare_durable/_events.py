"""Client events (requests, WebSocket connections, errors) and the package logger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

logger = logging.getLogger("cloudflare_durable")
"""The package logger: request events and failed operations at DEBUG,
WebSocket connects and disconnects at INFO. Events reach it only for clients
created while it is enabled for INFO (or with an ``on_event`` handler)."""


@dataclass(frozen=True)
class Event:
    """Something that happened inside the client.

    ``type`` is one of ``"request_start"``, ``"request_stop"``,
    ``"websocket_connected"``, ``"websocket_disconnected"``, ``"error"``; the
    other fields are set when they apply to that type (``duration`` is in
    seconds, ``error`` is an error kind such as ``"not_found"``).
    """

    type: str
    object: str = ""
    operation: Optional[str] = None
    method: Optional[str] = None
    duration: Optional[float] = None
    attempts: Optional[int] = None
    error: Optional[str] = None
    reconnects: Optional[int] = None
    will_reconnect: Optional[bool] = None
    message: Optional[str] = None

    @classmethod
    def _from_native(cls, raw: Mapping[str, Any]) -> "Event":
        return cls(**raw)


EventHandler = Callable[[Event], None]
"""Signature of ``on_event`` callbacks."""


def _log(event: Event) -> None:
    if event.type == "error":
        logger.debug(
            "%s on %r failed: %s %s", event.operation, event.object, event.error, event.message
        )
    elif event.type.startswith("websocket"):
        logger.info(
            "%s %r reconnects=%s will_reconnect=%s %s",
            event.type,
            event.object,
            event.reconnects,
            event.will_reconnect,
            event.message or "",
        )
    else:
        logger.debug(
            "%s %s %r method=%s duration=%s attempts=%s error=%s",
            event.type,
            event.operation,
            event.object,
            event.method,
            event.duration,
            event.attempts,
            event.error,
        )


def _deliver(handler: Optional[EventHandler], raw: Mapping[str, Any]) -> None:
    """Logs an event and passes it to the user's handler (never raises)."""
    try:
        event = Event._from_native(raw)
        _log(event)
        if handler is not None:
            handler(event)
    except Exception:  # a user's handler must not break the dispatcher
        logger.exception("on_event handler failed")
