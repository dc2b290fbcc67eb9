"""Calls reached through search_tools: the per-caller memory of search hits, and what the server records."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mcp import Client

from registry.models import Role
from registry.schemas import Principal
from registry.service.health import health_report
from server.search_memory import SearchMemory, caller_identity
from tests.server.conftest import MakeServer, Registry

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_hit_counts_within_the_window_for_that_caller_only() -> None:
    clock = Clock()
    memory = SearchMemory(60.0, clock=clock)
    memory.remember("key:a", ["v1", "v2"])
    assert memory.reached_via_search("key:a", "v1") and not memory.reached_via_search("key:b", "v1")
    assert not memory.reached_via_search("key:a", "v3")
    clock.now += 60.0
    assert memory.reached_via_search("key:a", "v2")
    clock.now += 0.5
    assert not memory.reached_via_search("key:a", "v2")
    memory.remember("key:a", ["v2"])  # a new search renews it
    assert memory.reached_via_search("key:a", "v2")


def test_memory_is_bounded_dropping_the_least_recent() -> None:
    memory = SearchMemory(60.0, max_callers=2, max_hits=2, clock=Clock())
    memory.remember("a", ["v1", "v2", "v3"])
    assert [memory.reached_via_search("a", v) for v in ("v1", "v2", "v3")] == [False, True, True]
    memory.remember("b", ["v1"])
    memory.remember("a", [])  # a is active again: b is now the least recent
    memory.remember("c", ["v1"])
    assert memory.reached_via_search("a", "v2") and not memory.reached_via_search("b", "v1")
    with pytest.raises(ValueError, match="window_s must be positive"):
        SearchMemory(0)


def test_the_caller_is_the_key_then_the_session_then_the_address() -> None:
    key = Principal(key_id="k1", name="student", role=Role.reader, namespaces=[])
    legacy = SimpleNamespace(headers={"mcp-session-id": "s9"}, client=SimpleNamespace(host="10.0.0.2"))
    modern = SimpleNamespace(headers={}, client=SimpleNamespace(host="10.0.0.2"))
    assert caller_identity(key, legacy) == "key:k1"
    assert caller_identity(None, legacy) == "session:s9"
    assert caller_identity(None, modern) == "addr:10.0.0.2"
    assert caller_identity(None, None) == "stdio"


async def test_only_calls_of_versions_a_search_returned_count_as_via_search(make_server: MakeServer,
                                                                           registry: Registry) -> None:
    async with Client(make_server()) as client:
        found = await client.call_tool("search_tools", {"query": "multiply two integers", "k": 1})
        [hit] = (found.structured_content or {})["tools"]
        assert hit["name"] == "math.mul"
        assert not (await client.call_tool("math.mul", {"a": 2, "b": 3})).is_error
        assert not (await client.call_tool("call_tool", {"name": "math.mul", "arguments": {"a": 1, "b": 3}})).is_error
        assert not (await client.call_tool("math.add", {"a": 2, "b": 3})).is_error
    registry.services.usage.flush()
    figures = {v.qualified: (v.calls, v.search_calls) for v in health_report(registry.services.engine, days=1).versions}
    assert figures["math.mul@1.0.0"] == (2, 2) and figures["math.add@1.0.0"] == (1, 0)
