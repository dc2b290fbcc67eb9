"""``ProcessSandbox``: warm sandboxed worker processes (``pool.WorkerPool``); each call runs in a fresh forked child.

Each worker is ``worker/boot.py call`` inside bubblewrap (or unshare, or nothing, when chosen),
talking frames over its stdin and stdout pipes. There are two lanes of ``settings.workers`` workers
each (``lanes.py``): ``lean`` workers preload only standard-library modules and fork cheaply, ``full``
workers preload numpy, scipy and sympy; a call goes to the lane its tool's imports need.

Limits semantics: ``memory_mb`` is the address space a call may add ON TOP of its worker's baseline
(Python plus that lane's preloads; about 270 MB of mostly shared, read-only mappings for ``full``);
``cpu_s`` is CPU seconds of the call's own process; ``timeout_s`` is wall-clock time for the call and
everything it spawned; ``max_processes`` counts processes and threads of the call's uid.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import weakref
from typing import IO, Any, cast

from toolbox.errors import SandboxError
from toolbox.logging import get_logger
from toolbox.sandbox.base import CancelToken, IsolationLevel, Limits, RunResult
from toolbox.sandbox.client import WorkerClient
from toolbox.sandbox.isolation import LaunchPlan, plan_launch, worker_env
from toolbox.sandbox.lanes import plan_lanes
from toolbox.sandbox.pool import PooledWorker, PoolStats, WorkerPool
from toolbox.sandbox.procs import file_tail, kill_uid
from toolbox.sandbox.uids import UidLease, lease_uid
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

__all__ = ["PipeTransport", "PoolStats", "ProcessSandbox", "ProcessWorker"]

log = get_logger("sandbox")


class PipeTransport:
    """A worker's stdin and stdout pipes."""

    def __init__(self, stdin_fd: int, stdout_fd: int) -> None:
        self._in, self._out = stdin_fd, stdout_fd

    def fileno(self) -> int:
        """The worker's stdout."""
        return self._out

    def write(self, data: bytes) -> None:
        """Write all of ``data`` to the worker's stdin."""
        view = memoryview(data)
        while view:
            view = view[os.write(self._in, view):]

    def read(self) -> bytes | None:
        """What the worker's stdout has; None at EOF."""
        return os.read(self._out, 1 << 16) or None


