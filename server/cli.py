"""``distillery serve`` (REST and MCP on one port) and ``distillery mcp`` (MCP over stdio)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolbox.cli_edge import fail
from toolbox.settings import Settings

__all__ = ["mcp_app", "serve_app"]

serve_app = typer.Typer(help="Serve REST and MCP over HTTP.", invoke_without_command=True, add_completion=False)
mcp_app = typer.Typer(help="Serve the toolbox over MCP stdio.", invoke_without_command=True, add_completion=False)


@serve_app.callback()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: settings.server.host).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default: settings.server.port).")] = None,
) -> None:
    """Serve REST under /api/v1 (docs at /docs) and MCP at /mcp until interrupted."""
    import uvicorn

    from server.app import create_app
    from toolbox.errors import ToolboxError

    settings = Settings()
    updates = {key: value for key, value in {"host": host, "port": port}.items() if value is not None}
    if updates:
        settings.server = settings.server.model_copy(update=updates)
    try:
        app = create_app(settings)
    except ToolboxError as exc:
        raise fail(str(exc)) from None
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, proxy_headers=False,
                server_header=False, log_level=settings.log_level.lower(), timeout_graceful_shutdown=3)


@mcp_app.callback()
def mcp(
    bundle: Annotated[Path | None, typer.Option(dir_okay=False, help="Serve this bundle alone, read-only, without "
                                                "a registry database ('distillery export' writes one).")] = None,
    toolset: Annotated[str | None, typer.Option(help="Serve this toolset (DISTILLERY_SERVER__TOOLSETS) with its "
                                                "pins, like /mcp/<toolset>.")] = None,
    key: Annotated[str | None, typer.Option(envvar="DISTILLERY_MCP_KEY", show_default=False,
                                            help="An API key whose namespaces and pins apply, like a bearer "
                                                 "key on HTTP.")] = None,
) -> None:
    """Serve MCP over stdin/stdout, for clients that start servers as subprocesses."""
    import functools

    import anyio

    from server.stdio import serve_stdio
    from toolbox.errors import ToolboxError

    try:
        if bundle is None:
            anyio.run(functools.partial(serve_stdio, Settings(), toolset=toolset, key=key))
        else:
            from server.bundle import serve_bundle

            anyio.run(serve_bundle, bundle, Settings())
    except ToolboxError as exc:
        raise fail(str(exc)) from None
