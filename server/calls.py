"""Running a served tool for an MCP caller: argument validation, the sandbox, the result shape.

Every failure the caller can cause or the tool can suffer becomes an ``isError`` result with the
tool's exception type and message; nothing of the server (paths, stack) reaches the client.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import jsonschema
import mcp_types as types
from jsonschema.protocols import Validator

from registry.schemas import ResolvedTool
from server.offload import Offloader, ProgressReporter
from toolbox.analysis import is_wrapped_output
from toolbox.logging import get_logger
from toolbox.sandbox import CancelToken, Limits, RunResult, Sandbox
from toolbox.spec import ToolSpec

__all__ = ["ToolCaller", "error_result", "max_arguments_bytes"]

logger = get_logger("server.calls")
max_arguments_bytes = 256 * 1024
UsageSink = Callable[[str, bool, float, bool], None]  # version id, ok, ms, reached via search


def error_result(message: str) -> types.CallToolResult:
    """An ``isError`` result carrying ``message`` only."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


class ToolCaller:
    """Validates arguments and runs served tool versions in the sandbox."""

    def __init__(self, sandbox: Sandbox, limits: Limits, *, record_usage: UsageSink | None = None,
                 progress_interval_s: float = 1.0, threads: int = 2) -> None:
        """``threads``: how many calls may be in the sandbox at once (one per sandbox worker, plus one)."""
        self._sandbox = sandbox
        self._limits = limits
        self._record_usage = record_usage
        self._offloader = Offloader(threads, progress_interval_s=progress_interval_s)
        self._validators: dict[tuple[str, bool], Validator] = {}
        self._specs: dict[str, ToolSpec] = {}
        self._lock = threading.Lock()

    async def call(self, tool: ResolvedTool, arguments: dict[str, Any],
                   report_progress: ProgressReporter | None = None, *,
                   via_search: bool = False) -> types.CallToolResult:
        """Run ``tool`` on ``arguments`` and shape the MCP result (``via_search`` goes to the usage record)."""
        problem = self._argument_problem(tool, arguments)
        if problem is not None:
            return error_result(problem)
        started = time.perf_counter()
        result = await self._run(tool, arguments, report_progress)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if self._record_usage is not None:
            self._record_usage(tool.version.id, result.ok, elapsed_ms, via_search)
        return self._shape(tool, result)

    def _argument_problem(self, tool: ResolvedTool, arguments: dict[str, Any]) -> str | None:
        size = len(json.dumps(arguments, default=str))
        if size > max_arguments_bytes:
            return f"Invalid arguments: {size} bytes of JSON; the limit is {max_arguments_bytes} bytes."
        validator = self._validator(tool, tool.version.input_schema)
        error = next(iter(sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))), None)
        if error is None:
            return None
        where = "/".join(str(p) for p in error.path)
        return f"Invalid arguments{f' at {where}' if where else ''}: {error.message}"

    def _validator(self, tool: ResolvedTool, schema: dict[str, Any], *, output: bool = False) -> Validator:
        """The (cached) validator of ``schema``, the tool version's input or output schema."""
        key = (tool.version.content_hash, output)
        with self._lock:
            validator = self._validators.get(key)
            if validator is None:
                validator = jsonschema.validators.validator_for(schema)(schema)
                self._validators[key] = validator
            return validator

    async def _run(self, tool: ResolvedTool, arguments: dict[str, Any],
                   report_progress: ProgressReporter | None) -> RunResult:
        spec = self._spec(tool)
        token = CancelToken()  # a cancelled request kills the call and frees its worker at once
        return await self._offloader.run(lambda: self._sandbox.run(spec, arguments, self._limits, cancel=token),
                                         report_progress=report_progress, total_s=self._limits.timeout_s,
                                         message=f"running {tool.name}", on_cancel=token.cancel)

    def _spec(self, tool: ResolvedTool) -> ToolSpec:
        key = tool.version.content_hash
        with self._lock:
            spec = self._specs.get(key)
        if spec is None:
            version = tool.version
            spec = ToolSpec(namespace=tool.namespace, name=tool.name, source=version.source,
                            entrypoint=version.entrypoint, input_schema=version.input_schema,
                            output_schema=version.output_schema, allowed_imports=version.allowed_imports)
            with self._lock:
                self._specs[key] = spec
        return spec

    def close(self) -> None:
        """Stop the call threads (calls still queued are dropped)."""
        self._offloader.close()

    def _shape(self, tool: ResolvedTool, result: RunResult) -> types.CallToolResult:
        if not result.ok:
            error = result.error
            text = f"{error.type}: {error.message}" if error else "the tool failed"
            return error_result(text)
        output_schema = tool.version.output_schema
        structured: dict[str, Any] | None = None
        if output_schema is not None:
            structured = {"result": result.value} if is_wrapped_output(output_schema) else result.value
            if not isinstance(structured, dict):
                return error_result(f"OutputMismatch: {tool.name} returned {type(result.value).__name__}, "
                                    "not the object its output schema declares")
            errors = list(self._validator(tool, output_schema, output=True).iter_errors(structured))
            if errors:
                return error_result(f"OutputMismatch: {tool.name} returned a value that does not match its "
                                    f"declared output schema: {errors[0].message}")
        value = result.value
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structured_content=structured, is_error=False)

