"""The MCP server in-process (``mcp.Client(server)``): listing, pagination, core mode, meta-tools."""

from __future__ import annotations

import json

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.server.conftest import MakeServer
from tests.server.support import names, text_of

pytestmark = pytest.mark.anyio

FIXTURE_NAMES = {"math.add", "math.mul", "text.greet", "text.safe_div", "ops.sleepy", "ops.crash"}


async def test_list_shows_meta_tools_first_then_every_tool_with_metadata(make_server: MakeServer) -> None:
    async with Client(make_server()) as client:
        listing = await client.list_tools()
    assert names(listing)[:2] == ["search_tools", "call_tool"]
    assert set(names(listing)) >= FIXTURE_NAMES
    assert listing.next_cursor is None
    add = next(tool for tool in listing.tools if tool.name == "math.add")
    assert add.title == "Add"
    assert add.description and "Add two integers" in add.description
    assert add.input_schema["required"] == ["a", "b"]
    assert add.output_schema is not None
    assert add.annotations is not None and add.annotations.read_only_hint is True
    meta = add.meta or {}
    assert meta["io.distillery/version"] == "1.0.0"
    assert meta["io.distillery/status"] == "active"
    assert len(meta["io.distillery/content_hash"]) == 64


@pytest.mark.parametrize("ttl_ms", [0, 1234])
async def test_list_cache_hint_follows_the_settings(make_server: MakeServer, ttl_ms: int) -> None:
    async with Client(make_server(list_ttl_ms=ttl_ms, page_size=2)) as client:
        first = await client.list_tools(cache_mode="bypass")
        second = await client.list_tools(cursor=first.next_cursor, cache_mode="bypass")
    assert [(page.ttl_ms, page.cache_scope) for page in (first, second)] == [(ttl_ms, "private")] * 2


async def test_pagination_cursor_chain_covers_every_tool_once(make_server: MakeServer) -> None:
    async with Client(make_server(page_size=2)) as client:
        page = await client.list_tools()
        full = names(page)
        pages = 1
        while page.next_cursor is not None:
            page = await client.list_tools(cursor=page.next_cursor)
            full += names(page)
            pages += 1
    assert pages == (len(FIXTURE_NAMES) + 2 + 1) // 2
    assert len(full) == len(set(full)) == len(FIXTURE_NAMES) + 2
    assert set(full) >= FIXTURE_NAMES


@pytest.mark.parametrize("cursor", ["garbage", "-1"])
async def test_bad_cursor_is_invalid_params(make_server: MakeServer, cursor: str) -> None:
    async with Client(make_server()) as client:
        with pytest.raises(MCPError) as caught:
            await client.list_tools(cursor=cursor)
        assert caught.value.error.code == types.INVALID_PARAMS
        assert "math.add" in names(await client.list_tools())


async def test_core_listing_shows_only_core_tools_but_all_are_callable(make_server: MakeServer) -> None:
    async with Client(make_server(listing="core", core_tools=["math.add"])) as client:
        assert names(await client.list_tools()) == ["search_tools", "call_tool", "math.add"]
        result = await client.call_tool("math.mul", {"a": 6, "b": 7})
    assert not result.is_error and result.structured_content == {"result": 42}


async def test_search_tools_returns_visible_matches(make_server: MakeServer) -> None:
    async with Client(make_server()) as client:
        result = await client.call_tool("search_tools", {"query": "multiply two integers", "k": 3})
    assert not result.is_error
    assert result.structured_content is not None
    found = result.structured_content["tools"]
    assert 1 <= len(found) <= 3
    assert found[0]["name"] == "math.mul"
    assert found[0]["required"] == ["a", "b"]
    assert json.loads(text_of(result)) == result.structured_content


@pytest.mark.parametrize("arguments", [
    {"query": ""}, {"query": "   "}, {"query": "add", "k": 0}, {"query": "add", "k": 21}, {"query": "add", "k": "3"},
    {},
])
async def test_search_tools_rejects_bad_arguments(make_server: MakeServer, arguments: dict[str, object]) -> None:
    async with Client(make_server()) as client:
        result = await client.call_tool("search_tools", arguments)
        assert result.is_error and text_of(result).startswith("Invalid arguments")
        assert not (await client.call_tool("math.add", {"a": 1, "b": 1})).is_error


async def test_call_tool_meta_runs_the_inner_tool(make_server: MakeServer) -> None:
    async with Client(make_server()) as client:
        result = await client.call_tool("call_tool", {"name": "math.add", "arguments": {"a": 2, "b": 40}})
        assert not result.is_error and result.structured_content == {"result": 42}
        unknown = await client.call_tool("call_tool", {"name": "math.nope", "arguments": {}})
        assert unknown.is_error and "Unknown tool: math.nope" in text_of(unknown)
        malformed = await client.call_tool("call_tool", {"name": 3})
        assert malformed.is_error and text_of(malformed).startswith("Invalid arguments")
        bad_inner = await client.call_tool("call_tool", {"name": "math.add", "arguments": {"a": "x", "b": 1}})
        assert bad_inner.is_error and text_of(bad_inner).startswith("Invalid arguments")


async def test_unknown_tool_is_invalid_params(make_server: MakeServer) -> None:
    async with Client(make_server()) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("math.nope", {})
        assert caught.value.error.code == types.INVALID_PARAMS
        assert not (await client.call_tool("math.add", {"a": 1, "b": 2})).is_error


async def test_single_namespace_toolset_uses_bare_names(make_server: MakeServer) -> None:
    async with Client(make_server(namespaces=["math"])) as client:
        listed = names(await client.list_tools())
        assert listed == ["search_tools", "call_tool", "add", "mul"]
        assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}
        with pytest.raises(MCPError):
            await client.call_tool("math.add", {"a": 1, "b": 2})
        search = await client.call_tool("search_tools", {"query": "multiply"})
        assert search.structured_content is not None
        assert {hit["name"] for hit in search.structured_content["tools"]} <= {"add", "mul"}
        inner = await client.call_tool("call_tool", {"name": "mul", "arguments": {"a": 2, "b": 5}})
        assert inner.structured_content == {"result": 10}


async def test_multi_namespace_toolset_keeps_qualified_names(make_server: MakeServer) -> None:
    async with Client(make_server(namespaces=["math", "text"])) as client:
        listed = names(await client.list_tools())
    assert listed[:2] == ["search_tools", "call_tool"]
    assert set(listed[2:]) == {"math.add", "math.mul", "text.greet", "text.safe_div"}
