"""The docker sandbox backend: a pool of warm containers, each running the sandbox worker.

Every container runs ``_worker.py`` (through the image's ``boot.py``) as a leased uid of its own with no
network, a read-only root, a size-limited tmpfs ``/tmp``, memory/CPU/pids limits, no
capabilities and ``no-new-privileges``; ``tini`` (``init=True``) is pid 1. The worker forks a
fresh child per call and applies the call's rlimits there, so containers stay warm across calls
without sharing state. The host talks to the worker over the Docker API's attach socket
(stdin in, multiplexed stdout/stderr out), one request line and one response line per call. The
worker runs with ``--announce-ready``: it answers before cleaning up after the call, then prints
``{"ready": true}`` once it has killed the call's processes, emptied ``/tmp`` and pre-forked the
next call's child; a short-lived background thread waits for that line, off the caller's
critical path, and only then puts the container back in the pool.

The constructor only connects to the engine; ``start()`` (or the first call) builds the image
when needed, removes stale containers and starts the pool.

A worker that dies or stops answering is killed *through the API* (killing a ``docker run``
client would leave the container running), the call returns ``WorkerLost``/``Timeout``, and a
replacement starts in the background. Containers carry the label ``distillery.sandbox=1`` and
their owner (host, pid, process start time): a new sandbox removes those whose owner is gone.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import threading
import time
import uuid
import warnings
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound

from toolbox.errors import IsolationUnavailable, SandboxError
from toolbox.logging import get_logger
from toolbox.sandbox.base import IsolationLevel, Limits, RunResult, ToolFailure
from toolbox.sandbox.docker_image import IMAGE_PYTHON, IMAGE_WORKER, ensure_image
from toolbox.sandbox.pool import is_ready_line
from toolbox.sandbox.uids import UidLease, lease_uid
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

__all__ = [
    "LABEL", "NAME_PREFIX", "OWNER_LABEL", "POOL_LABEL", "DockerSandbox", "connect_engine", "probe",
    "remove_stale_containers",
]

LABEL = "distillery.sandbox"
OWNER_LABEL = "distillery.sandbox.owner"
POOL_LABEL = "distillery.sandbox.pool"
NAME_PREFIX = "distillery-sbx-"
MEMORY_HEADROOM_MB = 128  # the warm worker with numpy/scipy/sympy loaded is ~65 MiB resident
PIDS_HEADROOM = 8  # tini, the worker and the call's own process
GRACE_S = 6.0  # beyond timeout_s: the worker's own kill + clean-up of leftovers (3 s budget)
START_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 30.0  # the worker's clean-up after a call (3 s of kill budget + file deletion)
ENV = {"PATH": "/opt/python/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
STDERR_TAIL = 4096

_log = get_logger("sandbox.docker")


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()[19].decode()


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid()) or '?'}"


def _remove(client: Any, container_id: str) -> None:
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
                _remove(client, container["Id"])
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


class _Worker:
    """One warm container and the attach socket to its worker's stdin/stdout/stderr."""

    def __init__(self, container: Any, sock: Any, memory_mb: int, lease: UidLease) -> None:
        self.container = container
        self.lease = lease
        self.name = str(container.name)
        self.memory_mb = memory_mb
        self._sock_io = sock  # keeps the HTTP response (and so the connection) alive
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._raw = bytearray()
        self._out = bytearray()
        self.stderr_tail = ""

    def send(self, data: bytes) -> None:
        """Write ``data`` to the worker's stdin."""
        self._sock.settimeout(30.0)
        self._sock.sendall(data)

    def _demux(self) -> None:
        raw = self._raw
        while len(raw) >= 8:
            size = int.from_bytes(raw[4:8], "big")
            if len(raw) < 8 + size:
                return
            stream, payload = raw[0], bytes(raw[8:8 + size])
            del raw[:8 + size]
            if stream == 1:
                self._out += payload
            elif stream == 2:
                text = payload.decode("utf-8", "replace")
                self.stderr_tail = (self.stderr_tail + text)[-STDERR_TAIL:]
                _log.debug("worker %s stderr: %s", self.name, text.rstrip())

    def pop_line(self) -> bytes | None:
        """A complete buffered stdout line, or None."""
        end = self._out.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._out[:end])
        del self._out[:end + 1]
        return line

    def read_line(self, deadline: float) -> bytes | None:
        """The worker's next stdout line; None at EOF; TimeoutError when ``deadline`` passes."""
        while True:
            line = self.pop_line()
            if line is not None:
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(1 << 16)
            except TimeoutError:
                raise
            except OSError:
                return None
            if not chunk:
                return None
            self._raw += chunk
            self._demux()

    def exit_detail(self) -> str:
        """How the container ended (exit code, OOM kill), best effort."""
        try:
            self.container.reload()
            state = self.container.attrs.get("State", {})
        except DockerException:
            return "its container is gone"
        detail = f"container status {state.get('Status', '?')}, exit code {state.get('ExitCode', '?')}"
        if state.get("OOMKilled"):
            detail += ", killed by the container's memory limit"
        return detail

    def destroy(self) -> None:
        """Kill and remove the container through the API, and drop the socket."""
        with contextlib.suppress(OSError):  # wakes a thread blocked reading it (close() alone does not)
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):  # the SocketIO holds an io-ref: close it too, or the fd lingers
            self._sock_io.close()
        with contextlib.suppress(OSError):
            self._sock.close()
        try:
            _remove(self.container.client, self.container.id)
        except DockerException as exc:
            _log.warning("could not remove sandbox container %s: %s", self.name, exc)
        else:
            self.lease.release()  # only once nothing runs as its uid any more


