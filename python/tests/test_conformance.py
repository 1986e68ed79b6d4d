"""The shared scenarios of tests/conformance/scenarios.json, from Python."""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, Iterator

import pytest

import cloudflare_durable as cd
from conftest import REPO

SCENARIOS = json.loads((REPO / "tests" / "conformance" / "scenarios.json").read_text())


def _fill(value: Any, run: str) -> Any:
    if isinstance(value, str):
        return value.replace("{run}", run)
    if isinstance(value, list):
        return [_fill(v, run) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, run) for k, v in value.items()}
    return value


def _sync_op(client: cd.Client, step: Dict[str, Any]) -> Any:
    op = step["op"]
    if op == "initialize":
        return client.initialize(step["object"], step["state"])
    if op == "call_method":
        return client.call_method(step["object"], step["method"], step["params"])
    if op == "get_state":
        return client.get_state(step["object"])
    if op == "get_state_key":
        return client.get_state(step["object"], step["key"])
    if op == "update_state":
        return client.update_state(step["object"], step["key"], step["value"])
    if op == "delete_state":
        return client.delete_state(step["object"], step["key"])
    raise AssertionError(f"unknown op {op}")


async def _async_op(client: cd.AsyncClient, step: Dict[str, Any]) -> Any:
    op = step["op"]
    if op == "initialize":
        return await client.initialize(step["object"], step["state"])
    if op == "call_method":
        return await client.call_method(step["object"], step["method"], step["params"])
    if op == "get_state":
        return await client.get_state(step["object"])
    if op == "get_state_key":
        return await client.get_state(step["object"], step["key"])
    if op == "update_state":
        return await client.update_state(step["object"], step["key"], step["value"])
    if op == "delete_state":
        return await client.delete_state(step["object"], step["key"])
    raise AssertionError(f"unknown op {op}")


def _check(step: Dict[str, Any], outcome: Any, error: Any) -> None:
    expect = step["expect"]
    where = f"step {step}"
    if "error" in expect:
        assert isinstance(error, cd.CloudflareDurableError), f"{where}: got {outcome!r}"
        assert error.kind == expect["error"], where
        return
    assert error is None, f"{where}: raised {error!r}"
    if "ok" in expect:
        assert outcome == expect["ok"], where
    else:
        assert {**outcome, **expect["ok_subset"]} == outcome, where


@pytest.fixture
def sync_client(url: str) -> Iterator[cd.Client]:
    with cd.Client(worker_url=url, retry_count=0) as c:
        yield c


@pytest.mark.parametrize("scenario", SCENARIOS["scenarios"], ids=lambda s: s["name"])
def test_scenario_sync(sync_client: cd.Client, scenario: Dict[str, Any]) -> None:
    run = uuid.uuid4().hex[:10]
    for step in _fill(scenario["steps"], run):
        try:
            outcome, error = _sync_op(sync_client, step), None
        except cd.CloudflareDurableError as e:
            outcome, error = None, e
        _check(step, outcome, error)


@pytest.mark.parametrize("scenario", SCENARIOS["scenarios"], ids=lambda s: s["name"])
async def test_scenario_async(url: str, scenario: Dict[str, Any]) -> None:
    run = uuid.uuid4().hex[:10]
    async with cd.AsyncClient(worker_url=url, retry_count=0) as client:
        for step in _fill(scenario["steps"], run):
            try:
                outcome, error = await _async_op(client, step), None
            except cd.CloudflareDurableError as e:
                outcome, error = None, e
            _check(step, outcome, error)
