"""The MCP server: the low-level SDK ``Server`` over the live registry.

``tools/list`` shows the meta-tools ``search_tools`` and ``call_tool``, the builtin tools where the
endpoint's toolset names ``builtin`` (``server.builtin_tools``) and, depending on settings, every
visible tool or only the configured core set; every visible tool can be called by name either way.
On a toolset endpoint the toolset's pins apply after the caller's key's. ``tools/list`` results
carry the cache hint ``ttlMs`` (``DISTILLERY_SERVER__LIST_TTL_MS``) with ``cacheScope: private``.
Every request reads the registry revision (``server.revision``) and serves the caller's view of
it from the catalog cache; a modern-era HTTP ``tools/list`` is answered from its serialised bytes
when they are cached (``server.listing_cache``). Handlers catch everything: a failure is an
``isError`` result or a JSON-RPC error with a message for people, never a stack trace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
import mcp_types as types
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.subscriptions import ListenHandler
from mcp.shared.exceptions import MCPError

from registry.schemas import Principal
from server.auth import caller_principal
from server.builtin_tools import BuiltinTools
from server.calls import error_result
from server.catalog import CatalogView, Visibility, mcp_name
from server.listing_cache import ListingKey
from server.meta_tools import CALL_TOOL, META_TOOLS, SEARCH_TOOLS, compact_hit
from server.runtime import McpRuntime
from server.search_memory import caller_identity
from toolbox.logging import get_logger

__all__ = ["DistilleryServer", "build_mcp_server"]

logger = get_logger("server.mcp")


class DistilleryServer(Server[Any]):
    """A low-level server that tells legacy clients it sends ``tools/list_changed``."""

    def create_initialization_options(self, notification_options: NotificationOptions | None = None,
                                      *args: Any, **kwargs: Any) -> Any:
        """Initialization options with ``tools.listChanged`` advertised on the legacy era too."""
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True), *args, **kwargs)


class _Handlers:
    def __init__(self, runtime: McpRuntime, endpoint_namespaces: Sequence[str] | None,
                 toolset: str | None = None) -> None:
        self.runtime = runtime
        self.endpoint_namespaces = endpoint_namespaces
        self.toolset = toolset
        self.builtins = BuiltinTools(runtime)

    def visibility(self, principal: Principal | None) -> Visibility:
        return Visibility.of(principal, self.endpoint_namespaces, self.toolset)

    async def view(self, visibility: Visibility) -> CatalogView:
        """The caller's view at the registry's current revision (a cheap read, then the cache).

        Reading the revision on every request keeps list and call in agreement the moment a
        change commits (a yanked tool is uncallable at once), whatever the watcher has seen;
        only a revision's first request for a visibility reads the tools (in a worker thread).
        """
        runtime = self.runtime
        revision = await runtime.revisions.current()
        view = runtime.catalog.cached(visibility, revision)
        if view is None:
            view = await anyio.to_thread.run_sync(runtime.catalog.view, visibility, revision)
        return view

    async def list_tools(self, ctx: ServerRequestContext[Any, Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        visibility = self.visibility(caller_principal())
        cursor = params.cursor if params else None
        start = _decode_cursor(cursor)
        view = await self.view(visibility)
        key = ListingKey(view.revision, visibility, cursor, ctx.protocol_version)
        return self.runtime.listings.answer(key, lambda: self._page(view, visibility, start))

    def _page(self, view: CatalogView, visibility: Visibility, start: int) -> types.ListToolsResult:
        server_settings = self.runtime.settings.server
        builtins = self.builtins.tools(visibility)
        shadowed = {tool.name for tool in builtins}
        tools = [tool for tool in view.tools if tool.name not in shadowed]
        if server_settings.listing == "core":
            core = set(server_settings.core_tools)
            tools = [tool for tool in tools
                     if mcp_name(view.served[tool.name].namespace, view.served[tool.name].name) in core]
        listing = [*META_TOOLS, *builtins, *tools]
        end = start + server_settings.page_size
        # Cache hint (SEP-2549): fresh for list_ttl_ms; "private" because the listing depends on the
        # caller's key (namespaces, pins). A change notice tells clients to drop it sooner.
        return types.ListToolsResult(tools=listing[start:end], next_cursor=str(end) if end < len(listing) else None,
                                     ttl_ms=server_settings.list_ttl_ms, cache_scope="private")

    async def call_tool(self, ctx: ServerRequestContext[Any, Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            principal = caller_principal()
            visibility = self.visibility(principal)
            name, arguments = params.name, dict(params.arguments or {})
            if name == SEARCH_TOOLS.name:
                return await self.search(ctx, principal, visibility, arguments)
            direct = name != CALL_TOOL.name
            if not direct:
                inner, arguments = arguments.get("name"), arguments.get("arguments", {})
                if not isinstance(inner, str) or not isinstance(arguments, dict):
                    return error_result("Invalid arguments: call_tool needs {'name': str, 'arguments': object}.")
                name = inner
            builtin = self.builtins.names(visibility).get(name)
            if builtin is not None:
                return await self.builtins.call(builtin, arguments)
            tool = (await self.view(visibility)).served.get(name)
            if tool is None:
                if direct:
                    raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}. Use tools/list or search_tools.")
                return error_result(f"Unknown tool: {name}. Use search_tools to find one.")
            via_search = self.runtime.searches.reached_via_search(caller_identity(principal, ctx.request),
                                                                  tool.version.id)
            return await self.runtime.caller.call(tool, arguments, ctx.session.report_progress,
                                                  via_search=via_search)
        except MCPError:
            raise
        except Exception:
            logger.exception("tools/call %s failed inside the server", params.name)
            return error_result("InternalError: the server could not complete this call; it has been logged.")

    async def search(self, ctx: ServerRequestContext[Any, Any], principal: Principal | None, visibility: Visibility,
                     arguments: dict[str, Any]) -> types.CallToolResult:
        query, k = arguments.get("query"), arguments.get("k", 5)
        if not isinstance(query, str) or not query.strip():
            return error_result("Invalid arguments: search_tools needs a non-empty 'query' string.")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 20:
            return error_result("Invalid arguments: 'k' must be an integer from 1 to 20.")
        namespaces = sorted(visibility.namespaces) if visibility.namespaces is not None else None
        view = await self.view(visibility)
        hits = await anyio.to_thread.run_sync(
            lambda: self.runtime.services.index.search(query, k=k, namespaces=namespaces))
        names = [visibility.tool_name(hit.namespace, hit.name) for hit in hits]
        shown = [name for name in names if name in view.served]
        self.runtime.searches.remember(caller_identity(principal, ctx.request),
                                       [view.served[name].version.id for name in shown])
        found = [compact_hit(view.served[name], name) for name in shown]
        payload = {"tools": found}
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(payload))],
                                    structured_content=payload)

    def input_schema(self, name: str) -> dict[str, Any] | None:
        """The SDK's synchronous ``Mcp-Param`` hook: the schema of what ``name`` runs for this caller.

        It runs inside the auth gate, so the caller's key (pins, namespaces) and this endpoint's
        toolset pins pick the version, exactly as the call will.
        """
        if name in {SEARCH_TOOLS.name, CALL_TOOL.name}:
            return {"type": "object"}
        endpoint = frozenset(self.endpoint_namespaces) if self.endpoint_namespaces is not None else None
        return (BuiltinTools.input_schema(name, endpoint)
                or self.runtime.catalog.known_input_schema(name, self.visibility(caller_principal())))


def _decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise MCPError(types.INVALID_PARAMS, "Invalid cursor: pass back the nextCursor of the previous page.")
    return int(cursor)


def build_mcp_server(runtime: McpRuntime, *, endpoint_namespaces: Sequence[str] | None = None,
                     toolset: str | None = None, name: str = "distillery") -> DistilleryServer:
    """An MCP server for one endpoint: all namespaces, or toolset ``toolset``'s (whose pins it applies)."""
    handlers = _Handlers(runtime, endpoint_namespaces, toolset)
    server = DistilleryServer(
        name,
        version="0.1.0",
        instructions="A box of tested Python tools. Use search_tools to find one for your task, then call it.",
        on_list_tools=handlers.list_tools,
        on_call_tool=handlers.call_tool,
        on_subscriptions_listen=ListenHandler(runtime.bus),
        get_tool_input_schema=handlers.input_schema,
    )
    server.middleware.append(runtime.track_legacy_sessions)
    return server
