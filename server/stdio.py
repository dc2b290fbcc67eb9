"""``distillery mcp``: the same box over stdio, for clients that launch servers as subprocesses.

A stdio server has one caller, the process that started it, so what HTTP decides per request is
fixed at startup: ``toolset`` serves that toolset's namespaces with its pins, like
``/mcp/<toolset>``; ``key`` (an API key secret, checked at startup) applies that key's namespaces
and pins, first, like a bearer key on HTTP. Without either, stdio serves what anonymous ``/mcp``
callers see.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import anyio.to_thread
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.stdio import stdio_server
from sqlalchemy.engine import Engine

from registry.container import build_services
from server.auth import ApiKeyVerifier
from server.mcp_server import build_mcp_server
from server.runtime import McpRuntime
from toolbox.errors import ConfigError
from toolbox.settings import Settings

__all__ = ["serve_stdio", "toolset_namespaces"]


def toolset_namespaces(settings: Settings, toolset: str | None) -> Sequence[str] | None:
    """The namespaces of ``toolset`` (None for no toolset); ``ConfigError`` when it is not configured."""
    if toolset is None:
        return None
    toolsets = settings.server.toolsets
    if toolset not in toolsets:
        known = ", ".join(sorted(toolsets)) or "none (DISTILLERY_SERVER__TOOLSETS)"
        raise ConfigError(f"no toolset {toolset!r} is configured; configured toolsets: {known}")
    return list(toolsets[toolset])


async def serve_stdio(settings: Settings, *, engine: Engine | None = None, read_only: bool = False,
                      toolset: str | None = None, key: str | None = None) -> None:
    """Serve MCP on stdin/stdout until the client closes the stream.

    ``engine`` serves that registry instead of the configured one; ``read_only`` counts no usage, so
    the server never writes (``server.bundle`` serves a bundle this way). ``toolset`` and ``key``
    choose what the caller sees (see the module docstring).
    """
    namespaces = toolset_namespaces(settings, toolset)
    services = build_services(settings, engine=engine)
    try:
        if key is not None:
            token = await ApiKeyVerifier(services.engine).verify_token(key)
            if token is None:
                raise ConfigError("the API key is unknown or revoked; create one with 'distillery keys create'")
            auth_context_var.set(AuthenticatedUser(token))  # every handler task inherits this context
        if not read_only:
            services.usage.start()
        await anyio.to_thread.run_sync(services.sandbox.start)
        runtime = McpRuntime(services, settings, record_usage=not read_only)
        server = build_mcp_server(runtime, endpoint_namespaces=namespaces, toolset=toolset)
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