class ProcessWorker(PooledWorker):
    """One worker process (bwrap, unshare or python at the top) and the uid its calls run as."""

    def __init__(self, argv: list[str], *, lane: str, slot: int, lease: UidLease | None) -> None:
        self._lease = lease
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in kill)
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                      env=worker_env(), start_new_session=True, close_fds=True, bufsize=0)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        client = WorkerClient(PipeTransport(self._proc.stdin.fileno(), self._proc.stdout.fileno()))
        super().__init__(client, lane=lane, slot=slot, uid=lease.uid if lease else None)

    @property
    def pid(self) -> int:
        """The host pid of the outermost process (bwrap, unshare or python)."""
        return self._proc.pid

    def wait_started(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the first ready frame; raises ``SandboxError`` with the worker's stderr when it fails."""
        try:
            return self.client.wait_started(timeout_s)
        except SandboxError as exc:
            self.kill()
            raise SandboxError(f"sandbox worker failed to start: {exc}; stderr: {self.stderr_tail()!r}") from exc

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what the worker wrote on stderr (bwrap and Python errors)."""
        return file_tail(self._stderr, limit)

    def exit_detail(self) -> str:
        """The exit code and the end of stderr, once it has exited."""
        code = self._proc.poll()
        return "" if code is None else f"; exit code {code}: {self.stderr_tail(500)!r}"

    def kill(self) -> None:
        """Kill the worker's process group and, when calls drop privileges, every process of its uid."""
        with contextlib.suppress(OSError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        if self.uid is not None:
            kill_uid(self.uid)
        if self._lease is not None:
            self._lease.release()
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        """Ask the worker to exit (EOF on stdin), then make sure it has."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


def _spawn(plan: LaunchPlan, preloads: dict[str, tuple[str, ...]], start_timeout_s: float, lane: str,
           slot: int) -> ProcessWorker:
    """Start one worker of ``lane`` (with a uid of its own when root) and wait until it is ready."""
    lease = lease_uid(plan.run_as_uid) if plan.run_as_uid is not None else None
    try:
        worker = ProcessWorker(plan.command(preloads[lane], lease.uid if lease else None),
                               lane=lane, slot=slot, lease=lease)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    worker.wait_started(start_timeout_s)
    return worker


def _kill_all(pool: WorkerPool) -> None:
    for worker in pool.live_workers():
        worker.kill()


class ProcessSandbox:
    """Runs tools in warm sandboxed worker processes (``settings.workers`` per lane).

    ``bwrap_path``/``unshare_path`` override where the isolation binaries are looked up (tests point
    them at a missing file to check the error). Workers start on first use or with ``start()``.
    """

    def __init__(self, settings: SandboxSettings, *, bwrap_path: str | None = None,
                 unshare_path: str | None = None, start_timeout_s: float = 120.0) -> None:
        self._settings = settings
        self._scratch_root: str | None = None
        if settings.isolation != "bwrap":
            self._scratch_root = tempfile.mkdtemp(prefix="distillery-sandbox-")
            os.chmod(self._scratch_root, 0o711)
        try:
            self._plan: LaunchPlan = plan_launch(settings, bwrap_path=bwrap_path, unshare_path=unshare_path,
                                                 scratch_root=self._scratch_root or "/tmp")
        except BaseException:
            self._remove_scratch()
            raise
        self._preloads = plan_lanes(settings)
        # The pool must not reference this object, or the finalizer below could never run.
        spawn = functools.partial(_spawn, self._plan, self._preloads, start_timeout_s)
        self._pool = WorkerPool(isolation=self.isolation, lanes=self._preloads, workers=settings.workers,
                                spawn=spawn, limits=Limits.from_settings(settings))
        self._finalizer = weakref.finalize(self, _kill_all, self._pool)

    @property
    def isolation(self) -> IsolationLevel:
        """The isolation level calls run under (checked when the sandbox was built)."""
        return cast(IsolationLevel, self._plan.level)

    @property
    def detail(self) -> str:
        """What the isolation level does here, in words."""
        return self._plan.detail

    def stats(self) -> PoolStats:
        """A snapshot of the pool's counters."""
        return self._pool.stats()

    def pids(self) -> list[int]:
        """Host pids of the live workers' outermost processes (diagnostics and benchmarks)."""
        return [cast(ProcessWorker, worker).pid for worker in self._pool.live_workers()]

    def start(self) -> None:
        """Start every worker now (otherwise the first call does); raises ``SandboxError`` if one fails."""
        already = self._pool.started
        self._pool.start()
        if already:
            return
        level = self._plan.level
        log.info("sandbox started: %s workers, isolation %s (%s)", self._pool.stats().lanes, level, self._plan.detail)
        if level == "none":
            log.warning("sandbox isolation is 'none': tool code can reach the network and the filesystem")

    def run(self, spec: ToolSpec, args: dict[str, Any], limits: Limits | None = None, *,
            cancel: CancelToken | None = None) -> RunResult:
        """Call ``spec.entrypoint(**args)`` in a fresh sandboxed child of a warm worker."""
        if not self._pool.started:
            self.start()
        return self._pool.run(spec, args, limits, cancel=cancel)

    def close(self) -> None:
        """Stop every worker; calls after this raise ``SandboxError``."""
        self._pool.close()
        self._remove_scratch()

    def __enter__(self) -> ProcessSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _remove_scratch(self) -> None:
        if self._scratch_root:
            shutil.rmtree(self._scratch_root, ignore_errors=True)
