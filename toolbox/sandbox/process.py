"""``ProcessSandbox``: a pool of warm sandboxed workers; each call runs in a fresh forked child.

Critical path of a call: take a ready worker, send the request, read the answer. Everything else
happens while the worker is idle: it forks the next call's child ahead of time, and after answering
it kills the call's processes and deletes its files, then prints ``{"ready": true}``; a watcher thread
puts it back in the idle queue only then. A worker that cannot clean up exits instead and is
replaced in the background without failing any call.

Limits semantics: ``memory_mb`` is the address space a call may add ON TOP of the worker's
baseline (Python plus the preloaded numpy/scipy/sympy, about 270 MB of mostly shared, read-only
mappings); ``cpu_s`` is CPU seconds of the call's own process; ``timeout_s`` is wall-clock time for
the call and everything it spawned; ``max_processes`` counts processes and threads of the call's uid.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import tempfile
import threading
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from toolbox.errors import SandboxError
from toolbox.logging import get_logger
from toolbox.sandbox.base import IsolationLevel, Limits, RunResult, ToolFailure
from toolbox.sandbox.isolation import LaunchPlan, plan_launch, worker_env
from toolbox.sandbox.pool import ReadyWatcher, WorkerDied, WorkerHung, WorkerProcess, encode_request
from toolbox.sandbox.uids import lease_uid
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

__all__ = ["PoolStats", "ProcessSandbox"]

log = get_logger("sandbox")
GRACE_S = 5.0
SPAWN_ATTEMPTS = 3


@dataclass(frozen=True)
class _Broken:
    slot: int
    error: str


_CLOSED = _Broken(-1, "the sandbox is closed")


@dataclass
class PoolStats:
    """Counters of the worker pool (for tests, doctor output and metrics)."""

    isolation: str
    workers: int
    started: int = 0
    replaced: int = 0
    calls: int = 0
    idle: int = 0
    baseline_vm_bytes: int | None = None
    uids: list[int] = field(default_factory=list)


def _kill_all(live: set[WorkerProcess]) -> None:
    for worker in list(live):
        worker.kill()
    live.clear()


class ProcessSandbox:
    """Runs tools in warm sandboxed worker processes (``settings.workers`` of them).

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
        self._limits = Limits.from_settings(settings)
        self._start_timeout_s = start_timeout_s
        self._idle: queue.Queue[WorkerProcess | _Broken] = queue.Queue()
        self._live: set[WorkerProcess] = set()
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="sandbox-spawn")  # long-lived: parent-death signals
        self._background = ThreadPoolExecutor(max(2, settings.workers), thread_name_prefix="sandbox-respawn")
        self._started = False
        self._closed = False
        self._stats = PoolStats(isolation=self._plan.level, workers=settings.workers)
        self._watcher = ReadyWatcher(self._idle.put, self._lost_while_cleaning)
        self._finalizer = weakref.finalize(self, _kill_all, self._live)

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
        with self._lock:
            snapshot = PoolStats(**vars(self._stats))
            snapshot.uids = sorted(worker.uid for worker in self._live if worker.uid is not None)
        snapshot.idle = self._idle.qsize()
        return snapshot

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start every worker now (otherwise the first call does); raises ``SandboxError`` if one fails."""
        with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise SandboxError("the sandbox is closed")
            futures = [self._background.submit(self._spawn, slot) for slot in range(self._settings.workers)]
            wait(futures)
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                for future in futures:
                    if future.exception() is None:
                        future.result().kill()
                raise SandboxError(f"could not start the sandbox workers: {errors[0]}") from errors[0]
            for future in futures:
                self._idle.put(future.result())
            self._started = True
        level = self._plan.level
        log.info("sandbox started: %d workers, isolation %s (%s)", self._settings.workers, level, self._plan.detail)
        if level == "none":
            log.warning("sandbox isolation is 'none': tool code can reach the network and the filesystem")

    def close(self) -> None:
        """Stop every worker; calls after this raise ``SandboxError``."""
        with self._start_lock:
            self._closed = True
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for worker in live:
            worker.close()
        self._idle.put(_CLOSED)  # every _acquire that takes it puts it back for the next waiter
        self._watcher.close()
        self._background.shutdown(wait=False, cancel_futures=True)
        self._spawner.shutdown(wait=False)
        self._remove_scratch()

    def __enter__(self) -> ProcessSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _remove_scratch(self) -> None:
        if self._scratch_root:
            shutil.rmtree(self._scratch_root, ignore_errors=True)

    def _spawn(self, slot: int) -> WorkerProcess:
        lease = lease_uid(self._plan.run_as_uid) if self._plan.run_as_uid is not None else None
        argv = self._plan.command(slot, lease.uid if lease else None)
        try:
            worker = self._spawner.submit(WorkerProcess, argv, worker_env(), slot=slot, lease=lease).result()
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        with self._lock:
            self._live.add(worker)
        try:
            info = worker.wait_ready(self._start_timeout_s)
        except SandboxError:
            self._forget(worker)
            raise
        missing = {k: v for k, v in info.get("preload_failed", {}).items() if k in self._settings.preload_modules}
        if missing:
            log.warning("sandbox worker could not preload %s", missing)
        with self._lock:
            self._stats.started += 1
            self._stats.baseline_vm_bytes = info.get("baseline_vm_bytes")
        if self._closed:
            self._forget(worker)
            raise SandboxError("the sandbox is closed")
        return worker

    def _forget(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._live.discard(worker)
        worker.kill()

    def _replace(self, slot: int) -> None:
        error = "unknown"
        for _ in range(SPAWN_ATTEMPTS):
            if self._closed:
                return
            try:
                self._idle.put(self._spawn(slot))
                return
            except SandboxError as exc:
                error = str(exc)
                log.error("could not restart sandbox worker %d: %s", slot, exc)
        self._idle.put(_Broken(slot, error))

    def _lost_while_cleaning(self, worker: WorkerProcess, why: str) -> None:
        """The watcher's report: a worker that answered its call will not become ready again."""
        if self._closed:
            return
        log.warning("sandbox worker %d %s; replacing it: %s", worker.slot, why, worker.stderr_tail(500))
        with contextlib.suppress(RuntimeError):  # the pool is shutting down
            self._background.submit(self._discard, worker)

    def _discard(self, worker: WorkerProcess) -> None:
        self._forget(worker)
        with self._lock:
            self._stats.replaced += 1
        if not self._closed:
            self._background.submit(self._replace, worker.slot)

    def _acquire(self) -> WorkerProcess:
        while True:
            item = self._idle.get()
            if item is _CLOSED:
                self._idle.put(item)
                raise SandboxError("the sandbox is closed")
            if isinstance(item, _Broken):
                try:
                    return self._spawn(item.slot)
                except SandboxError:
                    self._idle.put(item)
                    raise
            if item.alive():
                return item
            self._discard(item)

    # ------------------------------------------------------------------ calls

    def run(self, spec: ToolSpec, args: dict[str, Any], limits: Limits | None = None) -> RunResult:
        """Call ``spec.entrypoint(**args)`` in a fresh sandboxed child of a warm worker."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        limits = limits or self._limits
        try:  # serialised once, here: the request line splices this text in
            args_json = json.dumps(args, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return self._failure("ArgumentsNotJSON", f"the arguments are not JSON ({exc}); pass only dict, list, "
                                                     "str, int, float (finite), bool and None")
        if not isinstance(args, dict):  # a dict (subclass) is exactly what serialises to a JSON object
            return self._failure("ArgumentsNotJSON", f"arguments must be an object, not {type(args).__name__}")
        request_id = uuid.uuid4().hex
        line = encode_request({"id": request_id, "source": spec.source, "entrypoint": spec.entrypoint,
                               "tool_name": spec.name, "limits": limits.model_dump()}, args_json)
        if not self._started:
            self.start()
        worker = self._acquire()
        max_bytes = limits.max_result_bytes + 6 * limits.max_output_bytes + (4 << 20)
        with self._lock:
            self._stats.calls += 1
        try:
            response = worker.request(line, request_id, limits.timeout_s + GRACE_S, max_bytes)
        except WorkerHung:
            self._discard(worker)
            return self._failure("Timeout", f"the call ran longer than {limits.timeout_s} s and its worker did not "
                                            "recover; the worker was replaced")
        except WorkerDied as exc:
            log.warning("sandbox worker %d lost during a call: %s", worker.slot, exc)
            self._discard(worker)
            return self._failure("WorkerLost", f"the sandbox worker died during the call ({exc}); it was replaced")
        if response.get("recycle"):
            self._discard(worker)
        elif worker.info.get("announce_ready"):
            self._watcher.watch(worker)  # idle again once it has cleaned up
        else:
            self._idle.put(worker)
        return self._result(response)

    def _failure(self, kind: str, message: str) -> RunResult:
        return RunResult(ok=False, error=ToolFailure(type=kind, message=message), isolation=self.isolation)

    def _result(self, response: dict[str, Any]) -> RunResult:
        try:
            error = response.get("error")
            return RunResult(
                ok=bool(response.get("ok")) and error is None, value=response.get("value"),
                error=ToolFailure.model_validate(error) if error is not None else None,
                stdout=response.get("stdout", ""), stderr=response.get("stderr", ""),
                truncated=bool(response.get("truncated", False)), duration_ms=response.get("duration_ms", 0.0),
                peak_memory_bytes=response.get("peak_memory_bytes"), isolation=self.isolation,
            )
        except ValidationError as exc:
            return self._failure("WorkerLost", f"the sandbox worker sent a malformed answer: {exc}")
