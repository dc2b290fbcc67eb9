"""The builtin toolset (``python``, ``retrieve``) on endpoints whose toolset names ``builtin``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from server.builtin_tools import PYTHON, RETRIEVE
from tests.server.conftest import MakeServer, Registry
from tests.server.support import connect, names, server_env, text_of
from tests.support.serve import ServerProcess

pytestmark = pytest.mark.anyio

DOCS = [
    {"id": "paris", "title": "Paris", "text": "Paris is the capital and largest city of France."},
    {"id": "everest", "title": "Mount Everest", "text": "Everest is the highest mountain above sea level."},
    {"id": "glucose", "title": "Photosynthesis", "text": "Plants make glucose and oxygen from sunlight."},
]
BOX = ["math", "builtin"]


@pytest.fixture(scope="module")
def corpus_loaded(registry: Registry) -> Registry:
    """The module registry with a small default corpus."""
    registry.services.corpus.add(DOCS)
    return registry


async def test_listed_after_the_meta_tools_with_schemas_only_where_the_toolset_names_builtin(
        make_server: MakeServer) -> None:
    async with Client(make_server(namespaces=BOX)) as client:
        listing = await client.list_tools()
    listed = names(listing)
    assert listed[:4] == ["search_tools", "call_tool", "builtin.python", "builtin.retrieve"]
    assert "math.add" in listed and "text.greet" not in listed
    python = next(tool for tool in listing.tools if tool.name == "builtin.python")
    assert python.input_schema == PYTHON.input_schema and python.output_schema == PYTHON.output_schema
    retrieve = next(tool for tool in listing.tools if tool.name == "builtin.retrieve")
    assert retrieve.input_schema["properties"]["k"]["default"] == 3
    assert retrieve.output_schema == RETRIEVE.output_schema
    for endpoint in (None, ["math"], ["math", "text"]):
        async with Client(make_server(namespaces=endpoint)) as client:
            assert not any("python" in name or "retrieve" in name for name in names(await client.list_tools()))
    async with Client(make_server(namespaces=["builtin"])) as client:
        assert names(await client.list_tools()) == ["search_tools", "call_tool", "python", "retrieve"]
        assert text_of(await client.call_tool("python", {"code": "print(6 * 7)"})).strip() == "42"


async def test_core_listing_still_lists_the_builtins(make_server: MakeServer) -> None:
    async with Client(make_server(namespaces=BOX, listing="core", core_tools=["math.add"])) as client:
        assert names(await client.list_tools()) == ["search_tools", "call_tool", "builtin.python",
                                                    "builtin.retrieve", "math.add"]


async def test_python_returns_stdout_and_the_last_expression(make_server: MakeServer) -> None:
    async with Client(make_server(namespaces=BOX)) as client:
        result = await client.call_tool("builtin.python", {"code": "x = 20\nprint('x is', x)\nx + 22"})
        assert not result.is_error
        assert text_of(result) == "x is 20\n42"
        assert result.structured_content == {"output": "x is 20\n42"}
        fresh = await client.call_tool("builtin.python", {"code": "x"})  # a fresh session per call
        assert fresh.is_error and "NameError" in text_of(fresh)


async def test_python_errors_are_error_results(make_server: MakeServer) -> None:
    async with Client(make_server(namespaces=BOX)) as client:
        failed = await client.call_tool("builtin.python", {"code": "print('before')\n1 / 0"})
        assert failed.is_error
        assert "before" in text_of(failed) and "ZeroDivisionError" in text_of(failed)
        syntax = await client.call_tool("builtin.python", {"code": "def ("})
        assert syntax.is_error and "SyntaxError" in text_of(syntax)
        for arguments in ({}, {"code": ""}, {"code": 3}, {"code": "1", "extra": True}):
            bad = await client.call_tool("builtin.python", arguments)
            assert bad.is_error and text_of(bad).startswith("Invalid arguments"), arguments


async def test_python_runs_under_the_sandbox_limits(make_server: MakeServer) -> None:
    async with Client(make_server(namespaces=BOX, timeout_s=1.0)) as client:
        result = await client.call_tool("builtin.python", {"code": "while True:\n    pass"})
        assert result.is_error and ("Timeout" in text_of(result) or "CPULimit" in text_of(result))
        code = "import socket\nsocket.create_connection(('1.1.1.1', 53), 2)"
        assert (await client.call_tool("builtin.python", {"code": code})).is_error


async def test_retrieve_returns_the_best_passages(make_server: MakeServer, corpus_loaded: Registry) -> None:
    async with Client(make_server(namespaces=BOX)) as client:
        result = await client.call_tool("builtin.retrieve", {"query": "capital of France"})
        assert not result.is_error and result.structured_content is not None
        passages = result.structured_content["passages"]
        assert 1 <= len(passages) <= 3 and passages[0]["doc_id"] == "paris" and passages[0]["title"] == "Paris"
        assert "glucose" not in [p["doc_id"] for p in passages]  # matches neither way: not returned
        assert json.loads(text_of(result)) == result.structured_content
        one = await client.call_tool("builtin.retrieve", {"query": "highest mountain", "k": 1})
        assert [p["doc_id"] for p in (one.structured_content or {})["passages"]] == ["everest"]
        via_meta = await client.call_tool("call_tool", {"name": "builtin.retrieve",
                                                        "arguments": {"query": "glucose", "k": 1}})
        assert (via_meta.structured_content or {})["passages"][0]["doc_id"] == "glucose"
        for arguments in ({"query": ""}, {"query": "x", "k": 0}, {"query": "x", "k": 21}, {"query": "x", "k": True}):
            bad = await client.call_tool("builtin.retrieve", arguments)
            assert bad.is_error and text_of(bad).startswith("Invalid arguments"), arguments


async def test_builtins_are_unknown_where_not_served(make_server: MakeServer) -> None:
    async with Client(make_server(namespaces=["math"])) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("builtin.python", {"code": "1"})
        assert caught.value.error.code == types.INVALID_PARAMS
        via_meta = await client.call_tool("call_tool", {"name": "builtin.python", "arguments": {"code": "1"}})
        assert via_meta.is_error and "Unknown tool" in text_of(via_meta)


@pytest.fixture(scope="module")
def box_server(corpus_loaded: Registry) -> Iterator[str]:
    """``distillery serve`` with the toolset ``box`` = math + builtin, as the evaluation harness starts it."""
    env = server_env(corpus_loaded.url, DISTILLERY_SERVER__TOOLSETS=json.dumps({"box": BOX}))
    server = ServerProcess.start(env, corpus_loaded.directory / "builtin.log", attempts=2)
    try:
        yield f"{server.url}/mcp/box"
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_builtins_over_http(box_server: str, mode: str) -> None:
    async with connect(box_server, mode=mode) as client:
        assert {"builtin.python", "builtin.retrieve", "math.add"} <= set(names(await client.list_tools()))
        ran = await client.call_tool("builtin.python", {"code": "sum(range(10))"})
        assert not ran.is_error and text_of(ran) == "45"
        found = await client.call_tool("builtin.retrieve", {"query": "France capital city", "k": 2})
        assert (found.structured_content or {})["passages"][0]["doc_id"] == "paris"
        assert (await client.call_tool("math.add", {"a": 1, "b": 2})).structured_content == {"result": 3}
