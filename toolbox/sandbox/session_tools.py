"""Box tools as session functions: a cell calls ``tool(x=1)`` and the host runs the tool in the sandbox."""

from __future__ import annotations

from typing import Any

from toolbox.errors import ToolboxError
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.sandbox.cancel import run_in_thread
from toolbox.sandbox.session import SessionFunction
from toolbox.spec import ToolSpec

__all__ = ["ToolCallFailed", "tool_function"]


class ToolCallFailed(ToolboxError):
    """A box tool called from a session cell failed; the cell sees ``RuntimeError`` with this message."""


def tool_function(sandbox: Sandbox, spec: ToolSpec, *, name: str | None = None,
                  limits: Limits | None = None) -> SessionFunction:
    """``spec`` as a session function named ``name`` (default: the tool's name), run in ``sandbox`` per call.

    Positional arguments follow the order of the input schema's properties. ``sandbox.run`` blocks,
    so it runs in a worker thread and the event loop keeps serving other sessions; a cell that is
    cancelled cancels the tool's call too.
    """
    parameters = [str(key) for key in spec.input_schema.get("properties", {})]

    async def call(args: dict[str, Any]) -> Any:
        result = await run_in_thread(sandbox, spec, args, limits)
        if result.ok:
            return result.value
        error = result.error
        detail = f"{error.type}: {error.message}" if error is not None else "it returned no value"
        raise ToolCallFailed(f"tool {spec.name} failed: {detail}")

    return SessionFunction(name or spec.name, parameters, spec.description, call)
