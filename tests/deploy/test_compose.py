"""``docker-compose.yml`` brought up for real: PostgreSQL, the migration, two replicas, nginx, docker sandbox.

The images come from ``scripts/build-image.sh`` (which builds the base images from Debian packages
where nothing can be pulled; the Docker layer cache makes a second run cheap). The stack runs under a
project name of its own with ``tests/deploy/compose.test.yml`` on top (each replica also on an
ephemeral loopback port) and is torn down with ``down -v`` whatever happens. Then the scenario of
``tests.support.deploy``: publish over REST through one replica, the change notice on an MCP client of
the other, a call through nginx, and calls through nginx while the replica nginx routes to is killed.

Needs a Docker engine and docker-compose: skips, saying why, where they are missing, but fails under
CI or with ``DISTILLERY_TEST_COMPOSE=required`` (``scripts/dev.sh test`` sets it), where a skip would
hide a broken setup.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import COMPOSE_FILE, REPO_ROOT
from tests.support.deploy import Topology, call_through, calls_survive_a_kill, publish_is_noticed_across_replicas
from tests.support.serve import free_port

pytestmark = [pytest.mark.compose, pytest.mark.docker, pytest.mark.slow, pytest.mark.anyio,
              pytest.mark.timeout(1800)]

OVERRIDE = Path(__file__).with_name("compose.test.yml")
OWNER_LABEL = "distillery.sandbox.owner"
logger = logging.getLogger("distillery.tests.deploy")


def _unavailable(reason: str) -> None:
    if os.environ.get("DISTILLERY_TEST_COMPOSE") == "required" or os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the compose test must run here but cannot: {reason}")
    pytest.skip(reason)


def _run(args: list[str], *, timeout_s: float = 300.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    if check:
        assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _compose_cli() -> list[str]:
    if shutil.which("docker") and _run(["docker", "compose", "version"], check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    _unavailable("neither `docker compose` nor `docker-compose` is installed (scripts/dev.sh test installs it)")
    raise AssertionError("unreachable")


def _engine() -> None:
    if shutil.which("docker") is None:
        _unavailable("no docker CLI (scripts/docker-engine.sh installs docker.io)")
    if _run(["docker", "info"], check=False).returncode != 0:
        started = _run(["bash", "scripts/docker-engine.sh"], check=False)
        if _run(["docker", "info"], check=False).returncode != 0:
            _unavailable(f"no Docker engine: {(started.stdout + started.stderr).strip()}")


@dataclass
class Stack:
    """The running project: how to call compose, its containers, and the topology the scenario drives."""

    compose: Callable[..., subprocess.CompletedProcess[str]]
    replica_ids: list[str]
    replica_ips: list[str]
    proxy_id: str
    topology: Topology
    timings: dict[str, float]

    def proxy_log(self) -> list[str]:
        """nginx's access log so far (its stdout)."""
        return _run(["docker", "logs", self.proxy_id]).stdout.splitlines()

    def routed_to(self) -> int:
        """The replica nginx sends this host's requests to (affinity by client address)."""
        probe = uuid.uuid4().hex
        assert httpx.get(f"{self.topology.proxy}/health?probe={probe}", timeout=30).status_code == 200
        for _ in range(50):
            line = next((line for line in self.proxy_log() if probe in line), None)
            if line is not None:
                address = re.search(r"upstream=(\S+):8000", line)
                assert address is not None, line
                return self.replica_ips.index(address[1])
            time.sleep(0.1)
        raise AssertionError(f"the proxy logged no line for probe {probe}")


def _inspect(container: str, template: str) -> str:
    return _run(["docker", "inspect", "-f", template, container]).stdout.strip()


