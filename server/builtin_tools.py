"""The ``builtin`` toolset: ``python`` (code in a sandbox session) and ``retrieve`` (passages of a corpus).

An endpoint whose toolset names the namespace ``builtin`` (``DISTILLERY_SERVER__TOOLSETS``, e.g.
``{"math": ["math", "builtin"]}``) lists these two tools after the meta-tools, named like box tools
there: ``builtin.python`` / ``builtin.retrieve``, or ``python`` / ``retrieve`` on an endpoint that
shows ``builtin`` alone. ``/mcp`` and toolsets without ``builtin`` do not serve them, and an API key
limited to namespaces sees them only when ``builtin`` is one of its namespaces. A registry tool of
the same name is shadowed there.

``python(code)`` runs the code in a fresh sandbox session (the kernel's ``open_session``, under the
configured sandbox limits) and answers with what it printed, the value of a last expression, or the
error with its traceback (``isError``). ``retrieve(query, k)`` answers with the top ``k`` passages
of the ``default`` corpus (``distillery corpus add FILE.jsonl``).
"""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
import jsonschema
import mcp_types as types
from jsonschema.protocols import Validator

from server.calls import error_result, max_arguments_bytes
from server.catalog import Visibility
from server.runtime import McpRuntime
from toolbox.errors import ToolboxError
from toolbox.logging import get_logger
from toolbox.sandbox import Limits
from toolbox.sandbox.session import observation, open_session

__all__ = ["BUILTIN_NAMESPACE", "BUILTIN_TOOLS", "MAX_OBSERVATION_CHARS", "PYTHON", "RETRIEVE", "BuiltinTools",
           "serves_builtins"]

logger = get_logger("server.builtin")
BUILTIN_NAMESPACE = "builtin"
MAX_OBSERVATION_CHARS = 8000
"""The most characters of output ``python`` answers with (head and tail are kept)."""
MAX_K = 20

PYTHON = types.Tool(
    name="python",
    title="Run Python",
    description=("Run Python code in a fresh sandbox (no network, no files kept between calls) and get back what "
                 "it printed, the value of its last expression, or the error with its traceback."),
    input_schema={
        "type": "object",
        "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 100_000,
                                "description": "The Python code to run."}},
        "required": ["code"],
        "additionalProperties": False,
    },
    output_schema={"type": "object", "properties": {"output": {"type": "string"}}, "required": ["output"]},
    annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=False,
                                      open_world_hint=False),
)

RETRIEVE = types.Tool(
    name="retrieve",
    title="Retrieve passages",
    description="Find the passages of the loaded corpus that best match a query (keyword and semantic search).",
    input_schema={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "What to look for."},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 3,
                  "description": "How many passages to return."},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    output_schema={
        "type": "object",
        "properties": {"passages": {"type": "array", "items": {
            "type": "object",
            "properties": {"doc_id": {"type": "string"}, "title": {"type": "string"}, "text": {"type": "string"},
                           "score": {"type": "number"}},
            "required": ["doc_id", "title", "text", "score"],
        }}},
        "required": ["passages"],
    },
    annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                      open_world_hint=False),
)

BUILTIN_TOOLS = (PYTHON, RETRIEVE)
_VALIDATORS: dict[str, Validator] = {
    tool.name: jsonschema.validators.validator_for(tool.input_schema)(tool.input_schema) for tool in BUILTIN_TOOLS
}


def serves_builtins(visibility: Visibility) -> bool:
    """Whether the builtin tools are shown to ``visibility``: its endpoint names ``builtin`` and it allows it."""
    return (visibility.endpoint is not None and BUILTIN_NAMESPACE in visibility.endpoint
            and visibility.allows(BUILTIN_NAMESPACE))


class BuiltinTools:
    """Lists and runs the builtin tools for one endpoint's callers."""

    def __init__(self, runtime: McpRuntime) -> None:
        """Run code under ``runtime``'s sandbox settings and search ``runtime``'s corpus service."""
        self.runtime = runtime

    def names(self, visibility: Visibility) -> dict[str, str]:
        """MCP name -> builtin tool name, for what ``visibility`` is shown (empty when it is shown none)."""
        if not serves_builtins(visibility):
            return {}
        return {visibility.tool_name(BUILTIN_NAMESPACE, tool.name): tool.name for tool in BUILTIN_TOOLS}

    def tools(self, visibility: Visibility) -> list[types.Tool]:
        """The builtin tools ``visibility`` is shown, named for its endpoint."""
        by_name = {tool.name: tool for tool in BUILTIN_TOOLS}
        return [by_name[builtin].model_copy(update={"name": name}) for name, builtin in self.names(visibility).items()]

    @staticmethod
    def input_schema(name: str, endpoint: frozenset[str] | None) -> dict[str, Any] | None:
        """The input schema of the builtin served as ``name`` on ``endpoint`` (the SDK's Mcp-Param hook)."""
        if endpoint is None or BUILTIN_NAMESPACE not in endpoint:
            return None
        visibility = Visibility(endpoint=endpoint)
        for tool in BUILTIN_TOOLS:
            if visibility.tool_name(BUILTIN_NAMESPACE, tool.name) == name:
                return tool.input_schema
        return None

    async def call(self, builtin: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Run the builtin tool ``builtin`` (``python`` or ``retrieve``); every failure is an ``isError`` result."""
        problem = _argument_problem(builtin, arguments)
        if problem is not None:
            return error_result(problem)
        try:
            if builtin == PYTHON.name:
                return await self._python(arguments["code"])
            return await self._retrieve(arguments["query"], arguments.get("k", 3))
        except ToolboxError as exc:
            return error_result(f"{type(exc).__name__}: {exc}")
        except Exception:
            logger.exception("builtin tool %s failed inside the server", builtin)
            return error_result("InternalError: the server could not complete this call; it has been logged.")

    async def _python(self, code: str) -> types.CallToolResult:
        sandbox = self.runtime.settings.sandbox
        async with open_session(sandbox, limits=Limits.from_settings(sandbox)) as session:
            result = await session.run_cell(code)
        text = observation(result, MAX_OBSERVATION_CHARS)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structured_content={"output": text}, is_error=not result.ok)

    async def _retrieve(self, query: str, k: int) -> types.CallToolResult:
        corpus = self.runtime.services.corpus
        passages = await anyio.to_thread.run_sync(lambda: corpus.retrieve(query, k))
        payload: dict[str, Any] = {"passages": [dict(p) for p in passages]}
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(payload))],
                                    structured_content=payload)


def _argument_problem(builtin: str, arguments: dict[str, Any]) -> str | None:
    size = len(json.dumps(arguments, default=str))
    if size > max_arguments_bytes:
        return f"Invalid arguments: {size} bytes of JSON; the limit is {max_arguments_bytes} bytes."
    errors = sorted(_VALIDATORS[builtin].iter_errors(arguments), key=lambda e: list(e.path))
    if not errors:
        return None
    where = "/".join(str(p) for p in errors[0].path)
    return f"Invalid arguments{f' at {where}' if where else ''}: {errors[0].message}"
