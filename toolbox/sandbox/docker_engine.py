"""The Docker engine side of the docker backend: connecting, probing, and removing stale sandbox containers.

Sandbox containers carry the label ``distillery.sandbox=1`` and their owner (host, pid, process
start time): ``remove_stale_containers`` removes those whose owner is gone.
"""

from __future__ import annotations

import gc
import os
import socket
import warnings
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from toolbox.logging import get_logger

__all__ = ["LABEL", "NAME_PREFIX", "OWNER_LABEL", "POOL_LABEL", "connect_engine", "owner", "probe", "remove",
           "remove_stale_containers"]

LABEL = "distillery.sandbox"
OWNER_LABEL = "distillery.sandbox.owner"
POOL_LABEL = "distillery.sandbox.pool"
NAME_PREFIX = "distillery-sbx-"

_log = get_logger("sandbox.docker")


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()[19].decode()


def owner() -> str:
    """This process as a container owner label: host, pid and process start time."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid()) or '?'}"


def remove(client: Any, container_id: str) -> None:
    """Force-remove a container; gone already, or being removed by another thread, is fine."""
    try:
        client.api.remove_container(container_id, force=True)
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code != 409:  # 409: "removal of container ... is already in progress"
            raise


def remove_stale_containers(client: Any) -> int:
    """Remove sandbox containers whose owning process (on this host) no longer exists; returns how many."""
    removed = 0
    host = socket.gethostname()
    for container in client.api.containers(all=True, filters={"label": f"{LABEL}=1"}):
        owner = str((container.get("Labels") or {}).get(OWNER_LABEL, "")).split(":")
        if len(owner) != 3 or owner[0] != host:
            continue  # another host's sandbox sharing this engine: not ours to judge
        alive = owner[1].isdigit() and _start_ticks(int(owner[1])) == owner[2]
        if not alive:
            try:
                remove(client, container["Id"])
                removed += 1
            except DockerException as exc:
                _log.warning("could not remove stale sandbox container %s: %s", container.get("Names"), exc)
    if removed:
        _log.info("removed %d stale sandbox container(s)", removed)
    return removed


def connect_engine(timeout_s: float = 30.0) -> Any:
    """A ``docker.DockerClient`` from the environment (DOCKER_HOST etc.) that has answered a ping.

    Raises ``DockerException`` when no engine answers, without leaking the half-open
    connection the SDK leaves behind (a ``ResourceWarning`` at the next garbage collection).
    """
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
        return client
    except (DockerException, OSError) as exc:
        message = str(exc)  # drop the traceback: its frames hold the SDK's half-open socket
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    raise DockerException(message)


def probe() -> tuple[bool, str]:
    """Whether a Docker engine answers here (for ``distillery doctor``), with a detail line."""
    try:
        client = connect_engine(5)
    except (DockerException, OSError) as exc:
        return False, f"no Docker engine reachable: {exc}"
    try:
        version = client.version()
        return True, f"Docker engine {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) at " \
                     f"{client.api.base_url}"
    except (DockerException, OSError) as exc:
        return False, f"the Docker engine does not answer: {exc}"
    finally:
        client.close()
