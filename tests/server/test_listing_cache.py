"""``tools/list`` from cached bytes: a hit is the listing the SDK would write, per revision, caller and page.

The endpoint app is the one ``distillery serve`` mounts (``server.app.endpoint_app``: auth gate,
splicer, the SDK's Streamable HTTP app), driven by the SDK's client over HTTP through an ASGI
transport, so the runtime's cache can be inspected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp

from registry.models import Role
from registry.service.keys import create_key
from server.app import endpoint_app
from server.auth import ApiKeyVerifier
from server.catalog import Visibility
from server.listing_cache import ListingCache, ListingKey
from server.mcp_server import build_mcp_server
from server.runtime import McpRuntime
from tests.registry.factories import make_spec
from tests.server.conftest import Registry
from tests.server.support import names, publish

pytestmark = pytest.mark.anyio
URL = "http://127.0.0.1:8000/mcp"  # the SDK checks Host against 127.0.0.1:*
MODERN = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
          "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "probe", "version": "1"}}


@dataclass
class Endpoint:
    """An endpoint app and the runtime behind it."""

    app: ASGIApp
    runtime: McpRuntime


@asynccontextmanager
async def serving(registry: Registry, *, namespaces: list[str] | None = None, toolset: str | None = None,
                  **server: Any) -> AsyncIterator[Endpoint]:
    """The endpoint app over ``registry`` with ``server`` settings, its session manager running."""
    settings = registry.settings.model_copy(update={"server": registry.settings.server.model_copy(update=server)})
    runtime = McpRuntime(registry.services, settings)
    mcp = build_mcp_server(runtime, endpoint_namespaces=namespaces, toolset=toolset)
    app = endpoint_app(runtime, mcp, "/mcp", verifier=ApiKeyVerifier(registry.services.engine), anonymous_allowed=True)
    try:
        async with mcp.session_manager.run():
            yield Endpoint(app, runtime)
    finally:
        runtime.close()


@asynccontextmanager
async def connect(endpoint: Endpoint, key: str | None = None) -> AsyncIterator[Client]:
    """A modern-era SDK client of ``endpoint``."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (httpx2.AsyncClient(transport=httpx2.ASGITransport(app=endpoint.app), headers=headers) as http,
                Client(streamable_http_client(URL, http_client=http)) as client):
        yield client


async def post(endpoint: Endpoint, body: dict[str, Any], **headers: str) -> httpx2.Response:
    """One raw JSON-RPC POST to ``endpoint``."""
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=endpoint.app)) as http:
        return await http.post(URL, json=body, headers={**MODERN, **headers})


def listing_request(request_id: int, **params: Any) -> dict[str, Any]:
    """A modern ``tools/list`` request."""
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/list", "params": {"_meta": META, **params}}


def dumped(listing: types.ListToolsResult) -> list[dict[str, Any]]:
    """The tool definitions of a listing, as JSON."""
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listing.tools]


