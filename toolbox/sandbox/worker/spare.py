"""The worker's side of one call's child: fork it ahead of time, hand it the request, wait for its result.

``prefork`` forks the next call's child (``child.run_child``) from the clean worker; ``hand_over``
gives it the request frames; ``wait_result`` waits for its result frame, its death, the wall-clock
deadline or a cancel request, whichever comes first; ``decode_death`` says why a child ended
without a result.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable

from .child import EXIT_NO_PRIVDROP, EXIT_REPORT_FAILED, run_child
from .common import failure
from .frames import FrameBuffer, FrameTooLarge

__all__ = ["Spare", "decode_death", "drop_spare", "hand_over", "kill_tree", "prefork", "wait_result"]


class Spare:
    """The next call's child, forked and blocked on its request pipe."""

    __slots__ = ("pid", "pidfd", "request_fd", "result_fd", "scratch")

    def __init__(self, pid: int, request_fd: int, result_fd: int, scratch: str) -> None:
        self.pid, self.request_fd, self.result_fd, self.scratch = pid, request_fd, result_fd, scratch
        self.pidfd = os.pidfd_open(pid)

    def close_fds(self) -> None:
        """Close the worker's ends of the pipes and the pidfd (idempotent)."""
        for fd in (self.request_fd, self.result_fd, self.pidfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.request_fd = self.result_fd = self.pidfd = -1


def prefork(scratch_root: str, uid: int | None) -> Spare:
    """Fork the next call's child from the (clean) worker; it gets ready and waits for its request."""
    scratch = tempfile.mkdtemp(prefix="call-", dir=scratch_root)
    if uid is not None:
        os.chown(scratch, uid, uid)
    os.chmod(scratch, 0o700)
    req_r, req_w = os.pipe2(os.O_CLOEXEC)
    res_r, res_w = os.pipe2(os.O_CLOEXEC)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(req_w)
            os.close(res_r)
            run_child(scratch, req_r, res_w, parent, uid)
        finally:
            os._exit(EXIT_REPORT_FAILED)
    os.close(req_r)
    os.close(res_w)
    return Spare(pid, req_w, res_r, scratch)


def drop_spare(spare: Spare | None) -> None:
    """Kill an unused (or broken) spare and delete its scratch dir."""
    if spare is None or spare.pidfd < 0:  # none, or already dropped (its pid may belong to another process now)
        return
    with contextlib.suppress(OSError):
        signal.pidfd_send_signal(spare.pidfd, signal.SIGKILL)
    spare.close_fds()
    with contextlib.suppress(ChildProcessError):
        os.waitpid(spare.pid, 0)
    shutil.rmtree(spare.scratch, ignore_errors=True)


def hand_over(spare: Spare | None, raw: bytes, scratch_root: str, uid: int | None) -> Spare:
    """Give the request frames to the spare (a fresh one if it died while idle); returns the child used."""
    for attempt in range(2):
        if spare is None:
            spare = prefork(scratch_root, uid)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(spare.request_fd, view):]
            os.close(spare.request_fd)
            spare.request_fd = -1
            return spare
        except OSError:
            drop_spare(spare)
            spare = None
            if attempt:
                raise
    raise AssertionError("unreachable")


def kill_tree(pid: int) -> None:
    """SIGKILL the child and its process group."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def wait_result(child: Spare, deadline: float, cap: int, control_fd: int,
                cancelled: Callable[[], bool]) -> tuple[bytes | None, str | None]:
    """Wait for the child's result frame (returned as soon as it is complete) or its end.

    ``control_fd`` is watched too: when it is readable, ``cancelled()`` reads it and says whether
    the host cancelled this call (or went away). Returns (result payload or None, why the child was
    killed or None). With neither, the child has exited without a result and can be reaped at once.
    """
    frames = FrameBuffer()
    rfd, pidfd = child.result_fd, child.pidfd
    watch = [rfd, pidfd, control_fd]
    killed: str | None = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                killed = "Timeout"
                break
            ready, _, _ = select.select(watch, [], [], remaining)
            if control_fd in ready and cancelled():
                killed = "Cancelled"
                break
            if rfd in ready:
                chunk = os.read(rfd, 1 << 16)
                if not chunk:
                    watch.remove(rfd)
                frames.feed(chunk)
                try:
                    payload = frames.pop(cap)
                except FrameTooLarge:
                    killed = "ResultTooLarge"
                    break
                if payload is not None:
                    return payload, None
            if pidfd in ready:  # it exited: take what it wrote, then reap it
                os.set_blocking(rfd, False)
                with contextlib.suppress(BlockingIOError, FrameTooLarge):
                    while len(frames) <= cap + 4:
                        chunk = os.read(rfd, 1 << 16)
                        if not chunk:
                            break
                        frames.feed(chunk)
                    payload = frames.pop(cap)
                    if payload is not None:
                        return payload, None
                break
    finally:
        if killed:
            kill_tree(child.pid)
    return None, killed


def decode_death(status: int, usage: resource.struct_rusage, limits: dict[str, float]) -> dict[str, str]:
    """The error of a child that ended (wait ``status``) without a result."""
    cpu = usage.ru_utime + usage.ru_stime
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= 0.9 * float(limits["cpu_s"])):
            return failure("CPULimit", f"the tool used more than its {limits['cpu_s']} s of CPU time and was killed")
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = " (a crash in native code or a stack overflow from deep recursion)" if sig == signal.SIGSEGV else ""
        return failure("Crashed", f"the tool's process was killed by signal {name}{hint}")
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if code == EXIT_NO_PRIVDROP:
        return failure("Crashed", "the sandbox could not drop privileges for this call")
    if code == EXIT_REPORT_FAILED:
        return failure("Crashed", "the tool's process failed while reporting its result (out of memory or stack?)")
    return failure("Exited", f"the tool's process exited with code {code} without returning a value "
                             "(os._exit or exit in a child?): a tool must return a value")