def _remove_sandbox_containers(hostnames: set[str]) -> None:
    """Remove the sandbox containers the replicas started on the engine (they are not compose's)."""
    listed = _run(["docker", "ps", "-a", "--filter", "label=distillery.sandbox=1", "--format",
                   f'{{{{.ID}}}} {{{{.Label "{OWNER_LABEL}"}}}}'], check=False).stdout.split("\n")
    ours = [line.split()[0] for line in listed if line.strip() and line.split()[-1].split(":")[0] in hostnames]
    if ours:
        _run(["docker", "rm", "-f", *ours], check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The compose project up (images built first), torn down with ``down -v`` afterwards."""
    _engine()
    cli = _compose_cli()
    timings: dict[str, float] = {}
    start = time.monotonic()
    built = _run(["bash", "scripts/build-image.sh"], timeout_s=1500, check=False)
    timings["build_s"] = time.monotonic() - start
    assert built.returncode == 0, f"scripts/build-image.sh failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"

    directory = tmp_path_factory.mktemp("compose")
    env_file = directory / "test.env"
    socket_gid = os.stat("/var/run/docker.sock").st_gid
    port = free_port()
    env_file.write_text(f"POSTGRES_PASSWORD={secrets.token_hex(16)}\nDOCKER_GID={socket_gid}\n"
                        f"DISTILLERY_PORT={port}\nDISTILLERY_BIND=127.0.0.1\nDISTILLERY_LOG_LEVEL=INFO\n")
    project = f"distillery-test-{uuid.uuid4().hex[:8]}"
    base = [*cli, "-p", project, "-f", str(COMPOSE_FILE), "-f", str(OVERRIDE), "--env-file", str(env_file)]

    def compose(*args: str, timeout_s: float = 300.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run([*base, *args], timeout_s=timeout_s, check=check)

    hostnames: set[str] = set()
    try:
        start = time.monotonic()
        compose("up", "-d", "--no-build", "--scale", "distillery=2", timeout_s=600)
        proxy_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{proxy_url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, compose("logs", "--tail", "50", check=False).stdout
            time.sleep(0.5)
        timings["up_s"] = time.monotonic() - start
        replica_ids = compose("ps", "-q", "distillery").stdout.split()
        assert len(replica_ids) == 2, replica_ids
        ips = [_inspect(cid, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}") for cid in replica_ids]
        direct = [f"http://{_run(['docker', 'port', cid, '8000/tcp']).stdout.split()[0]}" for cid in replica_ids]
        created = compose("exec", "-T", "distillery", "distillery", "keys", "create", "--name", "compose-test",
                          "--role", "curator")
        key = json.loads(created.stdout)["secret"]
        proxy_id = compose("ps", "-q", "proxy").stdout.strip()

        def kill(index: int) -> None:
            _run(["docker", "kill", replica_ids[index]])

        yield Stack(compose, replica_ids, ips, proxy_id, Topology(direct, proxy_url, key, kill), timings)
    finally:
        (directory / "compose.log").write_text(compose("logs", "--no-color", check=False).stdout)
        for cid in compose("ps", "-q", "distillery", check=False).stdout.split():
            hostnames.add(_run(["docker", "inspect", "-f", "{{.Config.Hostname}}", cid], check=False).stdout.strip())
        compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout_s=300, check=False)
        _remove_sandbox_containers(hostnames - {""})


@pytest.mark.xfail(raises=AssertionError, strict=False,
                   reason="known failure since bb0cf03 (sandbox lanes): inside the compose stack the docker sandbox "
                          "worker dies with exit 137 on the first call (WorkerLost); root cause open, see issue 10")
async def test_the_compose_stack_shares_changes_and_survives_a_replica_kill(stack: Stack) -> None:
    topology = stack.topology
    health = httpx.get(f"{topology.proxy}/health", timeout=10).json()
    assert health["database"]["backend"] == "postgresql" and health["sandbox"]["isolation"] == "docker"

    await publish_is_noticed_across_replicas(topology, publisher=0, listener=1)
    await call_through(topology.proxy, topology.key)
    for replica in topology.replicas:  # both sandboxes warm before the load
        await call_through(replica, topology.key)

    victim = stack.routed_to()
    survivor = 1 - victim
    logged = len(stack.proxy_log())
    report = await calls_survive_a_kill(topology, victim=victim)

    assert report.killed and report.errors == [], report.errors[:5]
    assert report.after_kill >= 40
    assert _inspect(stack.replica_ids[victim], "{{.State.Running}}") == "false"
    answered = [re.findall(r"(\d+\.\d+\.\d+\.\d+):8000", line)[-1] for line in stack.proxy_log()[logged:]
                if '"POST /mcp' in line and " 200 " in line]
    assert answered[-report.after_kill:] == [stack.replica_ips[survivor]] * report.after_kill
    metrics = httpx.get(f"{topology.proxy}/metrics", headers={"Authorization": f"Bearer {topology.key}"}, timeout=10)
    assert metrics.status_code == 200 and "distillery_registry_revision" in metrics.text
    logger.info("compose stack: image build %.1f s, bring-up %.1f s", stack.timings["build_s"], stack.timings["up_s"])
