"""Host-side handles of sandbox worker processes (see ``_worker.py`` for the protocol).

``WorkerProcess`` sends one request and reads its answer with a deadline; ``ReadyWatcher`` is one
thread that waits, off every caller's critical path, for the ``{"ready": true}`` line a worker prints
once it has cleaned up after a call and forked its next child.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from toolbox.errors import SandboxError
from toolbox.logging import get_logger
from toolbox.sandbox.uids import UidLease

__all__ = ["ReadyWatcher", "WorkerDied", "WorkerHung", "WorkerProcess", "encode_request", "file_tail", "is_ready_line",
           "kill_uid"]

log = get_logger("sandbox")
READY_TIMEOUT_S = 30.0
MAX_READY_LINE = 1 << 16


def encode_request(fields: dict[str, Any], args_json: str) -> bytes:
    """One request line: ``fields`` plus ``"args"``, which the caller has already serialised to ``args_json``."""
    head = json.dumps(fields, ensure_ascii=False)
    return f'{head[:-1]}, "args": {args_json}}}\n'.encode()


def is_ready_line(line: bytes) -> bool:
    """Whether ``line`` is a worker's ``{"ready": true, ...}`` announcement."""
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("ready") is True


class WorkerDied(SandboxError):
    """The worker closed its stdout or answered something that is not the protocol."""


class WorkerHung(SandboxError):
    """The worker did not answer before the host's deadline."""


