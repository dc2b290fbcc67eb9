"""One ASGI app, one port: REST under ``/api/v1``, the console at ``/ui`` and MCP at ``/mcp`` (plus ``/mcp/<toolset>``).

The MCP endpoints are served from the root with their full paths (mounting at ``/mcp`` gives a
307 that real clients mishandle). The process-wide ``McpRuntime`` watches the registry and fans
change notices out to both protocol eras.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import NamedTuple

import anyio
import anyio.to_thread
from fastapi import FastAPI
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.api.app import include_registry_routes
from registry.api.problems import send_problem
from registry.console import include_console
from registry.container import RegistryServices, build_services
from server.auth import ApiKeyVerifier, McpAuthGate
from server.event_store import MemoryEventStore
from server.listing_cache import ListingSplicer
from server.mcp_server import DistilleryServer, build_mcp_server
from server.runtime import McpRuntime
from toolbox.logging import get_logger
from toolbox.settings import Settings

__all__ = ["McpEndpoint", "create_app", "endpoint_app", "mcp_endpoints"]

logger = get_logger("server.app")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SSE_RETRY_MS = 1000  # how soon a legacy client should reconnect a dropped SSE stream


def _transport_security(settings: Settings) -> TransportSecuritySettings | None:
    server = settings.server
    if not server.public_hostnames:
        if server.host not in LOOPBACK:
            logger.warning("binding %s without DISTILLERY_SERVER__PUBLIC_HOSTNAMES: Host/Origin checks are off",
                           server.host)
        return None  # the SDK protects loopback binds by itself
    hosts = [*(f"{h}:*" for h in server.public_hostnames), *server.public_hostnames,
             "127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = [*server.allowed_origins, *(f"https://{h}" for h in server.public_hostnames),
               "http://127.0.0.1:*", "http://localhost:*"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


class McpEndpoint(NamedTuple):
    """One MCP path: its toolset (None for ``/mcp``) and the namespaces it shows (None = all)."""

    toolset: str | None
    namespaces: list[str] | None


def mcp_endpoints(settings: Settings) -> dict[str, McpEndpoint]:
    """Path -> endpoint: ``/mcp`` (every namespace the caller may see) and ``/mcp/<toolset>``."""
    endpoints = {"/mcp": McpEndpoint(None, None)}
    for toolset, namespaces in settings.server.toolsets.items():
        endpoints[f"/mcp/{toolset}"] = McpEndpoint(toolset, list(namespaces))
    return endpoints


class _McpDispatcher:
    """Send exact MCP paths to their endpoint apps; anything else is a 404 problem."""

    def __init__(self, routes: dict[str, ASGIApp]) -> None:
        self._routes = routes

    def route(self, scope: Scope) -> ASGIApp | None:
        """The endpoint app for ``scope``'s path, or None."""
        return self._routes.get(scope.get("path", "").rstrip("/") or "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.route(scope)
        if app is None:
            await send_problem(scope, receive, send, 404, "No such path; the API is under /api/v1 and MCP at /mcp.")
            return
        await app(scope, receive, send)


class _DistilleryApp(FastAPI):
    """FastAPI, except that MCP requests go straight to their endpoint.

    The REST middleware (body limits, metrics, problem details, routing) only passes MCP paths
    through; skipping it saves every MCP request a dozen ASGI layers.
    """

    mcp: _McpDispatcher | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI event stream."""
        endpoint = self.mcp.route(scope) if self.mcp is not None and scope["type"] == "http" else None
        if endpoint is not None:
            await endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def endpoint_app(runtime: McpRuntime, server: DistilleryServer, path: str, *, verifier: ApiKeyVerifier,
                 anonymous_allowed: bool, security: TransportSecuritySettings | None = None) -> ASGIApp:
    """The ASGI app of one MCP endpoint: auth gate, listing splicer, the SDK's Streamable HTTP app.

    ``server.session_manager.run()`` must be running while it serves (the app's lifespan does that).
    """
    settings = runtime.settings.server
    http_app = server.streamable_http_app(
        streamable_http_path=path, transport_security=security, host=settings.host,
        max_request_body_size=max(settings.max_body_bytes, 1 << 20),
        event_store=MemoryEventStore(), retry_interval=SSE_RETRY_MS)
    return McpAuthGate(ListingSplicer(http_app, runtime.listings), verifier, anonymous_allowed=anonymous_allowed)


def create_app(settings: Settings, *, services: RegistryServices | None = None) -> FastAPI:
    """The Distillery app: REST + MCP over one registry; builds the services it is not given."""
    services = services or build_services(settings)
    runtime = McpRuntime(services, settings)
    verifier = ApiKeyVerifier(services.engine)
    anonymous = settings.auth.reads_open(settings.server.host)
    security = _transport_security(settings)
    servers: list[DistilleryServer] = []
    routes: dict[str, ASGIApp] = {}
    for path, endpoint in mcp_endpoints(settings).items():
        server = build_mcp_server(runtime, endpoint_namespaces=endpoint.namespaces, toolset=endpoint.toolset)
        routes[path] = endpoint_app(runtime, server, path, verifier=verifier, anonymous_allowed=anonymous,
                                    security=security)
        servers.append(server)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(services.close)
            stack.callback(runtime.close)
            services.usage.start()
            await anyio.to_thread.run_sync(services.sandbox.start)
            for server in servers:
                await stack.enter_async_context(server.session_manager.run())
            async with anyio.create_task_group() as group:
                group.start_soon(runtime.run)
                logger.info("serving REST at /api/v1 and MCP at %s", ", ".join(routes))
                yield
                group.cancel_scope.cancel()

    app = _DistilleryApp(title="Distillery", version="0.1.0", lifespan=lifespan,
                         description="A registry of teacher-distilled tools, served over REST and MCP.")
    include_registry_routes(app, services, settings)
    include_console(app)
    dispatcher = _McpDispatcher(routes)
    app.mcp = dispatcher
    app.mount("/", dispatcher)
    return app
