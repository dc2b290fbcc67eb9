"""Box tools called as plain functions from session cells, each call run by the process sandbox."""

from __future__ import annotations

import pytest

from tests.toolbox.sandbox.conftest import make_settings, make_spec, small_limits
from toolbox.sandbox.process import ProcessSandbox
from toolbox.sandbox.session import open_session
from toolbox.sandbox.session_tools import tool_function
from toolbox.spec import ToolSpec

pytestmark = pytest.mark.anyio


def divide_spec() -> ToolSpec:
    """A box tool with two parameters (schema order: a, b) that can fail."""
    spec = make_spec("def divide(a: float, b: float) -> float:\n    return a / b\n", entrypoint="divide",
                     name="divide")
    schema = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
              "required": ["a", "b"]}
    return spec.model_copy(update={"input_schema": schema, "description": "Divide a by b."})


async def test_a_box_tool_is_a_plain_function_in_the_session(sandbox: ProcessSandbox) -> None:
    function = tool_function(sandbox, divide_spec())
    assert function.parameters == ["a", "b"]
    settings = make_settings(preload_modules=[])
    async with open_session(settings, functions=[function], limits=small_limits()) as session:
        result = await session.run_cell("q = divide(7, b=2)\nq * 2")
        failed = await session.run_cell("divide(1, 0)")
    assert result.ok and result.stdout == "7.0\n", result
    assert result.calls == [{"name": "divide", "args": {"a": 7, "b": 2}, "ok": True, "value": 3.5}]
    assert failed.error is not None and failed.error.type == "RuntimeError"
    assert failed.error.message == "tool divide failed: ZeroDivisionError: division by zero"
