"""MCP over HTTP against real ``distillery serve`` processes: both eras, change notices, auth, Host/Origin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import anyio.to_thread
import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from registry.models import Role
from registry.service.keys import create_key
from tests.registry.factories import make_spec
from tests.server.conftest import Registry
from tests.server.support import Notices, connect, names, next_event, publish, server_env, text_of
from tests.support.serve import ServerProcess
from toolbox.settings import ServerSettings

pytestmark = pytest.mark.anyio

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "probe", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@dataclass
class Served:
    """The open server, the closed-reads server, and keys on their shared registry."""

    registry: Registry
    url: str
    closed_url: str
    math_key: str
    pinned_key: str


@pytest.fixture(scope="module")
def served(registry: Registry) -> Iterator[Served]:
    """Two ``distillery serve`` processes on the module registry: open reads, and closed reads."""
    services = registry.services
    _key, math_key = create_key(services.engine, name="math-only", role=Role.reader, namespaces=["math"])
    pinned, pinned_key = create_key(services.engine, name="pinned", role=Role.reader)
    publish(services, make_spec("scale", namespace="math", params="x: int", body="return x * 2",
                                returns="int", doc="Scale x.", tests=[({"x": 1}, 2)]))
    publish(services, make_spec("scale", namespace="math", params="x: int, factor: int = 3",
                                body="return x * factor", returns="int", doc="Scale x.",
                                tests=[({"x": 1, "factor": 3}, 3)]))
    services.curator.pin(pinned.id, "math", "scale", "1.0.0", actor="test")
    open_env = server_env(registry.url, DISTILLERY_SERVER__PUBLIC_HOSTNAMES='["mcp.example.com"]',
                          DISTILLERY_SERVER__TOOLSETS='{"mathset": ["math"], "mix": ["math", "text"]}')
    open_server = ServerProcess(open_env, registry.directory / "open.log")
    closed_server = ServerProcess(server_env(registry.url, DISTILLERY_AUTH__OPEN_READS="false"),
                                  registry.directory / "closed.log")
    try:
        open_server.wait_ready()
        closed_server.wait_ready()
        yield Served(registry, f"{open_server.url}/mcp", f"{closed_server.url}/mcp", math_key, pinned_key)
    finally:
        open_server.stop()
        closed_server.stop()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_list_and_call_over_http(served: Served, mode: str) -> None:
    async with connect(served.url, mode=mode) as client:
        assert {"math.add", "text.greet"} <= set(names(await client.list_tools()))
        result = await client.call_tool("math.add", {"a": 20, "b": 22})
        assert not result.is_error and result.structured_content == {"result": 42}
        failed = await client.call_tool("text.safe_div", {"a": 1.0, "b": 0.0})
        assert failed.is_error and text_of(failed) == "ValueError: b must not be zero"
        with pytest.raises(MCPError) as caught:
            await client.call_tool("math.nope", {})
        assert caught.value.error.code == types.INVALID_PARAMS


async def test_modern_listener_gets_a_change_notice(served: Served) -> None:
    async with connect(served.url) as client, client.listen(tools_list_changed=True) as subscription:
        await anyio.to_thread.run_sync(lambda: publish(served.registry.services, make_spec(
            "sub", namespace="math", body="return a - b", doc="Subtract b from a.", tests=[({"a": 3, "b": 1}, 2)])))
        await next_event(subscription)
        assert "math.sub" in names(await client.list_tools())


async def test_legacy_client_gets_a_change_notice(served: Served) -> None:
    notices = Notices()
    async with connect(served.url, mode="legacy", message_handler=notices.handler) as client:
        before = notices.count
        await anyio.to_thread.run_sync(lambda: publish(served.registry.services, make_spec(
            "neg", namespace="math", params="a: int", body="return -a", doc="Negate a.", tests=[({"a": 3}, -3)])))
        await notices.wait_beyond(before)
        assert "math.neg" in names(await client.list_tools())


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_toolset_endpoints(served: Served, mode: str) -> None:
    async with connect(served.url.replace("/mcp", "/mcp/mathset"), mode=mode) as bare:
        listed = names(await bare.list_tools())
        assert listed[:2] == ["search_tools", "call_tool"] and "add" in listed
        assert all("." not in name for name in listed)
        assert (await bare.call_tool("add", {"a": 2, "b": 2})).structured_content == {"result": 4}
        with pytest.raises(MCPError):
            await bare.call_tool("greet", {"name": "x"})
    async with connect(served.url.replace("/mcp", "/mcp/mix"), mode=mode) as mixed:
        listed = names(await mixed.list_tools())
        assert {"math.add", "text.greet"} <= set(listed) and "ops.sleepy" not in listed
        assert text_of(await mixed.call_tool("text.greet", {"name": "Mix"})) == "Hello, Mix!"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_namespace_key_sees_and_calls_only_its_namespace(served: Served, mode: str) -> None:
    async with connect(served.url, key=served.math_key, mode=mode) as client:
        listed = names(await client.list_tools())
        assert listed[:2] == ["search_tools", "call_tool"]
        assert "math.add" in listed and all(name.startswith("math.") for name in listed[2:])
        assert not (await client.call_tool("math.add", {"a": 1, "b": 1})).is_error
        with pytest.raises(MCPError) as caught:
            await client.call_tool("text.greet", {"name": "x"})
        assert caught.value.error.code == types.INVALID_PARAMS
        inner = await client.call_tool("call_tool", {"name": "text.greet", "arguments": {"name": "x"}})
        assert inner.is_error
        search = await client.call_tool("search_tools", {"query": "greet someone by name", "k": 20})
        assert search.structured_content is not None
        assert all(hit["name"].startswith("math.") for hit in search.structured_content["tools"])


async def test_a_pin_selects_the_pinned_version(served: Served) -> None:
    async with connect(served.url, key=served.pinned_key) as pinned, connect(served.url) as anonymous:
        old = next(tool for tool in (await pinned.list_tools()).tools if tool.name == "math.scale")
        new = next(tool for tool in (await anonymous.list_tools()).tools if tool.name == "math.scale")
        assert (old.meta or {})["io.distillery/version"] == "1.0.0"
        assert (new.meta or {})["io.distillery/version"] != "1.0.0"
        assert (await pinned.call_tool("math.scale", {"x": 5})).structured_content == {"result": 10}
        assert (await anonymous.call_tool("math.scale", {"x": 5})).structured_content == {"result": 15}
        assert (await pinned.call_tool("math.scale", {"x": 5, "factor": 2})).is_error


def _version(listing: types.ListToolsResult, name: str) -> str:
    tool = next(tool for tool in listing.tools if tool.name == name)
    return str((tool.meta or {})["io.distillery/version"])


async def test_a_toolset_pin_applies_on_that_toolset_endpoint_only(served: Served) -> None:
    """``/mcp/mathset`` serves the toolset's pin; ``/mcp`` and ``/mcp/mix`` do not; a key's own pin comes first."""
    curator = served.registry.services.curator
    engine = served.registry.services.engine
    key, secret = await anyio.to_thread.run_sync(lambda: create_key(engine, name="pin-1.1", role=Role.reader))
    await anyio.to_thread.run_sync(lambda: curator.pin("mathset", "math", "scale", "1.0.0", actor="test"))
    await anyio.to_thread.run_sync(lambda: curator.pin(key.id, "math", "scale", "1.1.0", actor="test"))
    toolset_url = served.url.replace("/mcp", "/mcp/mathset")
    try:
        async with connect(toolset_url) as toolset, connect(served.url) as everything, \
                connect(served.url.replace("/mcp", "/mcp/mix")) as other_toolset, \
                connect(toolset_url, key=secret) as keyed:
            assert _version(await toolset.list_tools(), "scale") == "1.0.0"
            assert (await toolset.call_tool("scale", {"x": 5})).structured_content == {"result": 10}
            assert (await toolset.call_tool("scale", {"x": 5, "factor": 2})).is_error
            for client, name in ((everything, "math.scale"), (other_toolset, "math.scale"), (keyed, "scale")):
                assert _version(await client.list_tools(), name) == "1.1.0", name
                assert (await client.call_tool(name, {"x": 5})).structured_content == {"result": 15}
    finally:
        await anyio.to_thread.run_sync(lambda: curator.unpin("mathset", "math", "scale", actor="test"))
        await anyio.to_thread.run_sync(lambda: curator.unpin(key.id, "math", "scale", actor="test"))
    async with connect(toolset_url) as unpinned:
        assert _version(await unpinned.list_tools(), "scale") == "1.1.0"


async def test_tools_list_carries_a_private_cache_hint(served: Served) -> None:
    """``ttlMs`` from the settings (the default: the served process has no override), ``cacheScope: private``."""
    async with connect(served.url) as client:
        listing = await client.list_tools(cache_mode="bypass")
    assert listing.ttl_ms == ServerSettings().list_ttl_ms > 0
    assert listing.cache_scope == "private"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_wrong_key_cannot_connect(served: Served, mode: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the 401 in an exception group
        async with connect(served.url, key="dst_not-a-key", mode=mode) as client:
            await client.list_tools()
    response = httpx.post(served.url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer dst_nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:distillery:problem:unauthorized" and "distillery keys create" in \
        response.json()["detail"]


async def test_closed_reads_need_a_key(served: Served) -> None:
    assert httpx.post(served.closed_url, json=INITIALIZE, headers=MCP_HEADERS).status_code == 401
    async with connect(served.closed_url, key=served.math_key) as client:
        assert "math.add" in names(await client.list_tools())


def test_public_hostname_is_accepted_and_others_rejected(served: Served) -> None:
    accepted = httpx.post(served.url, json=INITIALIZE, headers={**MCP_HEADERS, "Host": "mcp.example.com"})
    assert accepted.status_code == 200, accepted.text
    evil_host = httpx.post(served.url, json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example"})
    assert evil_host.status_code == 421
    evil_origin = httpx.post(served.url, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": "https://evil.example"})
    assert evil_origin.status_code == 403


async def test_bad_http_input_keeps_the_server_serving(served: Served) -> None:
    broken = httpx.post(served.url, content=b"{not json", headers=MCP_HEADERS)
    assert broken.status_code == 400
    huge = httpx.post(served.url, content=json.dumps({"pad": "x" * (2 << 20)}).encode(), headers=MCP_HEADERS)
    assert huge.status_code == 413
    missing = httpx.get(served.url.replace("/mcp", "/mcp/nope"))
    assert missing.status_code == 404 and missing.json()["type"] == "urn:distillery:problem:not-found"
    async with connect(served.url) as client:
        result = await client.call_tool("math.add", {"a": 1, "b": 2})
        assert not result.is_error and result.structured_content == {"result": 3}
