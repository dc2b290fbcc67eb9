"""``distillery mcp`` over stdio: list, call and change notices in both eras; ``--toolset`` and ``--key`` pins."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import anyio.to_thread
import mcp_types as types
import pytest
from mcp import Client, MCPError, StdioServerParameters

from registry.models import Role
from registry.service.keys import create_key
from tests.registry.factories import make_spec
from tests.server.conftest import Registry
from tests.server.support import Notices, names, next_event, publish, server_env, text_of
from tests.support.serve import DISTILLERY

pytestmark = pytest.mark.anyio
TOOLSETS = '{"mathset": ["math"]}'


def _params(registry: Registry) -> StdioServerParameters:
    return StdioServerParameters(command=DISTILLERY, args=["mcp"], env=server_env(registry.url))


async def _publish(registry: Registry, name: str, offset: int) -> None:
    spec = make_spec(name, namespace="math", body=f"return a + b + {offset}", doc=f"The {name} tool.",
                     tests=[({"a": 1, "b": 1}, 2 + offset)])
    await anyio.to_thread.run_sync(lambda: publish(registry.services, spec))


async def test_stdio_modern_list_call_and_change_notice(registry: Registry) -> None:
    async with Client(_params(registry), read_timeout_seconds=60) as client:
        assert "math.add" in names(await client.list_tools())
        assert text_of(await client.call_tool("text.greet", {"name": "Stdio"})) == "Hello, Stdio!"
        async with client.listen(tools_list_changed=True) as subscription:
            await _publish(registry, "stdio_modern", 10)
            await next_event(subscription)
        assert "math.stdio_modern" in names(await client.list_tools())


async def test_stdio_legacy_list_call_and_change_notice(registry: Registry) -> None:
    notices = Notices()
    async with Client(_params(registry), mode="legacy", message_handler=notices.handler,
                      read_timeout_seconds=60) as client:
        assert "math.add" in names(await client.list_tools())
        assert (await client.call_tool("math.add", {"a": 2, "b": 2})).structured_content == {"result": 4}
        before = notices.count
        await _publish(registry, "stdio_legacy", 20)
        await notices.wait_beyond(before)
        assert "math.stdio_legacy" in names(await client.list_tools())


@dataclass
class Pinned:
    """The module registry with ``math.scale`` 1.0.0 and 1.1.0, ``mathset`` pinned to 1.0.0, and a pinned key."""

    registry: Registry
    key: str


@pytest.fixture(scope="module")
def pinned(registry: Registry) -> Pinned:
    """Two versions of ``math.scale``; ``mathset`` and a math-only key both pinned to 1.0.0."""
    services = registry.services
    publish(services, make_spec("scale", namespace="math", params="x: int", body="return x * 2", returns="int",
                                doc="Scale x.", tests=[({"x": 1}, 2)]))
    publish(services, make_spec("scale", namespace="math", params="x: int, factor: int = 3", body="return x * factor",
                                returns="int", doc="Scale x.", tests=[({"x": 1, "factor": 3}, 3)]))
    services.curator.pin("mathset", "math", "scale", "1.0.0", actor="test")
    key, secret = create_key(services.engine, name="stdio-math", role=Role.reader, namespaces=["math"])
    services.curator.pin(key.id, "math", "scale", "1.0.0", actor="test")
    return Pinned(registry, secret)


def _version(listing: types.ListToolsResult, name: str) -> str:
    tool = next(tool for tool in listing.tools if tool.name == name)
    return str((tool.meta or {})["io.distillery/version"])


async def test_stdio_toolset_serves_its_namespaces_with_its_pins(pinned: Pinned) -> None:
    env = server_env(pinned.registry.url, DISTILLERY_SERVER__TOOLSETS=TOOLSETS)
    async with Client(StdioServerParameters(command=DISTILLERY, args=["mcp", "--toolset", "mathset"], env=env),
                      read_timeout_seconds=60) as client:
        listing = await client.list_tools()
        assert "scale" in names(listing) and all("." not in name for name in names(listing))
        assert _version(listing, "scale") == "1.0.0"
        assert (await client.call_tool("scale", {"x": 5})).structured_content == {"result": 10}
    async with Client(_params(pinned.registry), read_timeout_seconds=60) as plain:
        assert _version(await plain.list_tools(), "math.scale") == "1.1.0"


async def test_stdio_key_applies_its_namespaces_and_pins(pinned: Pinned) -> None:
    env = server_env(pinned.registry.url, DISTILLERY_MCP_KEY=pinned.key)
    async with Client(StdioServerParameters(command=DISTILLERY, args=["mcp"], env=env),
                      read_timeout_seconds=60) as client:
        listing = await client.list_tools()
        assert all(name.startswith("math.") for name in names(listing)[2:])
        assert _version(listing, "math.scale") == "1.0.0"
        assert (await client.call_tool("math.scale", {"x": 5})).structured_content == {"result": 10}
        with pytest.raises(MCPError):
            await client.call_tool("text.greet", {"name": "x"})


@pytest.mark.parametrize(("args", "extra", "says"), [
    (["--toolset", "nope"], {"DISTILLERY_SERVER__TOOLSETS": TOOLSETS}, "no toolset 'nope'"),
    ([], {"DISTILLERY_MCP_KEY": "dst_not-a-key"}, "unknown or revoked"),
], ids=["unknown toolset", "bad key"])
def test_stdio_refuses_an_unknown_toolset_or_key_at_startup(registry: Registry, args: list[str],
                                                            extra: dict[str, str], says: str) -> None:
    done = subprocess.run([DISTILLERY, "mcp", *args], env=server_env(registry.url, **extra), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert says in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
