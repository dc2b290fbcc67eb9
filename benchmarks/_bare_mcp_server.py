"""The baseline for ``benchmarks/mcp_server.py``: a bare low-level MCP SDK server over HTTP.

``.venv/bin/python benchmarks/_bare_mcp_server.py --port P --tools tools.json`` serves, at exactly
``/mcp`` from one uvicorn process, the tools described in ``tools.json`` (a list of ``{name,
description, input_schema, output_schema}``; the list is built once, like a static registry).
``tools/call`` of the tool named by ``--add-name`` runs ``add(a, b)`` in-process and answers like
Distillery does (text plus ``{"result": ...}`` structured content); any other name is an unknown
tool. ``get_tool_input_schema`` is set (the SDK's Mcp-Param check otherwise re-lists per call) and
``json_response`` is the SDK default (False), as in Distillery.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

__all__ = ["add", "build_server", "main"]


def add(a: int, b: int) -> int:
    """The benchmark's trivial tool."""
    return a + b


def build_server(specs: list[dict[str, Any]], add_name: str) -> Server[Any]:
    """A low-level server listing ``specs`` and running ``add`` for ``add_name``."""
    tools = [types.Tool(name=s["name"], description=s["description"], input_schema=s["input_schema"],
                        output_schema=s.get("output_schema")) for s in specs]
    schemas = {tool.name: tool.input_schema for tool in tools}
    listing = types.ListToolsResult(tools=tools)

    async def on_list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None,
                            ) -> types.ListToolsResult:
        return listing

    async def on_call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams,
                           ) -> types.CallToolResult:
        if params.name != add_name:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        arguments = params.arguments or {}
        try:
            value = add(int(arguments["a"]), int(arguments["b"]))
        except (KeyError, TypeError, ValueError) as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"Invalid arguments: {exc}")],
                                        is_error=True)
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(value))],
                                    structured_content={"result": value}, is_error=False)

    return Server("bare", version="0.1.0", on_list_tools=on_list_tools, on_call_tool=on_call_tool,
                  get_tool_input_schema=schemas.get)


def main() -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tools", type=Path, required=True, help="JSON list of tool descriptions")
    parser.add_argument("--add-name", default="bench.add")
    args = parser.parse_args()
    server = build_server(json.loads(args.tools.read_text()), args.add_name)
    app = server.streamable_http_app(streamable_http_path="/mcp", json_response=False, host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", server_header=False,
                timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main()