class DockerSandbox:
    """A pool of ``settings.workers`` warm containers; ``run`` is thread-safe and blocks."""

    def __init__(self, settings: SandboxSettings, client: Any | None = None) -> None:
        self._settings = settings
        self._limits = Limits.from_settings(settings)
        try:
            self._client = client if client is not None else connect_engine()
            self._client.ping()
        except (DockerException, OSError) as exc:
            raise IsolationUnavailable(
                f"the docker sandbox needs a running Docker engine ({exc}); start one with "
                "scripts/docker-engine.sh or use DISTILLERY_SANDBOX__BACKEND=process") from exc
        self._image = ""
        self._owner = _owner()
        self._pool_id = uuid.uuid4().hex[:12]
        self._tmpfs_mb = max(32, 4 * settings.max_file_size_mb)
        self._cond = threading.Condition()
        self._start_lock = threading.Lock()
        self._started = False
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self._spawning = 0
        self._threads: set[threading.Thread] = set()
        self._last_error = ""
        self._closed = False

    def start(self) -> None:
        """Build the image if needed, remove stale containers and start the pool; returns once it serves.

        Idempotent and thread-safe. Raises ``SandboxError`` when no container could be started.
        """
        with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise SandboxError("the docker sandbox is closed")
            self._image = ensure_image(self._client, self._settings)
            remove_stale_containers(self._client)
            with self._cond:
                self._started = True
                self._fill()
                while len(self._live) < self._settings.workers and self._spawning:
                    self._cond.wait(1.0)
                error = "" if self._live else self._last_error
        if error:
            raise SandboxError(f"no sandbox container could be started: {error}")

    @property
    def image(self) -> str:
        """The tag of the image the containers run (empty before ``start``)."""
        return self._image

    @property
    def isolation(self) -> IsolationLevel:
        """Always ``docker``."""
        return "docker"

    # ------------------------------------------------------------------------------- the pool

    def _container_options(self, memory_mb: int, uid: int) -> dict[str, Any]:
        s = self._settings
        return {
            "command": [IMAGE_PYTHON, "-I", IMAGE_WORKER, "--preload", ",".join(s.preload_modules),
                        "--pidns", "--private-tmp", "--announce-ready"],
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

    def _spawn(self) -> _Worker:
        memory_mb = self._settings.memory_mb + MEMORY_HEADROOM_MB + self._tmpfs_mb
        lease = lease_uid(self._settings.run_as_uid)
        try:
            container = self._client.containers.create(self._image, **self._container_options(memory_mb, lease.uid))
        except BaseException:
            lease.release()
            raise
        worker: _Worker | None = None
        try:
            sock = self._client.api.attach_socket(
                container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            worker = _Worker(container, sock, memory_mb, lease)
            container.start()
            line = worker.read_line(time.monotonic() + START_TIMEOUT_S)
            ready = json.loads(line) if line else {}
            if not (isinstance(ready, dict) and ready.get("ready") is True):
                raise SandboxError(f"the sandbox worker did not start ({worker.exit_detail()}): "
                                   f"{(line or b'').decode(errors='replace')[:200]} {worker.stderr_tail[-800:]}")
            if ready.get("announce_ready") is not True:
                raise SandboxError(f"the sandbox worker in image {self._image} does not speak the announce-ready "
                                   f"protocol: {ready!r}")
            if ready.get("preload_failed"):
                _log.warning("sandbox worker could not preload: %s", ready["preload_failed"])
            return worker
        except BaseException:
            if worker is not None:
                worker.destroy()
            else:
                container.remove(force=True)
                lease.release()
            raise

    def _background(self, target: Any, name: str) -> None:
        """Run ``target`` in a daemon thread that ``close`` waits for."""

        def body() -> None:
            try:
                target()
            finally:
                with self._cond:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=body, name=name, daemon=True)
        with self._cond:
            self._threads.add(thread)
        thread.start()

    def _fill(self) -> None:
        """Start spawner threads until live + starting workers reach the configured count."""
        with self._cond:
            while not self._closed and len(self._live) + self._spawning < self._settings.workers:
                self._spawning += 1
                self._background(self._spawn_one, "docker-sandbox-spawn")

    def _spawn_one(self) -> None:
        worker: _Worker | None = None
        error = ""
        try:
            worker = self._spawn()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            _log.error("could not start a sandbox container: %s", error)
        with self._cond:
            self._spawning -= 1
            if worker is not None and not self._closed:
                self._live.add(worker)
                self._idle.append(worker)
                worker = None
            elif error:
                self._last_error = error
            self._cond.notify_all()
        if worker is not None:  # closed while starting
            worker.destroy()

    def _acquire(self, timeout: float) -> _Worker:
        end = time.monotonic() + timeout
        retried = False
        with self._cond:
            while not self._idle:
                if self._closed:
                    raise SandboxError("the docker sandbox is closed")
                if not self._live and not self._spawning:
                    if retried:
                        raise SandboxError(f"no sandbox container could be started: {self._last_error}")
                    retried = True
                    self._fill()  # the condition's lock is re-entrant
                    continue
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise SandboxError(f"no sandbox container became free within {timeout:.0f} s")
                self._cond.wait(min(remaining, 1.0))
            return self._idle.pop()

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if self._closed or worker not in self._live:
                closed = True
            else:
                closed = False
                self._idle.append(worker)
                self._cond.notify()
        if closed:
            worker.destroy()

    def _await_ready(self, worker: _Worker) -> None:
        """After a call (background): back to the pool on the worker's ``{"ready": true}``, else replace it."""
        why = ""
        try:
            line = worker.read_line(time.monotonic() + READY_TIMEOUT_S)
        except TimeoutError:
            line, why = None, f"did not finish cleaning up within {READY_TIMEOUT_S:.0f} s"
        except OSError as exc:  # its socket was closed under it (close())
            line, why = None, f"lost its socket: {exc}"
        if why == "" and line is not None and is_ready_line(line):
            self._release(worker)
            return
        if not self._closed:
            why = why or (f"sent {line[:200]!r} instead of its ready line" if line is not None
                          else f"exited while cleaning up after a call ({worker.exit_detail()})")
            _log.warning("sandbox container %s %s; replacing it %s", worker.name, why, worker.stderr_tail[-500:])
        self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker's container and start a replacement, both in the background."""
        with self._cond:
            if worker not in self._live:  # close() took it, or it was discarded already
                return
            self._live.discard(worker)
        self._background(worker.destroy, "docker-sandbox-kill")
        self._fill()

    # -------------------------------------------------------------------------------- calls

    def run(self, spec: ToolSpec, args: dict[str, Any], limits: Limits | None = None) -> RunResult:
        """Call ``spec.entrypoint(**args)`` in a warm container and return what happened."""
        limits = limits or self._limits
        if not self._started:
            self.start()
        worker = self._acquire(limits.timeout_s + START_TIMEOUT_S)
        request = {"id": uuid.uuid4().hex, "source": spec.source, "entrypoint": spec.entrypoint,
                   "tool_name": spec.name, "args": args, "limits": limits.model_dump()}
        start = time.monotonic()
        try:
            data = (json.dumps(request, ensure_ascii=False, allow_nan=False) + "\n").encode()
        except (TypeError, ValueError) as exc:
            self._release(worker)
            return self._failed("ArgumentsNotJSON", f"the arguments are not JSON: {exc}", 0.0)
        try:
            self._fit(worker, limits)
            worker.send(data)
            line = worker.read_line(start + limits.timeout_s + GRACE_S)
        except TimeoutError:
            self._discard(worker)
            return self._failed("Timeout", f"the call ran longer than {limits.timeout_s} s and the sandbox did "
                                "not answer; its container was killed and is being replaced", start)
        except (OSError, DockerException) as exc:
            self._discard(worker)
            return self._failed("WorkerLost", f"lost the sandbox container during the call: {exc}", start)
        except BaseException:
            self._discard(worker)
            raise
        response = self._parse(line)
        if response is None or response.get("id") != request["id"]:
            detail = worker.exit_detail()
            self._discard(worker)
            return self._failed("WorkerLost", f"the sandbox worker died during the call ({detail}); "
                                "it is being replaced", start)
        if response.get("recycle"):
            self._discard(worker)
        else:  # back in the pool once it has cleaned up
            self._background(lambda: self._await_ready(worker), "docker-sandbox-ready")
        return self._result(response)

    def _fit(self, worker: _Worker, limits: Limits) -> None:
        """Raise the container's memory limit when a call asks for more than it was started with."""
        need = limits.memory_mb + MEMORY_HEADROOM_MB + self._tmpfs_mb
        if need > worker.memory_mb:
            worker.container.update(mem_limit=f"{need}m", memswap_limit=f"{need}m")
            worker.memory_mb = need

    @staticmethod
    def _parse(line: bytes | None) -> dict[str, Any] | None:
        if not line:
            return None
        try:
            data = json.loads(line)
        except ValueError:
            return None
        return data if isinstance(data, dict) and isinstance(data.get("ok"), bool) else None

    @staticmethod
    def _failed(kind: str, message: str, start: float) -> RunResult:
        duration = (time.monotonic() - start) * 1000.0 if start else 0.0
        return RunResult(ok=False, error=ToolFailure(type=kind, message=message), duration_ms=duration,
                         isolation="docker")

    @staticmethod
    def _result(resp: dict[str, Any]) -> RunResult:
        error = resp.get("error")
        failure = ToolFailure(**{k: str(error.get(k, "")) for k in ("type", "message", "traceback")}) \
            if isinstance(error, dict) else None
        ok = bool(resp.get("ok")) and failure is None
        peak = resp.get("peak_memory_bytes")
        return RunResult(
            ok=ok, value=resp.get("value") if ok else None, error=failure,
            stdout=str(resp.get("stdout") or ""), stderr=str(resp.get("stderr") or ""),
            truncated=bool(resp.get("truncated")), duration_ms=float(resp.get("duration_ms") or 0.0),
            peak_memory_bytes=int(peak) if isinstance(peak, int | float) else None, isolation="docker",
        )

    # ------------------------------------------------------------------------------ shutdown

    def container_names(self) -> list[str]:
        """Names of the containers this sandbox currently holds (for tests and diagnostics)."""
        with self._cond:
            return sorted(w.name for w in self._live)

    def close(self) -> None:
        """Kill and remove every container of this sandbox; later calls raise SandboxError."""
        with self._cond:
            self._closed = True
            workers = list(self._live)
            self._live.clear()
            self._idle.clear()
            threads = list(self._threads)
            self._cond.notify_all()
        for worker in workers:
            worker.destroy()
        for thread in threads:
            thread.join(timeout=START_TIMEOUT_S)
        mine = {"label": f"{POOL_LABEL}={self._pool_id}"}
        end = time.monotonic() + 10.0
        try:  # anything of this pool's a lost race left behind; wait for removals still in progress
            while left := self._client.api.containers(all=True, filters=mine):
                if time.monotonic() > end:
                    _log.warning("sandbox containers still present after close: %s", [c["Names"] for c in left])
                    break
                for container in left:
                    _remove(self._client, container["Id"])
                time.sleep(0.05)
        except DockerException as exc:
            _log.warning("could not remove this sandbox's containers at close: %s", exc)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
