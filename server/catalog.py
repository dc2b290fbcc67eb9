"""What each caller sees: the served tools as MCP ``Tool`` objects, cached per revision and visibility.

A tool's MCP name is ``namespace.name``, except on a toolset endpoint that shows exactly one
namespace, where it is the bare ``name``. The list varies only by identity (the API key's
namespaces and pins) and by endpoint (a toolset's namespaces and pins), never by connection.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from sqlalchemy.engine import Engine

from registry.schemas import Principal, ResolvedTool
from registry.service.queries import served_tools
from toolbox.logging import get_logger

__all__ = ["RESERVED_NAMES", "CatalogView", "ToolCatalog", "Visibility", "mcp_name", "to_mcp_tool"]

logger = get_logger("server.catalog")
META_PREFIX = "io.distillery/"


def mcp_name(namespace: str, name: str) -> str:
    """The MCP tool name of ``namespace.name``."""
    return f"{namespace}.{name}"


RESERVED_NAMES = frozenset({"search_tools", "call_tool"})


@dataclass(frozen=True)
class Visibility:
    """Which tools a caller sees: namespaces (None = all), the scopes whose pins apply, and the endpoint.

    ``scope`` is the caller's API key id and ``toolset`` the toolset of the endpoint it calls
    (``/mcp/<toolset>``; None on ``/mcp``); pins of both apply, the key's first. ``endpoint`` is the
    set of namespaces the endpoint shows (None = ``/mcp``); an endpoint with exactly one namespace
    names its tools by their bare names.
    """

    namespaces: frozenset[str] | None = None
    scope: str | None = None
    endpoint: frozenset[str] | None = None
    toolset: str | None = None

    @property
    def pin_scopes(self) -> tuple[str, ...]:
        """The pin scopes that apply here, most specific first: the API key, then the toolset."""
        return tuple(s for s in (self.scope, self.toolset) if s is not None)

    @property
    def bare_names(self) -> bool:
        """Whether tools are named ``name`` rather than ``namespace.name`` here."""
        return self.endpoint is not None and len(self.endpoint) == 1

    def tool_name(self, namespace: str, name: str) -> str:
        """The MCP name of ``namespace.name`` for this visibility's endpoint."""
        return name if self.bare_names else mcp_name(namespace, name)

    @classmethod
    def of(cls, principal: Principal | None, endpoint_namespaces: Iterable[str] | None,
           toolset: str | None = None) -> Visibility:
        """The visibility of ``principal`` on an endpoint restricted to ``endpoint_namespaces``.

        ``toolset`` names the endpoint's toolset (``/mcp/<toolset>``), whose pins then apply too.
        """
        endpoint = frozenset(endpoint_namespaces) if endpoint_namespaces is not None else None
        allowed = endpoint
        if principal is not None and principal.namespaces:
            keyed = frozenset(principal.namespaces)
            allowed = keyed if allowed is None else allowed & keyed
        return cls(namespaces=allowed, scope=principal.key_id if principal else None, endpoint=endpoint,
                   toolset=toolset)

    def allows(self, namespace: str) -> bool:
        """Whether this visibility includes ``namespace``."""
        return self.namespaces is None or namespace in self.namespaces


def to_mcp_tool(resolved: ResolvedTool, name: str | None = None) -> types.Tool:
    """The MCP description of a served tool version, named ``name`` (default ``namespace.name``)."""
    version = resolved.version
    description = version.description or f"{resolved.name} (no description)"
    if resolved.deprecated:
        instead = f"; use {resolved.replacement} instead" if resolved.replacement else ""
        description = f"[DEPRECATED{instead}] {description}"
    meta: dict[str, Any] = {
        f"{META_PREFIX}version": version.semver,
        f"{META_PREFIX}version_id": version.id,
        f"{META_PREFIX}content_hash": version.content_hash,
        f"{META_PREFIX}status": version.status.value,
    }
    if resolved.replacement:
        meta[f"{META_PREFIX}replacement"] = resolved.replacement
    return types.Tool(
        name=name or mcp_name(resolved.namespace, resolved.name),
        title=resolved.name.replace("_", " ").capitalize(),
        description=description,
        input_schema=version.input_schema,
        output_schema=version.output_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
        _meta=meta,
    )


@dataclass
class CatalogView:
    """The served tools for one (revision, visibility)."""

    revision: int
    tools: list[types.Tool]
    served: dict[str, ResolvedTool] = field(default_factory=dict)


class ToolCatalog:
    """Builds and caches ``CatalogView``s; thread-safe."""

    def __init__(self, engine: Engine, *, max_views: int = 256) -> None:
        self._engine = engine
        self._max_views = max_views
        self._views: OrderedDict[tuple[int, Visibility], CatalogView] = OrderedDict()
        self._lock = threading.Lock()
        self._latest: dict[Visibility, CatalogView] = {}

    def cached(self, visibility: Visibility, revision: int) -> CatalogView | None:
        """The view for ``visibility`` at ``revision`` if it is built already (no database access)."""
        key = (revision, visibility)
        with self._lock:
            cached = self._views.get(key)
            if cached is not None:
                self._views.move_to_end(key)
            return cached

    def view(self, visibility: Visibility, revision: int) -> CatalogView:
        """The served tools for ``visibility`` at ``revision`` (built once, then cached)."""
        cached = self.cached(visibility, revision)
        if cached is not None:
            return cached
        namespaces = sorted(visibility.namespaces) if visibility.namespaces is not None else None
        resolved = served_tools(self._engine, namespaces=namespaces, scopes=visibility.pin_scopes)
        served: dict[str, ResolvedTool] = {}
        for tool in resolved:
            name = visibility.tool_name(tool.namespace, tool.name)
            if name in RESERVED_NAMES or name in served:  # only possible with bare names
                logger.warning("not serving %s.%s as %r: the name is taken", tool.namespace, tool.name, name)
                continue
            served[name] = tool
        view = CatalogView(revision=revision, tools=[to_mcp_tool(r, n) for n, r in served.items()], served=served)
        with self._lock:
            self._views[(revision, visibility)] = view
            latest = self._latest.get(visibility)
            if latest is None or latest.revision <= revision:
                self._latest[visibility] = view
            while len(self._views) > self._max_views:
                self._views.popitem(last=False)
            while len(self._latest) > self._max_views:
                self._latest.pop(next(iter(self._latest)))
        return view

    def known_input_schema(self, name: str, visibility: Visibility) -> dict[str, Any] | None:
        """The input schema of the version served as ``name`` to ``visibility`` in its newest built view.

        For the SDK's synchronous ``Mcp-Param`` hook: with the caller's pins and toolset applied,
        it is the schema of the very version the call will run. None when no view of that
        visibility is built yet (the SDK then skips its header check; arguments are still
        validated against the served version by the call). Never decides visibility: calls are
        checked against the caller's own view.
        """
        with self._lock:
            view = self._latest.get(visibility)
        tool = view.served.get(name) if view is not None else None
        return tool.version.input_schema if tool is not None else None
