"""The call worker's loop: read a call, hand it to the pre-forked child, answer, clean up, fork the next child.

Run through ``boot.py call [options]`` (see the package docstring for the protocol and options).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import select
import signal
import sys
import time
from typing import Any

from .cleanup import clean_files, remember
from .common import (
    CHILD_ENV,
    MAX_NAMESPACE_PID,
    MIB,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    call_limits,
    failure,
    kill_leftovers,
    prctl,
    vm_size,
)
from .common import preload as import_modules
from .frames import FrameBuffer, frame, message, write_all
from .spare import Spare, decode_death, drop_spare, hand_over, kill_tree, prefork, wait_result

__all__ = ["PROTOCOL", "main"]

PROTOCOL = 3
READY = message({"op": "ready"})
MAX_HOST_FRAME = 256 * MIB
KILLED = {
    "ResultTooLarge": "the tool's response exceeded the size limit",
    "Cancelled": "the call was cancelled by its caller; its processes were killed",
}


class _Control:
    """Frames from the host on fd 0: calls (a header frame and a body frame) and cancels."""

    def __init__(self) -> None:
        self.frames = FrameBuffer()
        self.eof = False
        self._head: dict[str, Any] | None = None  # the first buffered frame, parsed once

    def read(self) -> None:
        """Read what fd 0 has (call only when it is readable)."""
        chunk = os.read(0, 1 << 16)
        self.frames.feed(chunk)
        self.eof = self.eof or not chunk

    def head(self) -> dict[str, Any] | None:
        """The first buffered frame, parsed (None while incomplete)."""
        if self._head is None:
            payload = self.frames.peek(0, MAX_HOST_FRAME)
            if payload is None:
                return None
            head = json.loads(payload)
            if not isinstance(head, dict):
                raise ValueError("the host sent a frame that is not an object")
            self._head = head
        return self._head

    def _drop(self, count: int) -> bytes:
        self._head = None
        return self.frames.pop_raw(count)

    def cancelled(self, call_id: str) -> bool:
        """Consume buffered cancel frames; whether one names ``call_id`` (EOF counts: the host is gone)."""
        found = self.eof
        while (head := self.head()) is not None and head.get("op") == "cancel":
            self._drop(1)
            found = found or head.get("id") == call_id
        return found

    def on_readable(self, call_id: str) -> bool:
        """During a call: read fd 0; whether the call is cancelled."""
        self.read()
        return self.cancelled(call_id)

    def next_call(self, spare: Spare | None) -> tuple[tuple[dict[str, Any], bytes, bytes] | None, Spare | None]:
        """(header, both frames as sent, body) of the next call, None at EOF; and the spare, None if it died."""
        while True:
            self.cancelled("")  # cancels of calls that have ended
            head = self.head()
            if head is not None:
                if head.get("op") != "call":
                    raise ValueError(f"the host sent {head.get('op')!r} where a call was expected")
                body = self.frames.peek(1, MAX_HOST_FRAME)
                if body is not None:
                    return (head, self._drop(2), body), spare
            if self.eof:
                return None, spare
            watch = [0] if spare is None else [0, spare.pidfd]
            ready, _, _ = select.select(watch, [], [])
            if spare is not None and spare.pidfd in ready:  # killed while idle: the next call forks a fresh one
                drop_spare(spare)
                spare = None
            if 0 in ready:
                self.read()


class _Call:
    """What the worker must clean up (and may cache) after answering a call."""

    __slots__ = ("cacheable", "pid", "reaped", "scratch")

    def __init__(self, pid: int, scratch: str) -> None:
        self.pid, self.scratch = pid, scratch
        self.reaped = self.cacheable = False


def _handle(header: dict[str, Any], raw: bytes, spare: Spare | None, opts: argparse.Namespace,
            control: _Control) -> tuple[dict[str, Any], bytes, _Call | None]:
    """Run one call in the spare; return the answer's header and body, and what to clean up (None: spare unused)."""
    call_id = str(header.get("id"))
    limits = call_limits(header.get("limits"))
    start = time.monotonic()
    done: dict[str, Any] = {"op": "done", "id": call_id, "recycle": False}
    if control.cancelled(call_id):
        return {**done, "duration_ms": 0.0, "error": failure("Cancelled", KILLED["Cancelled"])}, b"", None
    cap = int(limits["max_result_bytes"]) + 6 * int(limits["max_output_bytes"]) + 4 * MIB
    child = hand_over(spare, raw, opts.scratch_root, opts.uid)
    call = _Call(child.pid, child.scratch)
    try:
        payload, killed = wait_result(child, start + float(limits["timeout_s"]), cap, 0,
                                      lambda: control.on_readable(call_id))
    finally:
        child.close_fds()
    done["duration_ms"] = (time.monotonic() - start) * 1000.0
    if payload is not None:
        call.cacheable = payload[:1] == b"c"
        return done, payload[1:], call
    _, status, usage = os.wait4(child.pid, 0)
    call.reaped = True
    if killed == "Timeout":
        error = failure("Timeout", f"the call ran longer than {limits['timeout_s']} s (wall clock) and was killed")
    elif killed is not None:
        error = failure(killed, KILLED[killed])
    else:
        error = decode_death(status, usage, limits)
    return {**done, "error": error, "peak_memory_bytes": usage.ru_maxrss * 1024}, b"", call


