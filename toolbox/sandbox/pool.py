"""``WorkerPool``: warm workers in lanes, and the call path every backend shares.

Critical path of a call, all in the calling thread: route the tool to a lane, take a worker that has
announced it is ready, write the call, read the answer (``WorkerClient``). A worker cleans up after a
call and forks its next child while it sits in the pool; whoever takes it next consumes its ``ready``
frame (without waiting when it has come already). No thread hands a worker or an answer to
another; background threads only start replacements and kill workers.

A backend supplies ``spawn(lane, slot)``: start one worker of that lane and wait for its first
``ready`` frame (raising ``SandboxError`` when it does not start).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from toolbox.errors import SandboxError
from toolbox.logging import get_logger
from toolbox.sandbox.base import CANCELLED, CancelToken, IsolationLevel, Limits, RunResult
from toolbox.sandbox.client import WorkerClient, WorkerDied, WorkerHung, decode_result, encode_call, failure_result
from toolbox.sandbox.lanes import lane_for
from toolbox.spec import ToolSpec

__all__ = ["GRACE_S", "PoolStats", "PooledWorker", "WorkerPool"]

log = get_logger("sandbox")
GRACE_S = 6.0  # beyond timeout_s: the worker's own kill and clean-up of leftovers (3 s budget)
READY_TIMEOUT_S = 30.0  # a worker's clean-up after a call
CANCELLED_MESSAGE = "the call was cancelled by its caller before it started"


class PooledWorker:
    """One warm worker as the pool sees it; a backend subclasses it with how to kill it."""

    def __init__(self, client: WorkerClient, *, lane: str, slot: int, uid: int | None) -> None:
        self.client, self.lane, self.slot, self.uid = client, lane, slot, uid
        self.ready = True  # spawn returns a worker whose first ready frame has been read

    def prepare(self, limits: Limits) -> None:
        """Adjust the worker to a call's limits before it is sent (nothing by default)."""

    def exit_detail(self) -> str:
        """How the worker ended, for error messages."""
        return ""

    def kill(self) -> None:
        """Kill the worker and everything it ran (blocking is fine: the pool calls it in the background)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the worker at pool shutdown."""
        self.kill()


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
    lanes: dict[str, int] = field(default_factory=dict)


