"""The box an evaluation runs against: a running Distillery, or one started here for the run.

The student may not import the server, so ``--box NAMESPACE`` without ``--server`` starts
``distillery serve`` as a subprocess on a free loopback port, with a toolset endpoint
``/mcp/<namespace>`` that shows only that namespace, and waits for ``/health``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from student.connection import META_TOOLS, BoxConnection, connect_http
from toolbox.logging import get_logger
from toolbox.serve_process import ServeProcess
from toolbox.settings import Settings

__all__ = ["BoxInfo", "Connector", "mcp_url", "open_box", "serve_namespace"]

logger = get_logger("student.eval.box")
HEALTH_TIMEOUT_S = 90.0
BUILTIN_NAMESPACE = "builtin"  # the python/retrieve tools served beside every box

Connector = Callable[[str, str | None], AbstractAsyncContextManager[Any]]
"""(MCP URL, API key) -> an async context manager yielding a ``BoxConnection``."""


@dataclass
class BoxInfo:
    """The box of a run: its connection, where it is, its tools and the registry revision."""

    connection: Any
    url: str
    namespace: str | None
    tools: list[str]
    revision: int | None
    started_here: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def recorded(self) -> dict[str, Any]:
        """What summaries record about the box."""
        return {"url": self.url, "namespace": self.namespace, "tool_count": len(self.tools), "tools": self.tools,
                "revision": self.revision, "started_here": self.started_here, **self.extra}


def mcp_url(server: str, namespace: str | None) -> str:
    """The MCP URL for ``server``: kept as given when it has a path, else ``/mcp`` or ``/mcp/<namespace>``."""
    parts = urlsplit(server)
    if parts.path.strip("/"):
        return server
    return server.rstrip("/") + (f"/mcp/{namespace}" if namespace else "/mcp")


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def serve_namespace(settings: Settings, namespace: str, *, builtin: bool = False,
                    timeout_s: float = HEALTH_TIMEOUT_S) -> Iterator[str]:
    """Run ``distillery serve`` for the run; yields its base URL.

    Its endpoint ``/mcp/<namespace>`` shows the box, and with ``builtin`` the builtin tools (python,
    retrieve) beside it. They are off by default: measured on 2026-12-04, the 0.5B student called
    ``retrieve`` on an empty corpus and ``python`` after the box tool had already answered.
    """
    toolsets = {**settings.server.toolsets, namespace: [namespace, *([BUILTIN_NAMESPACE] if builtin else [])]}
    env = {**os.environ, "DISTILLERY_SERVER__TOOLSETS": json.dumps(toolsets)}
    with tempfile.TemporaryDirectory(prefix="distillery-eval-") as scratch:
        server = ServeProcess.start(env, Path(scratch) / "serve.log", timeout_s=timeout_s)
        try:
            logger.info("started distillery serve for namespace %s at %s", namespace, server.url)
            yield server.url
        finally:
            server.stop()


async def _revision(url: str, api_key: str | None) -> int | None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with httpx.AsyncClient(timeout=10, headers=headers) as client:
            response = await client.get(f"{_base_url(url)}/health")
        value = response.json().get("revision")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        logger.warning("could not read the registry revision from %s/health: %s", _base_url(url), exc)
        return None
    return int(value) if isinstance(value, int) else None


def _in_box(mcp_name: str, namespace: str | None) -> bool:
    """Whether a listed tool is one of the box's: ``namespace.name`` of the box, not a builtin.

    A bare name comes from an endpoint that shows a single namespace, which is then the box's.
    """
    prefix, dot, _ = mcp_name.partition(".")
    if not dot:
        return True
    return prefix == namespace if namespace else prefix != BUILTIN_NAMESPACE


@asynccontextmanager
async def _connect(url: str, api_key: str | None) -> AsyncIterator[BoxConnection]:
    async with connect_http(url, api_key) as connection:
        yield connection


@asynccontextmanager
async def open_box(url: str, namespace: str | None, api_key: str | None = None, *,
                   connector: Connector = _connect, started_here: bool = False) -> AsyncIterator[BoxInfo]:
    """Connect to the box at ``url``; the tool list (meta-tools left out) and revision are read once."""
    async with connector(url, api_key) as connection:
        listed = [tool.name for tool in await connection.list_tools() if tool.name not in META_TOOLS]
        tools = [name for name in listed if _in_box(name, namespace)]
        revision = await _revision(url, api_key)
        if not tools:
            logger.warning("the box at %s lists no tools", url)
        yield BoxInfo(connection=connection, url=url, namespace=namespace, tools=tools, revision=revision,
                      started_here=started_here, extra={"other_tools": sorted(set(listed) - set(tools))})
