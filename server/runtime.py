"""State shared by every MCP endpoint of one process: catalog, caller, watcher, change fan-out."""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from registry.container import RegistryServices
from server.calls import ToolCaller
from server.catalog import ToolCatalog
from server.listing_cache import ListingCache
from server.revision import RevisionClock
from server.search_memory import SearchMemory
from server.watcher import RevisionWatcher
from toolbox.logging import get_logger
from toolbox.sandbox import Limits
from toolbox.settings import Settings

__all__ = ["McpRuntime"]

logger = get_logger("server.runtime")


class McpRuntime:
    """One per process; the MCP servers of every endpoint share it."""

    def __init__(self, services: RegistryServices, settings: Settings, *, progress_interval_s: float = 1.0,
                 record_usage: bool = True) -> None:
        """``record_usage=False`` serves without counting calls (a read-only registry: ``server.bundle``)."""
        self.services = services
        self.settings = settings
        self.catalog = ToolCatalog(services.engine)
        self.revisions = RevisionClock(services.engine)
        self.listings = ListingCache()
        self.caller = ToolCaller(
            services.sandbox,
            Limits.from_settings(settings.sandbox),
            record_usage=(lambda version_id, ok, ms, via_search: services.usage.record(
                version_id, ok=ok, latency_ms=ms, via_search=via_search)) if record_usage else None,
            progress_interval_s=progress_interval_s,
            threads=settings.sandbox.workers + 1,
        )
        self.searches = SearchMemory(settings.server.search_window_s)
        self.bus = InMemorySubscriptionBus()
        self.watcher = RevisionWatcher(services.engine, poll_interval_s=settings.server.revision_poll_s)
        self.watcher.add_listener(self._announce)
        self._legacy_sessions: dict[int, ServerSession] = {}

    async def run(self) -> None:
        """Watch the registry until cancelled (start it in a task group)."""
        await self.watcher.run()

    def close(self) -> None:
        """Release what the runtime holds of its own (the services are closed by their owner)."""
        self.caller.close()
        self.revisions.close()

    async def track_legacy_sessions(self, ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        """Server middleware: remember legacy sessions that can receive list_changed notices."""
        result = await call_next(ctx)
        if ctx.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS and ctx.method == "notifications/initialized":
            connection = ctx.session._connection  # no public accessor in mcp 2.3
            if connection.has_standalone_channel:
                key = id(connection)
                self._legacy_sessions[key] = ctx.session
                connection.exit_stack.callback(self._legacy_sessions.pop, key, None)
        return result

    async def _announce(self, revision: int) -> None:
        await self.bus.publish(ToolsListChanged())
        for key, session in list(self._legacy_sessions.items()):
            try:
                with anyio.fail_after(5):
                    await session.send_tool_list_changed()
            except Exception:  # the client went away; forget it
                logger.debug("dropping legacy session %s", key, exc_info=True)
                self._legacy_sessions.pop(key, None)
