"""Object references, transaction ops, batch calls and result types shared
by both clients, and the optional OpenTelemetry trace context."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from ._json import JSONValue


@dataclass(frozen=True)
class ObjectRef:
    """Which object of which namespace: ``ObjectRef("room")``,
    ``ObjectRef("room", namespace="sql")``, ``ObjectRef(id=hex_id)``.
    Accepted wherever an object name (a ``str``) is; a plain name means that
    object in the client's ``default_namespace``.

    ``jurisdiction`` (``"eu"``, ``"fedramp"``) and ``location_hint``
    (``"wnam"``, ``"weur"``, …) are passed to the platform as they are.
    """

    name: Optional[str] = None
    namespace: Optional[str] = None
    id: Optional[str] = None
    jurisdiction: Optional[str] = None
    location_hint: Optional[str] = None

    def __post_init__(self) -> None:
        if (self.name is None) == (self.id is None):
            raise TypeError("an ObjectRef has exactly one of name and id")

    @classmethod
    def from_id(
        cls,
        id: str,
        *,
        namespace: Optional[str] = None,
        jurisdiction: Optional[str] = None,
        location_hint: Optional[str] = None,
    ) -> "ObjectRef":
        """The object with this 64-hex-digit id (from ``new_unique_id`` or
        ``namespace_object_id``)."""
        return cls(
            id=id, namespace=namespace, jurisdiction=jurisdiction, location_hint=location_hint
        )


Object = Union[str, ObjectRef]
"""An object: its name, or an :class:`ObjectRef`."""


def _spec(obj: Object) -> Any:
    """The native form of an object reference."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, ObjectRef):
        return (obj.name, obj.id, obj.namespace, obj.jurisdiction, obj.location_hint)
    raise TypeError(f"object must be a str or an ObjectRef, not {type(obj).__name__}")


# Transaction ops ---------------------------------------------------------


@dataclass(frozen=True)
class Get:
    """Read ``key``; its result is ``{"value": v}`` or ``{"value": None, "absent": True}``."""

    key: str


@dataclass(frozen=True)
class Put:
    """Write ``value`` at ``key``."""

    key: str
    value: JSONValue


@dataclass(frozen=True)
class Delete:
    """Delete ``key``; its result is ``{"deleted": bool}``."""

    key: str


@dataclass(frozen=True)
class CheckEquals:
    """Abort the whole transaction (:class:`ConflictError`) unless ``key`` holds ``value``."""

    key: str
    value: JSONValue


@dataclass(frozen=True)
class CheckAbsent:
    """Abort the whole transaction (:class:`ConflictError`) if ``key`` exists."""

    key: str


TxOp = Union[Get, Put, Delete, CheckEquals, CheckAbsent]
"""One operation of a transaction."""


def _tx_spec(ops: List[TxOp]) -> List[Tuple[str, str, Any]]:
    out: List[Tuple[str, str, Any]] = []
    for i, op in enumerate(ops):
        if isinstance(op, Get):
            out.append(("get", op.key, None))
        elif isinstance(op, Put):
            out.append(("put", op.key, op.value))
        elif isinstance(op, Delete):
            out.append(("delete", op.key, None))
        elif isinstance(op, CheckEquals):
            out.append(("check_equals", op.key, op.value))
        elif isinstance(op, CheckAbsent):
            out.append(("check_absent", op.key, None))
        else:
            raise TypeError(f"ops[{i}] is a {type(op).__name__}, not a transaction op")
    return out


# Batches ------------------------------------------------------------------


@dataclass(frozen=True)
class BatchCall:
    """One call of a batch; an idempotency key is generated when none is given."""

    method: str
    params: JSONValue = None
    idempotency_key: Optional[str] = None


def _batch_spec(calls: List[BatchCall]) -> List[Tuple[str, Any, Optional[str]]]:
    out: List[Tuple[str, Any, Optional[str]]] = []
    for i, call in enumerate(calls):
        if not isinstance(call, BatchCall):
            raise TypeError(f"calls[{i}] is a {type(call).__name__}, not a BatchCall")
        out.append((call.method, call.params, call.idempotency_key))
    return out


# Results --------------------------------------------------------------------


@dataclass(frozen=True)
class SqlResult:
    """The outcome of one SQL statement."""

    columns: List[str]
    rows: List[List[Any]]
    rows_read: int
    rows_written: int


@dataclass(frozen=True)
class NamespaceInfo:
    """One Durable Object namespace of the account (management API)."""

    id: str
    name: Optional[str] = None
    script: Optional[str] = None
    class_name: Optional[str] = None
    use_sqlite: Optional[bool] = None


@dataclass(frozen=True)
class NamespacePage:
    """A page of namespaces."""

    namespaces: List[NamespaceInfo]
    page: int
    total_count: Optional[int]
    has_more: bool


@dataclass(frozen=True)
class ObjectInfo:
    """One object of a namespace (management API)."""

    id: str
    has_stored_data: bool


@dataclass(frozen=True)
class ObjectPage:
    """A page of objects; pass ``cursor`` back for the next (None at the end)."""

    objects: List[ObjectInfo]
    cursor: Optional[str] = field(default=None)


def _sql_result(raw: Dict[str, Any]) -> SqlResult:
    return SqlResult(raw["columns"], raw["rows"], raw["rows_read"], raw["rows_written"])


def _namespace_page(raw: Dict[str, Any]) -> NamespacePage:
    return NamespacePage(
        [
            NamespaceInfo(n["id"], n["name"], n["script"], n["class"], n["use_sqlite"])
            for n in raw["namespaces"]
        ],
        raw["page"],
        raw["total_count"],
        raw["has_more"],
    )


def _object_page(raw: Dict[str, Any]) -> ObjectPage:
    return ObjectPage(
        [ObjectInfo(o["id"], o["has_stored_data"]) for o in raw["objects"]], raw["cursor"]
    )


# Tracing ---------------------------------------------------------------------

_otel_trace: Any
try:  # optional dependency
    _otel_trace = importlib.import_module("opentelemetry.trace")
except ImportError:  # pragma: no cover - depends on the environment
    _otel_trace = None


def current_traceparent() -> Optional[str]:
    """The W3C ``traceparent`` of OpenTelemetry's current span, when the
    ``opentelemetry`` package is installed and a valid span is current."""
    if _otel_trace is None:
        return None
    context = _otel_trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


UNSET: Any = object()
"""Marks an argument that was not given (``if_equals``)."""
