"""``distillery mcp``: the same box over stdio, for clients that launch servers as subprocesses."""

from __future__ import annotations

import anyio
import anyio.to_thread
from mcp.server.stdio import stdio_server
from sqlalchemy.engine import Engine

from registry.container import build_services
from server.mcp_server import build_mcp_server
from server.runtime import McpRuntime
from toolbox.settings import Settings

__all__ = ["serve_stdio"]


async def serve_stdio(settings: Settings, *, engine: Engine | None = None, read_only: bool = False) -> None:
    """Serve MCP on stdin/stdout until the client closes the stream.

    ``engine`` serves that registry instead of the configured one; ``read_only`` counts no usage, so
    the server never writes (``server.bundle`` serves a bundle this way).
    """
    services = build_services(settings, engine=engine)
    try:
        if not read_only:
            services.usage.start()
        await anyio.to_thread.run_sync(services.sandbox.start)
        runtime = McpRuntime(services, settings, record_usage=not read_only)
        server = build_mcp_server(runtime)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(runtime.run)
                async with stdio_server() as (read_stream, write_stream):
                    await server.run(read_stream, write_stream, server.create_initialization_options())
                group.cancel_scope.cancel()
        finally:
            runtime.close()
    finally:
        services.close()
