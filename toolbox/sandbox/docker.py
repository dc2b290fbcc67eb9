"""The docker sandbox backend: warm containers, each running the sandbox call worker, in a ``WorkerPool``.

Every container runs the worker package (through the image's ``boot.py``) as a leased uid of its
own with no network, a read-only root, a size-limited tmpfs ``/tmp``, memory/CPU/pids limits, no
capabilities and ``no-new-privileges``; ``tini`` (``init=True``) is pid 1. The worker forks a
fresh child per call and applies the call's rlimits there, so containers stay warm across calls
without sharing state. The host speaks the same protocol as with the process backend
(``client.WorkerClient``) over the Docker API's attach socket (stdin in, multiplexed stdout/stderr
out); lanes, routing, cancelling and replacement are the pool's, shared with the process backend.

The constructor only connects to the engine; ``start()`` (or the first call) builds the image when
needed, removes stale containers and starts the pool. A worker that dies or stops answering is
killed *through the API* (killing a ``docker run`` client would leave the container running), the
call returns ``WorkerLost``/``Timeout``, and a replacement starts in the background.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from typing import Any

from docker.errors import DockerException

from toolbox.errors import IsolationUnavailable, SandboxError
from toolbox.logging import get_logger
from toolbox.sandbox.base import CancelToken, IsolationLevel, Limits, RunResult
from toolbox.sandbox.client import WorkerClient
from toolbox.sandbox.docker_engine import (
    LABEL,
    NAME_PREFIX,
    OWNER_LABEL,
    POOL_LABEL,
    connect_engine,
    owner,
    probe,
    remove,
    remove_stale_containers,
)
from toolbox.sandbox.docker_image import IMAGE_PYTHON, IMAGE_WORKER, ensure_image
from toolbox.sandbox.lanes import plan_lanes
from toolbox.sandbox.pool import PooledWorker, PoolStats, WorkerPool
from toolbox.sandbox.uids import UidLease, lease_uid
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

__all__ = [
    "LABEL", "NAME_PREFIX", "OWNER_LABEL", "POOL_LABEL", "DockerSandbox", "connect_engine", "probe",
    "remove_stale_containers",
]

MEMORY_HEADROOM_MB = 128  # the warm worker with numpy/scipy/sympy loaded is ~65 MiB resident
PIDS_HEADROOM = 8  # tini, the worker and the call's own process
START_TIMEOUT_S = 60.0
ENV = {"PATH": "/opt/python/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
STDERR_TAIL = 4096

_log = get_logger("sandbox.docker")


class AttachTransport:
    """A container's attach socket: stdin in, the multiplexed stdout/stderr stream (8-byte headers) out."""

    def __init__(self, sock: Any, name: str) -> None:
        self._sock_io = sock  # keeps the HTTP response (and so the connection) alive
        self.sock: socket.socket = getattr(sock, "_sock", sock)
        self.sock.settimeout(None)
        self._raw = bytearray()
        self._name = name
        self.stderr_tail = ""

    def fileno(self) -> int:
        """The socket (readable when the container wrote something)."""
        return self.sock.fileno()

    def write(self, data: bytes) -> None:
        """Write ``data`` to the worker's stdin."""
        self.sock.sendall(data)

    def read(self) -> bytes | None:
        """The stdout bytes of what arrived (stderr is kept as ``stderr_tail``); None at EOF."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            return None
        raw = self._raw
        raw += chunk
        out = bytearray()
        while len(raw) >= 8:
            size = int.from_bytes(raw[4:8], "big")
            if len(raw) < 8 + size:
                break
            stream, payload = raw[0], bytes(raw[8:8 + size])
            del raw[:8 + size]
            if stream == 1:
                out += payload
            elif stream == 2:
                text = payload.decode("utf-8", "replace")
                self.stderr_tail = (self.stderr_tail + text)[-STDERR_TAIL:]
                _log.debug("worker %s stderr: %s", self._name, text.rstrip())
        return bytes(out)

    def close(self) -> None:
        """Drop the connection (wakes a thread blocked reading it)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):  # the SocketIO holds an io-ref: close it too, or the fd lingers
            self._sock_io.close()
        with contextlib.suppress(OSError):
            self.sock.close()


