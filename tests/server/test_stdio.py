"""``distillery mcp`` over stdio in both eras: list, call, and a change notice after an external publish."""

from __future__ import annotations

import anyio.to_thread
import pytest
from mcp import Client, StdioServerParameters

from tests.registry.factories import make_spec
from tests.server.conftest import Registry
from tests.server.support import Notices, names, next_event, publish, server_env, text_of
from tests.support.serve import DISTILLERY

pytestmark = pytest.mark.anyio


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
