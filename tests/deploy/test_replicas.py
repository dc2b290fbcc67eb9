"""The compose topology without containers: two ``distillery serve`` on one PostgreSQL database behind a proxy.

The same steps as ``docker-compose.yml`` takes: ``distillery db upgrade`` once, a curator key from
``distillery keys create``, two replicas with closed reads (as behind a real hostname), and the test
reverse proxy (``tests.support.proxy``) in front. Then the shared scenario of ``tests.support.deploy``:
a publish through replica A is noticed by an MCP listener on replica B, the tool answers through the
proxy, and calls through the proxy all succeed while replica A is killed.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import cli, postgres_schema_url
from tests.server.support import server_env
from tests.support.deploy import Topology, call_through, calls_survive_a_kill, publish_is_noticed_across_replicas
from tests.support.proxy import ReverseProxy
from tests.support.serve import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]


class Replicas:
    """The servers, the proxy in front of them, and the topology the scenario drives."""

    def __init__(self, servers: list[ServerProcess], proxy: ReverseProxy, key: str) -> None:
        self.servers = servers
        self.proxy = proxy
        self.topology = Topology(replicas=[s.url for s in servers], proxy=proxy.url, key=key, kill=self.kill)

    def kill(self, index: int) -> None:
        """SIGKILL replica ``index`` and everything in its process group (its sandbox workers)."""
        process = self.servers[index].process
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    """Two migrated replicas on a fresh PostgreSQL schema behind the test proxy."""
    with postgres_schema_url() as url:
        env = server_env(url, DISTILLERY_AUTH__OPEN_READS="false")
        cli(env, "db", "upgrade")  # what the compose file's one-shot `migrate` service runs
        key = json.loads(cli(env, "keys", "create", "--name", "deploy", "--role", "curator"))["secret"]
        servers: list[ServerProcess] = []
        proxy: ReverseProxy | None = None
        try:
            for label in "ab":
                servers.append(ServerProcess(server_env(url, DISTILLERY_AUTH__OPEN_READS="false"),
                                             tmp_path / f"{label}.log"))
            for server in servers:
                server.wait_ready()
            proxy = ReverseProxy([server.url for server in servers]).start()
            yield Replicas(servers, proxy, key)
        finally:
            if proxy is not None:
                proxy.stop()
            for server in servers:
                server.stop()


async def test_two_replicas_behind_a_proxy_share_changes_and_survive_a_kill(replicas: Replicas) -> None:
    topology = replicas.topology
    await publish_is_noticed_across_replicas(topology, publisher=0, listener=1)
    await call_through(topology.proxy, topology.key)
    await call_through(topology.replicas[1], topology.key)
    assert set(replicas.proxy.served) == set(topology.replicas)  # round robin reached both

    survivor_before = replicas.proxy.served[topology.replicas[1]]
    report = await calls_survive_a_kill(topology, victim=0)

    assert report.killed and report.errors == [], report.errors[:5]
    assert report.after_kill >= 40
    assert replicas.servers[0].process.poll() is not None
    assert replicas.proxy.failed[topology.replicas[0]] >= 1  # the proxy met the dead replica and moved on
    assert replicas.proxy.served[topology.replicas[1]] - survivor_before >= report.after_kill
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{topology.replicas[0]}/health", timeout=5)
    assert httpx.get(f"{topology.proxy}/health", timeout=10).status_code == 200