class ContainerWorker(PooledWorker):
    """One warm container and its worker."""

    def __init__(self, container: Any, transport: AttachTransport, memory_mb: int, lease: UidLease, *,
                 lane: str, slot: int, tmpfs_mb: int) -> None:
        super().__init__(WorkerClient(transport), lane=lane, slot=slot, uid=lease.uid)
        self.container = container
        self.transport = transport
        self.lease = lease
        self.name = str(container.name)
        self.memory_mb = memory_mb
        self.tmpfs_mb = tmpfs_mb
        self._memory_lock = threading.Lock()
        self._destroyed = False

    def prepare(self, limits: Limits) -> None:
        """Raise the container's memory limit when a call asks for more than it was started with."""
        need = limits.memory_mb + MEMORY_HEADROOM_MB + self.tmpfs_mb
        with self._memory_lock:
            if need > self.memory_mb:
                self.container.update(mem_limit=f"{need}m", memswap_limit=f"{need}m")
                self.memory_mb = need

    def exit_detail(self) -> str:
        """How the container ended (exit code, OOM kill), best effort."""
        try:
            self.container.reload()
            state = self.container.attrs.get("State", {})
        except DockerException:
            return "; its container is gone"
        detail = f"; container status {state.get('Status', '?')}, exit code {state.get('ExitCode', '?')}"
        if state.get("OOMKilled"):
            detail += ", killed by the container's memory limit"
        return detail + (f" {self.transport.stderr_tail[-500:]}" if self.transport.stderr_tail else "")

    def kill(self) -> None:
        """Kill and remove the container through the API, and drop the socket."""
        if self._destroyed:
            return
        self._destroyed = True
        self.transport.close()
        try:
            remove(self.container.client, self.container.id)
        except DockerException as exc:
            _log.warning("could not remove sandbox container %s: %s", self.name, exc)
        else:
            self.lease.release()  # only once nothing runs as its uid any more


def _tmpfs_mb(max_file_size_mb: int) -> int:
    return max(32, 4 * max_file_size_mb)


