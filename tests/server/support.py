"""Helpers for the MCP server tests: fixture tools, settings, real server processes, bounded waits.

- ``fixture_specs()`` builds the tools most tests call (``math.add``, ``text.greet``, ``ops.sleepy``...).
- ``publish(services, spec)`` publishes and activates a spec, failing the test if it was not stored.
- ``server_settings(url, ...)`` builds settings for a registry at ``url`` with small sandbox limits.
- ``server_env(url, ...)`` is the environment of a ``distillery serve`` / ``distillery mcp`` subprocess
  (the process itself: ``tests.support.serve.ServerProcess``).
- ``Notices`` / ``next_event`` give bounded waits for change notices: nothing here sleeps and hopes.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from registry.container import RegistryServices
from registry.schemas import PublishOutcome
from tests.registry.factories import make_spec, tool_source
from toolbox.analysis import build_spec
from toolbox.settings import SandboxSettings, Settings
from toolbox.spec import ToolSpec, ToolTest

__all__ = [
    "SANDBOX_TIMEOUT_S",
    "Notices",
    "connect",
    "crash_spec",
    "fixture_specs",
    "names",
    "next_event",
    "publish",
    "sandbox_uid",
    "server_env",
    "server_settings",
    "text_of",
]

SANDBOX_TIMEOUT_S = 3.0
_uids = itertools.count(random.randrange(61_000, 64_000, 8), 8)


def sandbox_uid() -> int:
    """A sandbox uid base no other sandbox of this run uses (sandboxes sharing uids kill each other's calls)."""
    return next(_uids)


def crash_spec() -> ToolSpec:
    """``ops.crash(mode)``: 'parent' kills the worker, 'self' kills its own process, else 'alive'."""
    source = tool_source(
        "crash", "mode: str", """
        if mode == "parent":
            os.kill(os.getppid(), 9)
        if mode == "self":
            os.kill(os.getpid(), 9)
        return "alive"
        """, "str", doc="Crash on purpose.", imports=["os"])
    return build_spec(source, entrypoint="crash", namespace="ops", extra_imports=["os"],
                      allowed_imports=SandboxSettings().allowed_imports,
                      tests=[ToolTest(args={"mode": "none"}, expected="alive")])


def fixture_specs() -> list[ToolSpec]:
    """The tools every server test module publishes first."""
    return [
        make_spec("add", namespace="math"),
        make_spec("mul", namespace="math", body="return a * b", doc="Multiply two integers.",
                  tests=[({"a": 2, "b": 3}, 6)]),
        make_spec("greet", namespace="text", params="name: str", body='return f"Hello, {name}!"', returns="str",
                  doc="Greet someone by name.", tests=[({"name": "Ada"}, "Hello, Ada!")]),
        make_spec("safe_div", namespace="text", params="a: float, b: float", returns="float",
                  body='if b == 0:\n    raise ValueError("b must not be zero")\nreturn a / b',
                  doc="Divide a by b.", tests=[({"a": 1.0, "b": 2.0}, 0.5)]),
        make_spec("sleepy", namespace="ops", params="seconds: float", returns="float",
                  body="time.sleep(seconds)\nreturn seconds", imports=["time"], doc="Sleep, then return.",
                  tests=[({"seconds": 0.0}, 0.0)]),
        crash_spec(),
    ]


def publish(services: RegistryServices, spec: ToolSpec) -> PublishOutcome:
    """Publish and activate ``spec``; the test fails unless a version was stored."""
    outcome = services.publisher.publish(spec, activate=True)
    assert outcome.version is not None, outcome
    return outcome


def server_settings(database_url: str, *, timeout_s: float = SANDBOX_TIMEOUT_S, **server: Any) -> Settings:
    """Settings for a registry at ``database_url`` with one small sandbox and ``server`` overrides."""
    return Settings(database={"url": database_url},
                    sandbox={"workers": 1, "timeout_s": timeout_s, "preload_modules": []},
                    server=server)


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server or CLI subprocess on ``database_url``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DISTILLERY_")}
    env.update({"DISTILLERY_DATABASE_URL": database_url, "DISTILLERY_SANDBOX__WORKERS": "1",
                "DISTILLERY_SANDBOX__PRELOAD_MODULES": "[]", "DISTILLERY_LOG_LEVEL": "WARNING",
                "DISTILLERY_SERVER__REVISION_POLL_S": "0.1",
                "DISTILLERY_SANDBOX__RUN_AS_UID": str(sandbox_uid())})
    env.update(extra)
    return env


def names(tools: types.ListToolsResult | list[types.Tool]) -> list[str]:
    """Tool names of a listing."""
    listing = tools.tools if isinstance(tools, types.ListToolsResult) else tools
    return [tool.name for tool in listing]


def text_of(result: types.CallToolResult) -> str:
    """The joined text blocks of a call result."""
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


class Notices:
    """A legacy client's ``message_handler`` that counts ``notifications/tools/list_changed``."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = anyio.Event()

    async def handler(self, message: Any) -> None:
        """Count tool-list change notices; ignore everything else."""
        if isinstance(getattr(message, "root", message), types.ToolListChangedNotification):
            self.count += 1
            changed, self._changed = self._changed, anyio.Event()
            changed.set()

    async def wait_beyond(self, count: int, timeout_s: float = 20.0) -> None:
        """Wait until more than ``count`` notices arrived (fail after ``timeout_s``)."""
        with anyio.fail_after(timeout_s):
            while self.count <= count:
                await self._changed.wait()


async def next_event(subscription: Any, timeout_s: float = 20.0) -> Any:
    """The next event of a ``client.listen(...)`` subscription (fail after ``timeout_s``)."""
    with anyio.fail_after(timeout_s):
        async for event in subscription:
            return event
    raise AssertionError("the listen stream ended")


@asynccontextmanager
async def connect(url: str, *, key: str | None = None, mode: Any = "auto",
                  message_handler: Any = None) -> AsyncIterator[Client]:
    """An SDK client on ``url`` (Streamable HTTP), with an API key when given."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=60.0)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, message_handler=message_handler,
               read_timeout_seconds=60) as client,
    ):
        yield client
