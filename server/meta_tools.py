"""The search-first meta-tools: ``search_tools`` and ``call_tool``."""

from __future__ import annotations

from typing import Any

import mcp_types as types

from registry.schemas import ResolvedTool
from server.catalog import mcp_name

__all__ = ["CALL_TOOL", "META_TOOLS", "SEARCH_TOOLS", "compact_hit"]

_READ_ONLY = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                   open_world_hint=False)

SEARCH_TOOLS = types.Tool(
    name="search_tools",
    title="Search tools",
    description=("Find tools in this box for a task. Returns the best matches with their input schemas; "
                 "call one by its name, or through call_tool."),
    input_schema={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 500,
                      "description": "What you need to do, in a few words."},
            "k": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5,
                  "description": "How many tools to return."},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    output_schema={"type": "object", "properties": {"tools": {"type": "array", "items": {"type": "object"}}},
                   "required": ["tools"]},
    annotations=_READ_ONLY,
)

CALL_TOOL = types.Tool(
    name="call_tool",
    title="Call a tool",
    description="Call any tool of this box by name (as search_tools returned it) with its arguments.",
    input_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The tool's name, e.g. math.solve24."},
            "arguments": {"type": "object", "description": "The tool's arguments.", "default": {}},
        },
        "required": ["name"],
        "additionalProperties": False,
    },
    annotations=_READ_ONLY,
)

META_TOOLS = (SEARCH_TOOLS, CALL_TOOL)


def compact_hit(tool: ResolvedTool, name: str | None = None) -> dict[str, Any]:
    """A short description and schema of a tool (served as ``name``), sized for a small model's context."""
    description = tool.version.description.strip().split("\n\n")[0][:300]
    schema = tool.version.input_schema
    parameters = {
        key: {k: v for k, v in value.items() if k in {"type", "description", "enum", "default", "items"}}
        for key, value in schema.get("properties", {}).items()
    }
    return {
        "name": name or mcp_name(tool.namespace, tool.name),
        "description": description,
        "parameters": parameters,
        "required": schema.get("required", []),
        "deprecated": tool.deprecated,
    }
