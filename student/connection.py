"""The student's MCP client: one connection to a Distillery box over streamable HTTP or stdio.

:class:`BoxConnection` caches ``tools/list`` and refetches it after a change notice: on the modern
protocol (2026-07-28) from a ``subscriptions/listen`` stream, on the legacy one from
``notifications/tools/list_changed``. Tool failures and protocol errors become an
:class:`Observation` with ``ok=False``, never an exception, so an agent can show them to its model.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict

from toolbox.analysis import is_wrapped_output
from toolbox.logging import get_logger

__all__ = ["CALL_TOOL", "META_TOOLS", "SEARCH_TOOLS", "BoxConnection", "BoxTool", "Observation",
           "connect_http", "connect_stdio", "tool_from_hit"]

logger = get_logger("student.connection")

SEARCH_TOOLS = "search_tools"
CALL_TOOL = "call_tool"
META_TOOLS = frozenset({SEARCH_TOOLS, CALL_TOOL})
ConnectMode = Literal["auto", "legacy"]


@dataclass(frozen=True)
class BoxTool:
    """A tool of the box as the student sees it (MCP name and JSON schemas)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None

    @property
    def parameters(self) -> list[str]:
        """Parameter names in schema order."""
        return list(self.input_schema.get("properties", {}))


class Observation(BaseModel):
    """What one tool call gave back: ``text`` for the model, ``value`` as a Python value."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    text: str
    structured: Any = None
    value: Any = None


@dataclass
class _Notices:
    """Change notices seen on a connection; a notice makes the cached listing stale."""

    count: int = 0
    changed: anyio.Event = field(default_factory=anyio.Event)

    def notice(self) -> None:
        self.count += 1
        changed, self.changed = self.changed, anyio.Event()
        changed.set()

    async def legacy_handler(self, message: Any) -> None:
        if isinstance(getattr(message, "root", message), types.ToolListChangedNotification):
            self.notice()


def _tool(raw: types.Tool) -> BoxTool:
    return BoxTool(name=raw.name, description=(raw.description or raw.title or "").strip(),
                   input_schema=dict(raw.input_schema or {"type": "object"}),
                   output_schema=dict(raw.output_schema) if raw.output_schema else None)


def tool_from_hit(hit: Mapping[str, Any]) -> BoxTool:
    """A tool from one ``search_tools`` hit (its compact parameters become the input schema)."""
    schema = {"type": "object", "properties": dict(hit.get("parameters") or {}),
              "required": list(hit.get("required") or [])}
    return BoxTool(name=str(hit["name"]), description=str(hit.get("description", "")), input_schema=schema)


def _text(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


class BoxConnection:
    """An open MCP session with a box: list (cached), search and call its tools."""

    def __init__(self, client: Client, notices: _Notices) -> None:
        self.client = client
        self._notices = notices
        self._tools: list[BoxTool] | None = None
        self._seen_notices = -1
        self._schemas: dict[str, dict[str, Any] | None] = {}
        self.calls: Counter[str] = Counter()
        """``tools/call`` requests sent, by tool name (meta-tools included)."""

    @property
    def notices(self) -> int:
        """How many change notices arrived so far."""
        return self._notices.count

    async def wait_for_notice(self, beyond: int, timeout_s: float = 20.0) -> None:
        """Wait until more than ``beyond`` change notices arrived (``TimeoutError`` after ``timeout_s``)."""
        with anyio.fail_after(timeout_s):
            while self._notices.count <= beyond:
                await self._notices.changed.wait()

    async def list_tools(self) -> list[BoxTool]:
        """Every listed tool, meta-tools first; fetched again only after a change notice."""
        if self._tools is None or self._seen_notices != self._notices.count:
            seen = self._notices.count
            tools: list[BoxTool] = []
            cursor: str | None = None
            while True:
                page = await self.client.list_tools(cursor=cursor, cache_mode="refresh")
                tools.extend(_tool(raw) for raw in page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            self._tools, self._seen_notices = tools, seen
            self._schemas.update({tool.name: tool.output_schema for tool in tools})
        return list(self._tools)

    async def search_tools(self, query: str, k: int = 5) -> list[BoxTool]:
        """The box's ``search_tools`` hits as tools (their schemas are the compact ones it returns)."""
        observation = await self.call_tool(SEARCH_TOOLS, {"query": query, "k": k})
        if not observation.ok or not isinstance(observation.structured, dict):
            return []
        return [tool_from_hit(hit) for hit in observation.structured.get("tools", []) if isinstance(hit, dict)]

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> Observation:
        """Call ``name``; every failure (unknown tool, bad arguments, tool error) is ``ok=False``."""
        self.calls[name] += 1
        try:
            result = await self.client.call_tool(name, dict(arguments))
        except MCPError as error:
            if error.error.code == types.INVALID_PARAMS:
                self._tools = None  # the tool may have gone away: list again before the next step
            return Observation(ok=False, text=f"ERROR: {error.error.message}")
        except (RuntimeError, TimeoutError) as error:
            return Observation(ok=False, text=f"ERROR: {error}")
        text = _text(result)
        if result.is_error:
            return Observation(ok=False, text=f"ERROR: {text}")
        return Observation(ok=True, text=text, structured=result.structured_content,
                           value=self._value(name, result.structured_content, text))

    def _value(self, name: str, structured: Any, text: str) -> Any:
        if structured is not None:
            schema = self._schemas.get(name)
            wrapped = is_wrapped_output(schema) if schema is not None else (
                isinstance(structured, dict) and list(structured) == ["result"])
            return structured["result"] if wrapped and isinstance(structured, dict) else structured
        try:
            return json.loads(text)
        except ValueError:
            return text