class DockerSandbox:
    """A pool of ``settings.workers`` warm containers per lane; ``run`` is thread-safe and blocks."""

    def __init__(self, settings: SandboxSettings, client: Any | None = None) -> None:
        self._settings = settings
        try:
            self._client = client if client is not None else connect_engine()
            self._client.ping()
        except (DockerException, OSError) as exc:
            raise IsolationUnavailable(
                f"the docker sandbox needs a running Docker engine ({exc}); start one with "
                "scripts/docker-engine.sh or use DISTILLERY_SANDBOX__BACKEND=process") from exc
        self._image = ""
        self._owner = owner()
        self._pool_id = uuid.uuid4().hex[:12]
        self._tmpfs_mb = _tmpfs_mb(settings.max_file_size_mb)
        self._preloads = plan_lanes(settings)
        self._start_lock = threading.Lock()
        self._pool = WorkerPool(isolation="docker", lanes=self._preloads, workers=settings.workers,
                                spawn=self._spawn, limits=Limits.from_settings(settings))

    def start(self) -> None:
        """Build the image if needed, remove stale containers and start the pool; returns once it serves.

        Idempotent and thread-safe. Raises ``SandboxError`` when the containers could not be started.
        """
        with self._start_lock:
            if self._pool.started:
                return
            if self._pool.closed:
                raise SandboxError("the docker sandbox is closed")
            self._image = ensure_image(self._client, self._settings)
            remove_stale_containers(self._client)
            self._pool.start()

    @property
    def image(self) -> str:
        """The tag of the image the containers run (empty before ``start``)."""
        return self._image

    @property
    def isolation(self) -> IsolationLevel:
        """Always ``docker``."""
        return "docker"

    def run(self, spec: ToolSpec, args: dict[str, Any], limits: Limits | None = None, *,
            cancel: CancelToken | None = None) -> RunResult:
        """Call ``spec.entrypoint(**args)`` in a warm container and return what happened."""
        if not self._pool.started:
            self.start()
        return self._pool.run(spec, args, limits, cancel=cancel)

    def stats(self) -> PoolStats:
        """A snapshot of the pool's counters."""
        return self._pool.stats()

    def container_names(self) -> list[str]:
        """Names of the containers this sandbox currently holds (for tests and diagnostics)."""
        return sorted(w.name for w in self._pool.live_workers() if isinstance(w, ContainerWorker))

    # ------------------------------------------------------------------------------- containers

    def _container_options(self, lane: str, memory_mb: int, uid: int) -> dict[str, Any]:
        s = self._settings
        return {
            "command": [IMAGE_PYTHON, "-I", IMAGE_WORKER, "call", "--preload", ",".join(self._preloads[lane]),
                        "--pidns", "--private-tmp"],
            "name": f"{NAME_PREFIX}{uuid.uuid4().hex[:12]}",
            "labels": {LABEL: "1", OWNER_LABEL: self._owner, POOL_LABEL: self._pool_id},
            "stdin_open": True, "tty": False, "detach": True, "init": True,
            "user": f"{uid}:{uid}", "working_dir": "/tmp", "environment": dict(ENV), "hostname": "sandbox",
            "network_mode": "none", "ipc_mode": "none", "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self._tmpfs_mb}m,mode=1777"},
            "mem_limit": f"{memory_mb}m", "memswap_limit": f"{memory_mb}m",
            "nano_cpus": int(s.docker_cpus * 1e9), "pids_limit": s.max_processes + PIDS_HEADROOM,
            "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"],
            "log_config": {"type": "none", "config": {}},
        }

    def _spawn(self, lane: str, slot: int) -> ContainerWorker:
        memory_mb = self._settings.memory_mb + MEMORY_HEADROOM_MB + self._tmpfs_mb
        lease = lease_uid(self._settings.run_as_uid)
        try:
            container = self._client.containers.create(self._image,
                                                       **self._container_options(lane, memory_mb, lease.uid))
        except BaseException:
            lease.release()
            raise
        worker: ContainerWorker | None = None
        try:
            sock = self._client.api.attach_socket(
                container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            worker = ContainerWorker(container, AttachTransport(sock, str(container.name)), memory_mb, lease,
                                     lane=lane, slot=slot, tmpfs_mb=self._tmpfs_mb)
            container.start()
            try:
                worker.client.wait_started(START_TIMEOUT_S)
            except SandboxError as exc:
                raise SandboxError(f"the sandbox worker in image {self._image} did not start ({exc}"
                                   f"{worker.exit_detail()})") from exc
            return worker
        except BaseException:
            if worker is not None:
                worker.kill()
            else:
                container.remove(force=True)
                lease.release()
            raise

    # ------------------------------------------------------------------------------ shutdown

    def close(self) -> None:
        """Kill and remove every container of this sandbox; later calls raise SandboxError."""
        with self._start_lock:
            self._pool.close()
        mine = {"label": f"{POOL_LABEL}={self._pool_id}"}
        end = time.monotonic() + 10.0
        try:  # anything of this pool's a lost race left behind; wait for removals still in progress
            while left := self._client.api.containers(all=True, filters=mine):
                if time.monotonic() > end:
                    _log.warning("sandbox containers still present after close: %s", [c["Names"] for c in left])
                    break
                for container in left:
                    remove(self._client, container["Id"])
                time.sleep(0.05)
        except DockerException as exc:
            _log.warning("could not remove this sandbox's containers at close: %s", exc)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