def _finish(call: _Call, opts: argparse.Namespace) -> bool:
    """After the answer: kill the call's child and leftovers, delete its files; False if that failed."""
    if not call.reaped:
        kill_tree(call.pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(call.pid, 0)
    clean = kill_leftovers(opts.uid, opts.pidns)
    return clean_files(call.scratch, opts.uid, opts.private_tmp, opts.tmp_at_start) and clean


def _serve(opts: argparse.Namespace, spare: Spare | None) -> int:
    control = _Control()
    while True:
        try:
            item, spare = control.next_call(spare)
        except ValueError as exc:  # the host broke the protocol: say so and stop
            write_all(1, message({"op": "done", "id": None, "recycle": True,
                                  "error": failure("WorkerLost", f"sandbox worker: {exc}")}) + frame(b""))
            drop_spare(spare)
            return 1
        if item is None:
            drop_spare(spare)
            return 0
        header, raw, body = item
        call: _Call | None = None
        try:
            done, result, call = _handle(header, raw, spare, opts, control)
            if call is not None:
                spare = None
        except Exception as exc:  # a worker bug: answer, then let the host replace us
            done = {"op": "done", "id": header.get("id"), "recycle": True,
                    "error": failure("WorkerLost", f"sandbox worker error: {exc!r}")}
            result = b""
        write_all(1, message(done) + frame(result))
        clean = _finish(call, opts) if call is not None else True
        if done["recycle"] or not clean:
            drop_spare(spare)
            return 1
        if call is not None and call.cacheable:
            remember(str(header.get("code") or ""), body)
        if spare is None:
            try:
                spare = prefork(opts.scratch_root, opts.uid)
            except OSError:
                return 1
        write_all(1, READY)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The worker's options (see the package docstring)."""
    parser = argparse.ArgumentParser(prog="worker call")
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--preload", default="")
    parser.add_argument("--scratch-root", default="/tmp")
    parser.add_argument("--private-tmp", action="store_true")
    parser.add_argument("--pidns", action="store_true")
    parser.add_argument("--die-with-parent", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the worker loop until stdin closes."""
    opts = parse_args(argv)
    if opts.pidns and os.getpid() > MAX_NAMESPACE_PID:
        # Cleanup in --pidns mode kills everything but pid 1 and this process: run on a host by
        # mistake it would take the whole machine down. A fresh namespace starts at pid 1 or 2.
        sys.stderr.write(f"worker: --pidns needs a fresh PID namespace, but this is pid {os.getpid()}; refusing\n")
        return 2
    # What /tmp holds before any call (e.g. the mount points of a venv under /tmp) is never a leftover.
    opts.tmp_at_start = frozenset(os.listdir("/tmp")) if opts.private_tmp else frozenset()
    if opts.die_with_parent:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    loaded, failed = import_modules([n for n in opts.preload.split(",") if n])
    os.environ.clear()  # what every call's child gets: set once here, inherited by each fork
    os.environ.update(CHILD_ENV)
    prctl(PR_SET_NO_NEW_PRIVS, 1)  # inherited by every child: nothing it execs gains privileges
    gc.collect()
    gc.freeze()
    baseline = vm_size()
    spare = prefork(opts.scratch_root, opts.uid)
    write_all(1, message({"op": "ready", "pid": os.getpid(), "uid": opts.uid, "preloaded": loaded,
                          "preload_failed": failed, "baseline_vm_bytes": baseline,
                          "python": sys.version.split()[0], "protocol": PROTOCOL}))
    return _serve(opts, spare)
