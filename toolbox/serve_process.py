"""A ``distillery serve`` subprocess on a free loopback port: start, wait for ``/health``, stop cleanly.

The evaluation harness starts one for a run (the student may not import the server) and the tests
start them for end-to-end checks. The process runs in its own session, so ``stop()`` also ends what
it left behind (sandbox workers, a local model server).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from toolbox.errors import ToolboxError

__all__ = ["ServeFailed", "ServeProcess", "distillery_command", "free_port"]


class ServeFailed(ToolboxError):
    """``distillery serve`` exited or did not answer ``/health`` in time (the message has its log)."""


def distillery_command() -> list[str]:
    """How to run the ``distillery`` console script of this interpreter (or the one on ``PATH``)."""
    exe = Path(sys.executable).with_name("distillery")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("distillery")
    return [found] if found else [sys.executable, "-c", "from toolbox.cli import main; main()"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class ServeProcess:
    """``distillery serve`` on a free loopback port (``url``); ``wait_ready()`` then ``stop()``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, host: str = "127.0.0.1",
                 cwd: Path | None = None, extra_args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*distillery_command(), "serve", "--host", host, "--port", str(self.port), *extra_args],
                env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    @classmethod
    def start(cls, env: Mapping[str, str], log_path: Path, *, attempts: int = 1, timeout_s: float = 60.0,
              cwd: Path | None = None) -> ServeProcess:
        """A ready server; with ``attempts`` > 1, retried on a new port (another process may take the first)."""
        for attempt in range(attempts):
            server = cls(env, log_path, cwd=cwd)
            try:
                return server.wait_ready(timeout_s)
            except ServeFailed:
                server.stop()
                if attempt == attempts - 1:
                    raise
        raise ValueError("attempts must be at least 1")

    def wait_ready(self, timeout_s: float = 60.0) -> ServeProcess:
        """Block until ``/health`` answers 200; raise ``ServeFailed`` with the log's tail otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise ServeFailed(f"distillery serve exited with {self.process.returncode} before it was healthy:\n"
                                  f"{self.log(3000)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            if time.monotonic() >= deadline:
                raise ServeFailed(f"distillery serve did not answer {self.url}/health within {timeout_s:.0f} s:\n"
                                  f"{self.log(3000)}")
            time.sleep(0.1)

    def log(self, chars: int | None = None) -> str:
        """What the server wrote so far (the last ``chars`` characters when given)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return text if chars is None else text[-chars:]

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the server, SIGKILL it after ``grace_s``, then SIGKILL what is left of its group."""
        process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_s)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