class WorkerPool:
    """``workers`` workers per lane of ``lanes`` (name -> preloads, as ``plan_lanes`` gives them), made by
    ``spawn``; ``run`` is thread-safe and blocks."""

    def __init__(self, *, isolation: IsolationLevel, lanes: Mapping[str, tuple[str, ...]], workers: int,
                 spawn: Callable[[str, int], PooledWorker], limits: Limits) -> None:
        self.isolation = isolation
        self._lanes = dict(lanes)
        self._sizes = dict.fromkeys(self._lanes, workers)
        self._spawn_worker = spawn
        self._limits = limits
        self._biggest = list(self._lanes)[-1]
        self._cond = threading.Condition()
        self._start_lock = threading.Lock()
        self._free: dict[str, list[PooledWorker]] = {lane: [] for lane in self._sizes}
        self._spawning = dict.fromkeys(self._sizes, 0)
        self._errors: dict[str, str] = {}
        self._live: set[PooledWorker] = set()
        self._slots = itertools.count()
        self._background = ThreadPoolExecutor(max(2, sum(self._sizes.values())), thread_name_prefix="sandbox-pool")
        self._stats = PoolStats(isolation=isolation, workers=sum(self._sizes.values()), lanes=dict(self._sizes))
        self.started = False
        self.closed = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start every worker now; raises ``SandboxError`` (and starts none) if one fails. Idempotent."""
        with self._start_lock:
            if self.started:
                return
            if self.closed:
                raise SandboxError("the sandbox is closed")
            futures = [self._background.submit(self._spawn, lane)
                       for lane, size in self._sizes.items() for _ in range(size)]
            wait(futures)
            errors = [f.exception() for f in futures if f.exception() is not None]
            workers = [f.result() for f in futures if f.exception() is None]
            if errors:
                for worker in workers:
                    self._forget(worker)
                raise SandboxError(f"could not start the sandbox workers: {errors[0]}") from errors[0]
            with self._cond:
                for worker in workers:
                    self._free[worker.lane].append(worker)
                self.started = True

    def close(self) -> None:
        """Stop every worker; calls after this raise ``SandboxError``."""
        with self._start_lock, self._cond:
            self.closed = True
            live = list(self._live)
            self._live.clear()
            for free in self._free.values():
                free.clear()
            self._cond.notify_all()
        for worker in live:
            worker.close()
        self._background.shutdown(wait=False, cancel_futures=True)

    def live_workers(self) -> list[PooledWorker]:
        """The workers running now (for backends' diagnostics)."""
        with self._cond:
            return list(self._live)

    def stats(self) -> PoolStats:
        """A snapshot of the pool's counters; ``idle`` counts workers that are ready for a call."""
        with self._cond:
            for free in self._free.values():
                for worker in list(free):
                    self._poll(worker, free)
            snapshot = PoolStats(**{**vars(self._stats), "lanes": dict(self._sizes)})
            snapshot.uids = sorted(w.uid for w in self._live if w.uid is not None)
            snapshot.idle = sum(w.ready for free in self._free.values() for w in free)
        return snapshot

    def _spawn(self, lane: str) -> PooledWorker:
        worker = self._spawn_worker(lane, next(self._slots))
        info = worker.client.info
        missing = info.get("preload_failed")
        if missing:
            log.warning("sandbox worker could not preload %s", missing)
        with self._cond:
            self._stats.started += 1
            if lane == self._biggest:
                self._stats.baseline_vm_bytes = info.get("baseline_vm_bytes")
            if self.closed:
                closed = True
            else:
                closed = False
                self._live.add(worker)
        if closed:
            worker.kill()
            raise SandboxError("the sandbox is closed")
        return worker

    def _forget(self, worker: PooledWorker) -> None:
        with self._cond:
            self._live.discard(worker)
        worker.kill()

    def _discard(self, worker: PooledWorker, why: str = "") -> None:
        """Kill a worker in the background and start its replacement."""
        if why:
            log.warning("sandbox worker %d (%s) %s; replacing it %s", worker.slot, worker.lane, why,
                        worker.exit_detail())
        with self._cond:
            if worker not in self._live:
                return
            self._live.discard(worker)
            self._stats.replaced += 1
        try:
            self._background.submit(worker.kill)
        except RuntimeError:  # shutting down
            worker.kill()
        self._fill(worker.lane)

    def _fill(self, lane: str) -> None:
        """Start replacements (in the background) until the lane's live + starting workers reach its size."""
        with self._cond:
            live = sum(1 for w in self._live if w.lane == lane)
            missing = self._sizes[lane] - live - self._spawning[lane]
            if self.closed or missing <= 0:
                return
            self._spawning[lane] += missing
        for _ in range(missing):
            try:
                self._background.submit(self._replace, lane)
            except RuntimeError:
                return

    def _replace(self, lane: str) -> None:
        worker: PooledWorker | None = None
        try:
            worker = self._spawn(lane)
        except Exception as exc:
            log.error("could not start a sandbox worker (%s): %s", lane, exc)
            with self._cond:
                self._errors[lane] = f"{type(exc).__name__}: {exc}"
        with self._cond:
            self._spawning[lane] -= 1
            if worker is not None:
                self._free[lane].append(worker)
            self._cond.notify_all()

    # ------------------------------------------------------------------ taking a worker

    def _poll(self, worker: PooledWorker, free: list[PooledWorker]) -> None:
        """Under the lock: note a cleaning worker's ready frame, or drop it when it died."""
        if worker.ready:
            return
        try:
            worker.ready = worker.client.poll_ready()
        except (WorkerDied, WorkerHung) as exc:
            free.remove(worker)
            self._discard(worker, f"was lost while cleaning up: {exc}")

    def _take(self, lane: str, cancel: CancelToken | None) -> PooledWorker | None:
        """A free worker of ``lane`` (maybe still cleaning up); None when cancelled first."""
        wake: Callable[[], None] | None = None
        if cancel is not None:
            def notify() -> None:
                with self._cond:
                    self._cond.notify_all()
            wake = cancel.on_cancel(notify)
        tried_to_start = False
        try:
            with self._cond:
                while True:
                    if self.closed:
                        raise SandboxError("the sandbox is closed")
                    if cancel is not None and cancel.cancelled:
                        return None
                    free = self._free[lane]
                    for worker in list(free):
                        self._poll(worker, free)
                    for worker in reversed(free):
                        if worker.ready:
                            free.remove(worker)
                            return worker
                    if free:
                        return free.pop(0)  # released first: the likeliest to be ready first
                    if not self._spawning[lane] and not any(w.lane == lane for w in self._live):
                        if tried_to_start:
                            raise SandboxError(f"no sandbox worker could be started: {self._errors.get(lane)}")
                        tried_to_start = True
                        self._cond.release()
                        try:
                            self._fill(lane)
                        finally:
                            self._cond.acquire()
                        continue
                    self._cond.wait(1.0)
        finally:
            if wake is not None:
                wake()

    def _acquire(self, lane: str, cancel: CancelToken | None) -> PooledWorker | None:
        while True:
            worker = self._take(lane, cancel)
            if worker is None or worker.ready:
                return worker
            try:
                worker.client.await_ready(READY_TIMEOUT_S)
                worker.ready = True
                return worker
            except (WorkerDied, WorkerHung) as exc:
                self._discard(worker, f"did not become ready after its last call: {exc}")

    def _release(self, worker: PooledWorker) -> None:
        with self._cond:
            if worker not in self._live:
                return
            worker.ready = False
            self._free[worker.lane].append(worker)
            self._cond.notify()

    # ------------------------------------------------------------------ calls

    def run(self, spec: ToolSpec, args: dict[str, Any], limits: Limits | None = None, *,
            cancel: CancelToken | None = None) -> RunResult:
        """Call ``spec.entrypoint(**args)`` in a fresh child of a warm worker of the tool's lane."""
        if self.closed:
            raise SandboxError("the sandbox is closed")
        if cancel is not None and cancel.cancelled:
            return failure_result(CANCELLED, CANCELLED_MESSAGE, self.isolation)
        if not isinstance(args, dict):
            return failure_result("ArgumentsNotJSON", f"the arguments must be a JSON object, not "
                                                      f"{type(args).__name__}", self.isolation)
        try:
            args_json = json.dumps(args, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as exc:
            return failure_result("ArgumentsNotJSON", f"the arguments are not JSON ({exc}); pass only dict, list, "
                                                      "str, int, float (finite), bool or None", self.isolation)
        limits = limits or self._limits
        if not self.started:
            self.start()
        worker = self._acquire(lane_for(spec, self._lanes), cancel)
        if worker is None:
            return failure_result(CANCELLED, CANCELLED_MESSAGE, self.isolation)
        call_id, data = encode_call(spec, args_json, limits)
        max_bytes = limits.max_result_bytes + 6 * limits.max_output_bytes + (4 << 20)
        with self._cond:
            self._stats.calls += 1
        try:
            worker.prepare(limits)
            done, body = worker.client.call(data, call_id, time.monotonic() + limits.timeout_s + GRACE_S,
                                            max_bytes, cancel)
        except WorkerHung:
            self._discard(worker)
            return failure_result("Timeout", f"the call ran longer than {limits.timeout_s} s and its worker did not "
                                             "answer; the worker was killed and is being replaced", self.isolation)
        except (WorkerDied, OSError, SandboxError) as exc:
            detail = worker.exit_detail()
            self._discard(worker, f"was lost during a call: {exc}")
            return failure_result("WorkerLost", f"the sandbox worker died during the call ({exc}{detail}); "
                                                "it is being replaced", self.isolation)
        except BaseException:
            self._discard(worker)
            raise
        if done.get("recycle"):
            self._discard(worker, "asked to be replaced")
        else:
            self._release(worker)
        return decode_result(done, body, self.isolation)