async def test_a_cache_hit_answers_exactly_what_the_sdk_wrote(registry: Registry) -> None:
    async with serving(registry) as endpoint:
        first = await post(endpoint, listing_request(1))
        assert len(endpoint.runtime.listings) == 1
        second = await post(endpoint, listing_request("two"))
    assert first.status_code == second.status_code == 200
    assert second.headers["content-length"] == str(len(second.content))
    one, two = first.json(), second.json()
    assert (one["id"], two["id"]) == (1, "two")
    assert two["result"] == one["result"]
    assert {"math.add", "text.greet"} <= {tool["name"] for tool in two["result"]["tools"]}
    assert two["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "distillery"


async def test_cached_listings_match_the_uncached_listing(registry: Registry) -> None:
    async with serving(registry) as endpoint, connect(endpoint) as client:
        fresh = await client.list_tools(cache_mode="bypass")
        cached = await client.list_tools(cache_mode="bypass")
    async with Client(build_mcp_server(McpRuntime(registry.services, registry.settings))) as direct:
        unspliced = await direct.list_tools()
    assert dumped(cached) == dumped(fresh) == dumped(unspliced)


async def test_a_publish_shows_in_the_next_listing(registry: Registry) -> None:
    async with serving(registry) as endpoint, connect(endpoint) as client:
        before = names(await client.list_tools(cache_mode="bypass"))
        assert "math.cached_new" not in before
        await anyio.to_thread.run_sync(lambda: publish(registry.services, make_spec(
            "cached_new", namespace="math", body="return a + b + 1", doc="Add two integers, plus one.",
            tests=[({"a": 1, "b": 1}, 3)])))
        after = names(await client.list_tools(cache_mode="bypass"))
        assert set(after) == {*before, "math.cached_new"}
        assert names(await client.list_tools(cache_mode="bypass")) == after
        assert len(endpoint.runtime.listings) == 1  # the older revision's entry is gone


async def test_each_caller_gets_its_own_cached_listing(registry: Registry) -> None:
    services = registry.services
    _key, math_key = create_key(services.engine, name="cache-math", role=Role.reader, namespaces=["math"])
    publish(services, make_spec("halve", namespace="math", params="x: int", body="return x // 2", returns="int",
                                doc="Halve x.", tests=[({"x": 4}, 2)]))
    publish(services, make_spec("halve", namespace="math", params="x: int, floor: bool = True",
                                body="return x // 2", returns="int", doc="Halve x.", tests=[({"x": 4}, 2)]))
    pinned, pinned_key = create_key(services.engine, name="cache-pinned", role=Role.reader)
    services.curator.pin(pinned.id, "math", "halve", "1.0.0", actor="test")

    def version(listing: types.ListToolsResult) -> str:
        tool = next(tool for tool in listing.tools if tool.name == "math.halve")
        return str((tool.meta or {})["io.distillery/version"])

    async with serving(registry) as endpoint:
        for _round in range(2):  # the second round is served from the cache
            async with connect(endpoint) as anonymous, connect(endpoint, math_key) as math, \
                    connect(endpoint, pinned_key) as keyed:
                everything, only_math, pinned_listing = [await c.list_tools(cache_mode="bypass")
                                                         for c in (anonymous, math, keyed)]
                assert "text.greet" in names(everything) and version(everything) == "1.1.0"
                assert all(name.startswith("math.") for name in names(only_math)[2:])
                assert version(pinned_listing) == "1.0.0"
        assert len(endpoint.runtime.listings) == 3


async def test_pages_are_cached_separately(registry: Registry) -> None:
    async with serving(registry, page_size=3) as endpoint, connect(endpoint) as client:
        rounds = []
        for _round in range(2):
            page = await client.list_tools(cache_mode="bypass")
            seen = names(page)
            while page.next_cursor is not None:
                page = await client.list_tools(cursor=page.next_cursor, cache_mode="bypass")
                seen += names(page)
            rounds.append(seen)
    assert rounds[0] == rounds[1] and len(set(rounds[0])) == len(rounds[0]) > 3


async def test_a_bad_request_fails_even_when_a_listing_is_cached(registry: Registry) -> None:
    async with serving(registry) as endpoint, connect(endpoint) as client:
        await client.list_tools(cache_mode="bypass")
        with pytest.raises(MCPError) as caught:
            await client.list_tools(cursor="garbage", cache_mode="bypass")
        assert caught.value.error.code == types.INVALID_PARAMS
        mismatch = await post(endpoint, listing_request(3), **{"MCP-Protocol-Version": "2025-06-18x"})
        assert mismatch.status_code == 400 and "result" not in mismatch.json()


def test_the_cache_keeps_the_newest_revision_within_its_budget() -> None:
    cache = ListingCache(max_bytes=10)

    def key(revision: int, cursor: str | None = None) -> ListingKey:
        return ListingKey(revision, Visibility(), cursor, "2026-07-28")

    cache.put(key(2), b"aaaa")
    cache.put(key(1), b"old")  # an older revision is never stored
    assert cache.get(key(1)) is None and cache.get(key(2)) == b"aaaa"
    cache.put(key(2, "3"), b"bbbb")
    cache.put(key(2, "6"), b"cccc")  # over budget: the least recently used goes
    assert cache.get(key(2)) is None and cache.get(key(2, "6")) == b"cccc"
    cache.put(key(3), b"dd")  # a newer revision drops the rest
    assert len(cache) == 1 and cache.get(key(3)) == b"dd"
