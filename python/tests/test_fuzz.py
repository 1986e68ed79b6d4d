"""Fuzzing the Python -> JSON conversion with hypothesis, for a bounded
number of examples: nested Python values, JSON and not. Each value either
raises a clean TypeError/ValueError, or converts; values that convert and
stay within JavaScript's safe integers must come back equal from the
worker's `echo` (the reference worker is JavaScript: integers beyond 2^53
would come back rounded, so those are checked for conversion only)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cloudflare_durable as cd
from cloudflare_durable import _native

SAFE = 2**53 - 1
COUNT = {"convert": 0, "echo": 0, "refused": 0}

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-SAFE, SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
hostile_leaves = (
    st.integers()  # beyond 64 bits too
    | st.floats()  # nan, inf
    | st.binary(max_size=4)
    | st.sets(st.integers(0, 3), max_size=2)
    | st.just(object())
    | st.just(Decimal("1.1"))
    | st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=10)
    | st.sampled_from(["\ud800", "a\udfffb"])
)


def nest(leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.tuples(inner, inner)
            | st.dictionaries(keys, inner, max_size=5)
        ),
        max_leaves=25,
    )


json_values = nest(json_leaves, st.text(max_size=10))
any_values = nest(
    json_leaves | hostile_leaves, st.text(max_size=10) | st.integers(0, 3) | st.just(None)
)


def same(a: Any, b: Any) -> bool:
    """JSON equality: tuples are lists, 1.0 == 1, bool is not int."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (math.isclose(a, b, rel_tol=1e-15, abs_tol=0))
    if isinstance(a, (list, tuple)) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.fixture(scope="module")
def client(worker: Any) -> Iterator[cd.Client]:
    with cd.Client(worker.url, timeout=10) as c:
        yield c


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(any_values)
def test_conversion_is_clean_or_refused(value: Any) -> None:
    COUNT["convert"] += 1
    try:
        converted = _native.to_json_value(value)
    except (TypeError, ValueError) as error:
        COUNT["refused"] += 1
        assert str(error).startswith("value")  # names the path
        return
    assert same(value, converted)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_round_trip_through_echo(client: cd.Client, value: Any) -> None:
    COUNT["echo"] += 1
    assert same(value, client.call_method("fuzz-echo", "echo", value))


def test_report_examples() -> None:
    print(
        f"\nfuzz examples: conversion={COUNT['convert']} (refused {COUNT['refused']}), echo={COUNT['echo']}"
    )
    assert COUNT["convert"] > 0 and COUNT["echo"] > 0
