"""The scale-out scenario, shared by the two topologies of ``tests/deploy``.

A ``Topology`` is two (or more) Distillery replicas on one PostgreSQL database behind a reverse
proxy: ``distillery serve`` processes behind ``tests.support.proxy.ReverseProxy``, or the containers
of ``docker-compose.yml`` behind nginx. The steps:

- ``publish_is_noticed_across_replicas``: an MCP client listening on one replica gets the change
  notice of a tool published over REST through another, and then lists it;
- ``call_through``: the tool answers through the proxy (or any base URL);
- ``calls_survive_a_kill``: MCP clients call through the proxy without pause while one replica is
  killed (SIGKILL); every call must succeed, and enough of them after the kill to show the proxy
  routed to the survivor. Bounded in calls, not in time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import httpx

from tests.registry.factories import tool_source
from tests.server.support import connect, names, next_event

__all__ = [
    "NAMESPACE",
    "TOOL",
    "LoadReport",
    "Topology",
    "call_through",
    "calls_survive_a_kill",
    "publish_is_noticed_across_replicas",
    "publish_over_rest",
]

NAMESPACE = "deploy"
TOOL = f"{NAMESPACE}.cube"
SOURCE = tool_source("cube", "x: int", "return x ** 3", "int", doc="Cube an integer.")
TESTS = [{"args": {"x": 2}, "expected": 8}, {"args": {"x": -3}, "expected": -27}]


@dataclass
class Topology:
    """Replicas reachable one by one, the proxy in front of them, a curator key, and a way to kill one."""

    replicas: list[str]
    proxy: str
    key: str
    kill: Callable[[int], None]


@dataclass
class LoadReport:
    """What ``calls_survive_a_kill`` saw: calls made, failures (with why), calls that began after the kill."""

    calls: int = 0
    errors: list[str] = field(default_factory=list)
    after_kill: int = 0
    killed: bool = False


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def publish_over_rest(base_url: str, key: str) -> dict[str, object]:
    """Publish and activate ``deploy.cube`` with ``POST /api/v1/tools`` (multipart); returns the outcome."""
    async with httpx.AsyncClient(timeout=120.0) as http:
        response = await http.post(
            f"{base_url}/api/v1/tools", headers=_auth(key),
            files={"file": ("cube.py", SOURCE.encode(), "text/x-python")},
            data={"tests": json.dumps(TESTS), "namespace": NAMESPACE, "activate": "true"})
    assert response.status_code == 201, response.text
    outcome: dict[str, object] = response.json()
    return outcome


async def publish_is_noticed_across_replicas(topology: Topology, *, publisher: int = 0, listener: int = 1) -> None:
    """Listen on replica ``listener``, publish through replica ``publisher``, get the notice, list the tool."""
    async with (
        connect(f"{topology.replicas[listener]}/mcp", key=topology.key) as client,
        client.listen(tools_list_changed=True) as subscription,
    ):
        assert TOOL not in names(await client.list_tools())
        outcome = await publish_over_rest(topology.replicas[publisher], topology.key)
        version = outcome["version"]
        assert isinstance(version, dict) and version["status"] == "active", outcome
        await next_event(subscription, timeout_s=60.0)
        assert TOOL in names(await client.list_tools())


async def call_through(base_url: str, key: str, x: int = 7) -> None:
    """Call ``deploy.cube(x)`` over MCP at ``base_url``; the result must be x**3."""
    async with connect(f"{base_url}/mcp", key=key) as client:
        result = await client.call_tool(TOOL, {"x": x})
    assert not result.is_error, result
    assert result.structured_content == {"result": x ** 3}


async def calls_survive_a_kill(topology: Topology, victim: int, *, clients: int = 4, kill_after: int = 12,
                               calls_after_kill: int = 40, max_calls: int = 600) -> LoadReport:
    """``clients`` MCP clients call through the proxy; after ``kill_after`` calls, replica ``victim`` is killed.

    The clients go on until ``calls_after_kill`` calls have begun after the kill (or ``max_calls`` in
    all), so the survivor's share does not depend on how long the kill takes.
    """
    report = LoadReport()
    kill_now = anyio.Event()
    enough = anyio.Event()

    async def caller(index: int) -> None:
        try:
            async with connect(f"{topology.proxy}/mcp", key=topology.key) as client:
                while not enough.is_set() and report.calls < max_calls:
                    x = index * 1000 + report.calls
                    report.calls += 1
                    if report.killed:
                        report.after_kill += 1
                        if report.after_kill >= calls_after_kill:
                            enough.set()
                    try:
                        result = await client.call_tool(TOOL, {"x": x})
                    except Exception as exc:  # any failure of a call is what this counts
                        report.errors.append(f"call {x}: {type(exc).__name__}: {exc}")
                        continue
                    if result.is_error or result.structured_content != {"result": x ** 3}:
                        report.errors.append(f"call {x}: {result}")
                    if report.calls >= kill_after:
                        kill_now.set()
        except Exception as exc:  # a client that could not connect or broke is an error too
            report.errors.append(f"client {index}: {type(exc).__name__}: {exc}")

    async def killer() -> None:
        await kill_now.wait()
        await anyio.to_thread.run_sync(topology.kill, victim)
        report.killed = True

    with anyio.fail_after(300):
        async with anyio.create_task_group() as group:
            group.start_soon(killer)
            async with anyio.create_task_group() as callers:
                for index in range(clients):
                    callers.start_soon(caller, index)
            kill_now.set()  # the callers ended early (errors): let the killer finish rather than hang
    return report