def _zombie(pid: str) -> bool:
    """Whether ``pid`` has exited and only waits to be reaped (nothing left to kill)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    return stat[stat.rfind(b")") + 2:].startswith(b"Z")


def kill_uid(uid: int, budget_s: float = 2.0) -> int:
    """SIGKILL every process whose owner is ``uid`` (host-side backstop); returns how many were seen."""
    seen = 0
    end = time.monotonic() + budget_s
    while time.monotonic() < end:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == uid and not _zombie(entry):
                        pids.append(int(entry))
                except OSError:
                    continue
        if not pids:
            break
        seen += len(pids)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
    return seen


class WorkerProcess:
    """One running worker: send a request line, read the answer with a deadline, kill it."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], *, slot: int, lease: UidLease | None) -> None:
        self.slot = slot
        self._lease = lease
        self.uid = lease.uid if lease else None
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in kill)
        self._proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                           env=env, start_new_session=True, close_fds=True, bufsize=0)
        assert self._proc.stdout is not None
        self._fd = self._proc.stdout.fileno()
        self._buf = bytearray()
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        """The host pid of the outermost process (bwrap, unshare or python)."""
        return self._proc.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self._proc.poll() is None

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the ``ready`` line; raises ``SandboxError`` with the worker's stderr when it fails."""
        try:
            info = self._read_json(time.monotonic() + timeout_s, 1 << 20)
        except SandboxError as exc:
            self.kill()
            raise SandboxError(f"sandbox worker failed to start: {exc}; stderr: {self.stderr_tail()!r}") from exc
        if info.get("ready") is not True:
            self.kill()
            raise SandboxError(f"sandbox worker sent {info!r} instead of its ready line")
        self.info = info
        return info

    def request(self, line: bytes, request_id: str, timeout_s: float, max_bytes: int) -> dict[str, Any]:
        """Send one request line (``encode_request``); return the response whose id is ``request_id``.

        Other lines are discarded.
        """
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(line)
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(f"could not write to the worker: {exc}") from exc
        deadline = time.monotonic() + timeout_s
        for _ in range(16):
            response = self._read_json(deadline, max_bytes)
            if response.get("id") == request_id:
                return response
        raise WorkerDied("the worker sent too many lines that answer no request")

    def fileno(self) -> int:
        """The worker's stdout (for ``select``)."""
        return self._fd

    def feed(self) -> bool:
        """Read what is available on stdout into the buffer (call when readable); False at EOF."""
        chunk = os.read(self._fd, 1 << 16)
        self._buf += chunk
        return bool(chunk)

    def pop_line(self) -> bytes | None:
        """A complete buffered line, or None."""
        end = self._buf.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        return line

    def buffered(self) -> int:
        """How many bytes wait in the buffer."""
        return len(self._buf)

    def exit_code(self) -> int | None:
        """The process's exit status, None while it runs."""
        return self._proc.poll()

    def _read_json(self, deadline: float, max_bytes: int) -> dict[str, Any]:
        line = self._read_line(deadline, max_bytes)
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise WorkerDied(f"the worker sent a line that is not JSON: {line[:200]!r}") from exc
        if not isinstance(value, dict):
            raise WorkerDied(f"the worker sent {type(value).__name__}, not an object")
        return value

    def _read_line(self, deadline: float, max_bytes: int) -> bytes:
        while True:
            line = self.pop_line()
            if line is not None:
                return line
            if len(self._buf) > max_bytes:
                raise WorkerDied(f"the worker's answer exceeded {max_bytes} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerHung("the worker did not answer in time")
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if ready and not self.feed():
                raise WorkerDied(f"the worker exited (code {self._proc.poll()})")

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what the worker wrote on stderr (bwrap and Python errors)."""
        return file_tail(self._stderr, limit)

    def kill(self) -> None:
        """Kill the worker's process group (and, when it drops privileges, every process of its uid)."""
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
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def close(self) -> None:
        """Ask the worker to exit (EOF on stdin), then make sure it has."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


def _ready_state(worker: WorkerProcess) -> tuple[bool, str] | None:
    """(True, "") once the worker announced ready; (False, why) if it never will; None: keep waiting."""
    line = worker.pop_line()
    if line is not None:
        if is_ready_line(line):
            return True, ""
        return False, f"sent {line[:200]!r} instead of its ready line"
    if worker.buffered() > MAX_READY_LINE:
        return False, "sent too much instead of its ready line"
    return None


class ReadyWatcher:
    """One thread that waits for workers to announce ``{"ready": true}`` after their cleanup.

    ``watch(worker)`` hands over a worker that has answered its call; ``on_ready(worker)`` runs when
    its ready line arrives, ``on_lost(worker, why)`` when it exits, breaks the protocol or is not ready
    within ``timeout_s``. Both run on the watcher thread and must not block.
    """

    def __init__(self, on_ready: Callable[[WorkerProcess], None], on_lost: Callable[[WorkerProcess, str], None],
                 *, timeout_s: float = READY_TIMEOUT_S) -> None:
        self._on_ready, self._on_lost, self._timeout_s = on_ready, on_lost, timeout_s
        self._pending: queue.SimpleQueue[WorkerProcess] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="sandbox-ready", daemon=True)
        self._thread.start()

    def watch(self, worker: WorkerProcess) -> None:
        """Wait (in the background) for ``worker``'s ready line."""
        self._pending.put(worker)
        self._wake()

    def close(self) -> None:
        """Stop the thread; workers still cleaning up are left to their owner."""
        self._closed = True
        self._wake()
        self._thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    def _loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ, None)
        deadlines: dict[WorkerProcess, float] = {}

        def settle(worker: WorkerProcess, state: tuple[bool, str]) -> None:
            deadlines.pop(worker, None)
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(worker.fileno())
            try:
                if state[0]:
                    self._on_ready(worker)
                else:
                    self._on_lost(worker, state[1])
            except Exception:
                log.exception("sandbox ready watcher callback failed")

        try:
            while not self._closed:
                timeout = max(0.0, min(deadlines.values()) - time.monotonic()) if deadlines else None
                for key, _ in selector.select(timeout):
                    if key.data is None:
                        with contextlib.suppress(BlockingIOError, OSError):
                            os.read(self._wake_r, 4096)
                        continue
                    worker = key.data
                    try:
                        alive = worker.feed()
                    except OSError as exc:
                        settle(worker, (False, f"could not read from it: {exc}"))
                        continue
                    state = _ready_state(worker)
                    if state is None and not alive:
                        state = (False, f"exited while cleaning up after a call (code {worker.exit_code()})")
                    if state is not None:
                        settle(worker, state)
                while not self._pending.empty():
                    worker = self._pending.get()
                    deadlines[worker] = time.monotonic() + self._timeout_s
                    state = _ready_state(worker)
                    if state is not None:
                        settle(worker, state)
                        continue
                    with contextlib.suppress(KeyError):  # a killed worker's fd number came back
                        deadlines.pop(selector.unregister(worker.fileno()).data, None)
                    selector.register(worker.fileno(), selectors.EVENT_READ, worker)
                now = time.monotonic()
                for worker, deadline in list(deadlines.items()):
                    if deadline <= now:
                        settle(worker, (False, f"did not finish cleaning up within {self._timeout_s:.0f} s"))
        finally:
            selector.close()


def file_tail(stream: IO[bytes], limit: int = 2000) -> str:
    """The last ``limit`` bytes of a worker's stderr file, decoded ("" when it cannot be read)."""
    try:
        stream.seek(0, os.SEEK_END)
        stream.seek(max(0, stream.tell() - limit))
        return stream.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""
