"""A real ``distillery serve`` subprocess for tests: free port, ``/health`` wait, clean stop.

Used by the server tests, the end-to-end session box and the uvicorn API test. The process runs
in its own session, so ``stop()`` can also end whatever it left behind (sandbox workers).
(``benchmarks/mcp_server.py`` keeps its own copy: benchmarks run without the test tree.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

__all__ = ["DISTILLERY", "ServerNotReady", "ServerProcess", "free_port"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _distillery() -> str:
    exe = Path(sys.executable).with_name("distillery")
    return str(exe) if exe.exists() else str(_REPO_ROOT / ".venv" / "bin" / "distillery")


DISTILLERY = _distillery()


class ServerNotReady(AssertionError):
    """``distillery serve`` exited or did not answer ``/health`` in time (the message has its log)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class ServerProcess:
    """``distillery serve`` on a free loopback port; ``wait_ready()`` then ``stop()``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, host: str = "127.0.0.1",
                 cwd: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [DISTILLERY, "serve", "--host", host, "--port", str(self.port)], env=dict(env), cwd=cwd,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    @classmethod
    def start(cls, env: Mapping[str, str], log_path: Path, *, attempts: int = 1, timeout_s: float = 60.0,
              cwd: Path | None = None) -> ServerProcess:
        """A ready server; with ``attempts`` > 1, retried on a new port (another process may take the first)."""
        for attempt in range(attempts):
            server = cls(env, log_path, cwd=cwd)
            try:
                return server.wait_ready(timeout_s)
            except ServerNotReady:
                server.stop()
                if attempt == attempts - 1:
                    raise
        raise ValueError("attempts must be at least 1")

    def wait_ready(self, timeout_s: float = 60.0) -> ServerProcess:
        """Block until ``/health`` answers 200; raise ``ServerNotReady`` with the log otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise ServerNotReady(f"distillery serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() >= deadline:
                raise ServerNotReady(f"distillery serve did not become healthy in {timeout_s} s:\n{self.log()}")
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
