"""Host-side handle of one sandbox worker process (see ``_worker.py`` for the protocol)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import IO, Any

from toolbox.errors import SandboxError

__all__ = ["WorkerDied", "WorkerHung", "WorkerProcess", "kill_uid"]


class WorkerDied(SandboxError):
    """The worker closed its stdout or answered something that is not the protocol."""


class WorkerHung(SandboxError):
    """The worker did not answer before the host's deadline."""


def kill_uid(uid: int, budget_s: float = 2.0) -> int:
    """SIGKILL every process whose owner is ``uid`` (host-side backstop); returns how many were seen."""
    seen = 0
    end = time.monotonic() + budget_s
    while time.monotonic() < end:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == uid:
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

    def __init__(self, argv: Sequence[str], env: dict[str, str], *, slot: int, uid: int | None) -> None:
        self.slot = slot
        self.uid = uid
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in kill)
        self._proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                           env=env, start_new_session=True, close_fds=True, bufsize=0)
        assert self._proc.stdout is not None
        self._fd = self._proc.stdout.fileno()
        self._buf = bytearray()
        self.info: dict[str, Any] = {}
        self.calls = 0

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

    def request(self, payload: dict[str, Any], timeout_s: float, max_bytes: int) -> dict[str, Any]:
        """Send one request; return the response with the same id (other lines are discarded)."""
        data = (json.dumps(payload, ensure_ascii=False) + "\n").encode()
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(f"could not write to the worker: {exc}") from exc
        self.calls += 1
        deadline = time.monotonic() + timeout_s
        for _ in range(16):
            response = self._read_json(deadline, max_bytes)
            if response.get("id") == payload["id"]:
                return response
        raise WorkerDied("the worker sent too many lines that answer no request")

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
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 1]
                return line
            if len(self._buf) > max_bytes:
                raise WorkerDied(f"the worker's answer exceeded {max_bytes} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerHung("the worker did not answer in time")
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise WorkerDied(f"the worker exited (code {self._proc.poll()})")
            self._buf += chunk

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what the worker wrote on stderr (bwrap and Python errors)."""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""

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
