"""The MCP client against the real server: listing, calling, searching, change notices, stdio."""

from __future__ import annotations

import anyio
import anyio.to_thread
import pytest

from student.connection import BoxConnection, connect_http, connect_stdio
from tests.registry.factories import make_spec
from tests.server.support import publish, server_env
from tests.student.conftest import ADD, GREET, NAMESPACE, SAFE_DIV, SOLVE24, BoxServer
from tests.support.serve import DISTILLERY

pytestmark = pytest.mark.anyio


async def test_list_and_call(box: BoxConnection) -> None:
    names = [tool.name for tool in await box.list_tools()]
    assert names[:2] == ["search_tools", "call_tool"] and {ADD, SOLVE24, SAFE_DIV, GREET} <= set(names)
    added = await box.call_tool(ADD, {"numbers": [0.1, 0.2, 0.3]})
    assert added.ok and added.value == 0.6 and added.structured == {"result": 0.6}
    greeting = await box.call_tool(GREET, {"name": "Ada"})
    assert greeting.ok and greeting.value == "Hello, Ada!"


async def test_failures_are_observations(box: BoxConnection) -> None:
    failed = await box.call_tool(SAFE_DIV, {"a": 1, "b": 0})
    assert not failed.ok and failed.text == "ERROR: ValueError: b must not be zero"
    unknown = await box.call_tool(f"{NAMESPACE}.nope", {})
    assert not unknown.ok and "Unknown tool" in unknown.text
    invalid = await box.call_tool(ADD, {"numbers": "x"})
    assert not invalid.ok and "Invalid arguments" in invalid.text


async def test_search_tools_returns_callable_tools(box: BoxConnection) -> None:
    found = await box.search_tools("game of 24 four numbers", k=3)
    assert SOLVE24 in [tool.name for tool in found]
    solver = next(tool for tool in found if tool.name == SOLVE24)
    assert solver.parameters == ["a", "b", "c", "d"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_change_notice_refreshes_the_listing(box_server: BoxServer, mode: str) -> None:
    name = f"neg_{mode}"
    async with connect_http(box_server.mcp_url, mode=mode) as box:
        assert f"{NAMESPACE}.{name}" not in [tool.name for tool in await box.list_tools()]
        before = box.notices
        offset = len(mode)  # a distinct body per mode: an exact duplicate would not be a new tool
        spec = make_spec(name, namespace=NAMESPACE, params="a: int", body=f"return {offset} - a",
                         doc="Subtract a from a constant.", tests=[({"a": 3}, offset - 3)])
        await anyio.to_thread.run_sync(lambda: publish(box_server.registry.services, spec))
        with anyio.fail_after(30):  # a notice of an earlier change may arrive first: wait for ours
            while f"{NAMESPACE}.{name}" not in [tool.name for tool in await box.list_tools()]:
                await box.wait_for_notice(before)
                before = box.notices


async def test_stdio_connection(box_server: BoxServer) -> None:
    async with connect_stdio(DISTILLERY, ["mcp"], env=server_env(box_server.registry.url)) as box:
        assert ADD in [tool.name for tool in await box.list_tools()]
        assert (await box.call_tool(ADD, {"numbers": [2, 2]})).value == 4