async def _listen(client: Client, notices: _Notices, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    """Follow the modern ``subscriptions/listen`` stream; each event is a change notice."""
    try:
        async with client.listen(tools_list_changed=True) as subscription:
            task_status.started()
            async for _event in subscription:
                notices.notice()
    except Exception as error:  # a lost stream must not end the run: the agent re-lists on unknown tools
        logger.warning("the change-notice stream ended: %s", error)
        task_status.started()


@asynccontextmanager
async def _open(client: Client, notices: _Notices) -> AsyncIterator[BoxConnection]:
    async with client:
        connection = BoxConnection(client, notices)
        async with anyio.create_task_group() as group:
            if client.protocol_version not in types.version.HANDSHAKE_PROTOCOL_VERSIONS:
                await group.start(_listen, client, notices)
            try:
                yield connection
            finally:
                group.cancel_scope.cancel()


@asynccontextmanager
async def connect_http(url: str, api_key: str | None = None, *, mode: ConnectMode = "auto",
                       timeout_s: float = 60.0) -> AsyncIterator[BoxConnection]:
    """A connection to the box at ``url`` (e.g. ``http://127.0.0.1:8000/mcp``) over streamable HTTP."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    notices = _Notices()
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=timeout_s)) as http:
        client = Client(streamable_http_client(url, http_client=http), mode=mode,
                        message_handler=notices.legacy_handler, read_timeout_seconds=timeout_s)
        async with _open(client, notices) as connection:
            yield connection


@asynccontextmanager
async def connect_stdio(command: str, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
                        mode: ConnectMode = "auto", timeout_s: float = 60.0) -> AsyncIterator[BoxConnection]:
    """A connection to a box served by a subprocess over stdio (e.g. ``distillery mcp``)."""
    notices = _Notices()
    params = StdioServerParameters(command=command, args=list(args), env=dict(env) if env is not None else None)
    client = Client(params, mode=mode, message_handler=notices.legacy_handler, read_timeout_seconds=timeout_s)
    async with _open(client, notices) as connection:
        yield connection
