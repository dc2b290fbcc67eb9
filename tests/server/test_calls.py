"""tools/call through the real sandbox: result shapes, tool errors, bad input, limits, cancellation, progress, usage."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client, MCPError

from registry.service.usage import usage_for_tool
from tests.server.conftest import MakeServer, Registry
from tests.server.support import text_of
from toolbox.sandbox.pool import PoolStats
from toolbox.sandbox.process import ProcessSandbox

pytestmark = pytest.mark.anyio


async def _still_serving(client: Client) -> None:
    result = await client.call_tool("math.add", {"a": 2, "b": 3})
    assert not result.is_error and result.structured_content == {"result": 5}


async def test_structured_result_has_text_too(make_server: MakeServer) -> None:
    async with Client(make_server()) as client:
        result = await client.call_tool("text.safe_div", {"a": 1.0, "b": 4.0})
    assert not result.is_error
    assert result.structured_content == {"result": 0.25}
    assert text_of(result) == "0.25"


async def test_string_result_is_plain_text(make_server: MakeServer) -> None:
    async with Client(make_server()) as client:
        result = await client.call_tool("text.greet", {"name": "Grace"})
    assert not result.is_error
    assert text_of(result) == "Hello, Grace!"
    assert result.structured_content == {"result": "Hello, Grace!"}


async def test_tool_exception_is_an_error_result_without_server_details(make_server: MakeServer) -> None:
    async with Client(make_server()) as client:
        result = await client.call_tool("text.safe_div", {"a": 1.0, "b": 0.0})
        assert result.is_error
        text = text_of(result)
        assert text == "ValueError: b must not be zero"
        assert "Traceback" not in text and "/work" not in text and ".py" not in text
        await _still_serving(client)


BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("wrong type", {"a": "one", "b": 2}, "at a"),
    ("missing", {"a": 1}, "'b' is a required property"),
    ("extra property", {"a": 1, "b": 2, "c": 3}, "'c'"),
    ("oversized", {"a": 1, "b": 2, "pad": "x" * (256 * 1024 + 10)}, "the limit is 262144 bytes"),
]


@pytest.mark.parametrize(("case", "arguments", "says"), BAD_ARGUMENTS, ids=[case[0] for case in BAD_ARGUMENTS])
async def test_invalid_arguments_are_error_results(make_server: MakeServer, case: str, arguments: dict[str, Any],
                                                   says: str) -> None:
    async with Client(make_server()) as client:
        result = await client.call_tool("math.add", arguments)
        assert result.is_error, case
        assert text_of(result).startswith("Invalid arguments") and says in text_of(result)
        await _still_serving(client)


async def test_timeout_is_an_error_result_and_the_next_call_succeeds(make_server: MakeServer) -> None:
    async with Client(make_server(timeout_s=1.0)) as client:
        result = await client.call_tool("ops.sleepy", {"seconds": 30.0})
        assert result.is_error and "time" in text_of(result).lower()
        await _still_serving(client)


async def _workers_idle(sandbox: ProcessSandbox, timeout_s: float = 20.0) -> PoolStats:
    """The pool's stats once every worker is ready for a call (fail after ``timeout_s``)."""
    with anyio.fail_after(timeout_s):
        while (stats := sandbox.stats()).idle < stats.workers:
            await anyio.sleep(0.05)
    return stats


@pytest.mark.parametrize(("how", "mode"), [("read timeout", "legacy"), ("caller cancels", "auto")],
                         ids=["notifications/cancelled after a read timeout", "modern caller cancels"])
async def test_a_cancelled_call_stops_its_sandbox_call_and_frees_the_worker(
        make_server: MakeServer, registry: Registry, how: str, mode: str) -> None:
    """The cancelled call's child is killed: its worker is ready again long before the tool would end.

    The tool sleeps 60 s under a 90 s sandbox timeout; every worker is idle again within 20 s, no
    worker was replaced (the call was cancelled, not the worker lost), and the next call runs.
    """
    sandbox = registry.services.sandbox
    assert isinstance(sandbox, ProcessSandbox)
    before = await _workers_idle(sandbox)
    async with Client(make_server(timeout_s=90.0), mode=mode) as client:
        if how == "read timeout":
            with pytest.raises(MCPError, match=r"(?i)timed out"):
                await client.call_tool("ops.sleepy", {"seconds": 60.0}, read_timeout_seconds=0.5)
        else:
            with anyio.move_on_after(0.5) as scope:
                await client.call_tool("ops.sleepy", {"seconds": 60.0})
            assert scope.cancelled_caught
        after = await _workers_idle(sandbox)
        assert after.calls == before.calls + 1 and after.replaced == before.replaced
        await _still_serving(client)


@pytest.mark.parametrize("mode", ["parent", "self"])
async def test_a_tool_that_kills_processes_gets_an_error_and_the_server_keeps_serving(
        make_server: MakeServer, mode: str) -> None:
    async with Client(make_server()) as client:
        result = await client.call_tool("ops.crash", {"mode": mode})
        assert result.is_error and text_of(result)
        assert (await client.call_tool("ops.crash", {"mode": "none"})).structured_content == {"result": "alive"}
        await _still_serving(client)


async def test_slow_tool_sends_progress(make_server: MakeServer) -> None:
    events: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append((progress, total, message))

    async with Client(make_server(progress_interval_s=0.1)) as client:
        result = await client.call_tool("ops.sleepy", {"seconds": 0.6}, progress_callback=on_progress)
    assert not result.is_error and result.structured_content == {"result": 0.6}
    assert events, "no progress notification arrived"
    progress = [event[0] for event in events]
    assert progress == sorted(progress) and all(p > 0 for p in progress)
    assert events[0][2] == "running sleepy"


async def test_usage_is_recorded_per_version(make_server: MakeServer, registry: Registry) -> None:
    engine = registry.services.engine
    registry.services.usage.flush()

    def counts() -> tuple[int, int]:
        rows = usage_for_tool(engine, "text", "safe_div")
        return sum(row.calls for row in rows), sum(row.errors for row in rows)

    before_calls, before_errors = counts()
    async with Client(make_server()) as client:
        assert not (await client.call_tool("text.safe_div", {"a": 1.0, "b": 2.0})).is_error
        assert (await client.call_tool("text.safe_div", {"a": 1.0, "b": 0.0})).is_error
        assert (await client.call_tool("text.safe_div", {"a": "x"})).is_error  # invalid: never ran
    registry.services.usage.flush()
    calls, errors = counts()
    assert (calls - before_calls, errors - before_errors) == (2, 1)
