"""Host-side handle of one sandbox session process (see ``worker/session.py`` for the protocol).

It starts the session worker under the process backend's isolation plan (bubblewrap / unshare /
none, a leased uid when root, the clean worker environment), talks JSON lines over two dedicated
pipes with asyncio (no thread per session, so a teacher can run many sessions in one loop) and kills
everything the session ran: its process group, and every process of its uid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import tempfile
from typing import IO, Any

from toolbox.errors import SandboxError
from toolbox.sandbox.isolation import LaunchPlan, worker_env
from toolbox.sandbox.procs import file_tail, kill_uid
from toolbox.sandbox.uids import UidLease, lease_uid

__all__ = ["SessionLost", "SessionProcess", "session_command"]

KILL_WAIT_S = 5.0


class SessionLost(SandboxError):
    """The session process exited, or sent something that is not the protocol."""


def session_command(plan: LaunchPlan, in_fd: int, out_fd: int) -> list[str]:
    """The argv that starts a session worker reading ``in_fd`` and writing ``out_fd``, isolated as ``plan`` says."""
    return plan.sandboxed("session", ["--in-fd", str(in_fd), "--out-fd", str(out_fd)])


class SessionProcess:
    """One running session worker: send messages, receive them with a deadline, kill it."""

    def __init__(self, proc: subprocess.Popen[bytes], stderr: IO[bytes], lease: UidLease | None,
                 reader: asyncio.StreamReader, read_transport: asyncio.BaseTransport,
                 write_transport: asyncio.WriteTransport) -> None:
        self._proc, self._stderr, self._lease = proc, stderr, lease
        self._reader, self._read_transport, self._write_transport = reader, read_transport, write_transport
        self.uid = lease.uid if lease else None
        self.killed = False

    @classmethod
    async def spawn(cls, plan: LaunchPlan, *, max_message_bytes: int) -> SessionProcess:
        """Start a session worker (it then waits for its init message)."""
        lease = lease_uid(plan.run_as_uid) if plan.run_as_uid is not None else None
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in kill)
        try:
            proc = subprocess.Popen(session_command(plan, to_worker_r, from_worker_w), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=stderr, env=worker_env(),
                                    pass_fds=(to_worker_r, from_worker_w), start_new_session=True, close_fds=True)
        except BaseException:
            for fd in (to_worker_r, to_worker_w, from_worker_r, from_worker_w):
                os.close(fd)
            stderr.close()
            if lease is not None:
                lease.release()
            raise
        os.close(to_worker_r)
        os.close(from_worker_w)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=max_message_bytes)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_worker_r, "rb", buffering=0))
        write_transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(to_worker_w, "wb", buffering=0))
        return cls(proc, stderr, lease, reader, read_transport, write_transport)

    @property
    def pid(self) -> int:
        """The host pid of the outermost process (bwrap, unshare or python)."""
        return self._proc.pid

    def returncode(self) -> int | None:
        """The exit status, None while it runs."""
        return self._proc.poll()

    def send(self, message: dict[str, Any]) -> None:
        """Queue one message for the worker; raises ``SessionLost`` if its pipe is closed."""
        if self._write_transport.is_closing():
            raise SessionLost("the session's input pipe is closed")
        self._write_transport.write((json.dumps(message, ensure_ascii=False) + "\n").encode())

    async def receive(self, timeout_s: float | None) -> dict[str, Any]:
        """The next message; raises ``TimeoutError`` after ``timeout_s``, ``SessionLost`` at EOF or on garbage."""
        try:
            async with asyncio.timeout(timeout_s):
                line = await self._reader.readline()
        except ValueError as exc:  # longer than the reader's limit
            raise SessionLost(f"the session sent a message larger than the limit ({exc})") from exc
        if not line.endswith(b"\n"):
            raise SessionLost("the session process exited")
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise SessionLost(f"the session sent a line that is not JSON: {line[:200]!r}") from exc
        if not isinstance(message, dict):
            raise SessionLost(f"the session sent {type(message).__name__}, not an object")
        return message

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what the worker (or bwrap) wrote on stderr."""
        return file_tail(self._stderr, limit)

    def _close_pipes(self) -> None:
        self._write_transport.close()
        self._read_transport.close()

    def kill_now(self) -> None:
        """Kill the process group and every process of the session's uid, then release the uid (blocking)."""
        if self.killed:
            return
        self.killed = True
        with contextlib.suppress(OSError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=KILL_WAIT_S)
        if self.uid is not None:
            kill_uid(self.uid)
        if self._lease is not None:
            self._lease.release()
        with contextlib.suppress(OSError):
            self._stderr.close()

    def abort(self) -> None:
        """``kill`` without awaiting (on the loop's thread, e.g. when a cell is cancelled); blocks briefly."""
        self._close_pipes()
        self.kill_now()

    async def kill(self) -> None:
        """Close the pipes and kill everything the session ran."""
        self._close_pipes()
        await asyncio.to_thread(self.kill_now)

    async def close(self, grace_s: float = 1.0) -> None:
        """Ask the worker to exit (EOF on its input), give it ``grace_s``, then make sure it is gone."""
        self._write_transport.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(self._proc.wait, grace_s)
        await self.kill()
