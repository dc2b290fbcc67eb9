"""``LocalServer``: llama.cpp's OpenAI-compatible server on a pulled GGUF, as a child process.

It runs ``python -m llama_cpp.server`` (the optional ``distillery[local]`` extra) on 127.0.0.1 and a
free port, writes the server's output to ``<data_dir>/logs/``, waits until ``GET /v1/models``
answers, and terminates the process on ``stop()`` or when the ``with`` block ends.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from toolbox.errors import ConfigError
from toolbox.llm.local.catalog import CATALOG, LocalModelError, model_path
from toolbox.logging import get_logger
from toolbox.settings import Settings

__all__ = ["INSTALL_HINT", "CommandBuilder", "LocalServer", "free_port", "llama_cpp_installed", "require_runtime"]

log = get_logger("llm.local")

INSTALL_HINT = (
    "the local model runtime is not installed; run: pip install 'distillery[local]' "
    "(or scripts/dev.sh setup-local, which caches the wheel)"
)
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")

CommandBuilder = Callable[[Path, int], Sequence[str]]
"""Builds the server's argv from the model file and the port (tests pass a stand-in server)."""


def llama_cpp_installed() -> bool:
    """Whether ``llama_cpp`` and its server's dependencies can be imported (nothing is imported)."""
    return all(importlib.util.find_spec(module) is not None for module in _SERVER_MODULES)


def require_runtime() -> None:
    """Raise ConfigError with the install command when the local runtime is missing."""
    if not llama_cpp_installed():
        raise ConfigError(INSTALL_HINT)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class LocalServer:
    """llama.cpp's OpenAI-compatible server for one local model; a context manager.

    ``base_url`` (``http://127.0.0.1:<port>/v1``) and ``model`` (the id to send) are set on
    ``start()``. ``command`` replaces the llama.cpp command line (for tests); then the runtime
    check is skipped.
    """

    def __init__(
        self,
        settings: Settings,
        name: str,
        *,
        port: int | None = None,
        command: CommandBuilder | None = None,
        poll_s: float = 0.25,
    ) -> None:
        self.settings = settings
        self.name = name
        self.model = name
        self.host = settings.local.host
        self.port = port if port is not None else settings.local.port
        self.base_url = ""
        self.log_path: Path | None = None
        self._command = command
        self._poll_s = poll_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"LocalServer(name={self.name!r}, base_url={self.base_url or None!r}, running={self.running})"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def llama_command(self, model_file: Path, port: int) -> list[str]:
        """The ``python -m llama_cpp.server`` command line for ``model_file`` on ``port``."""
        local = self.settings.local
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(model_file), "--model_alias", self.model,
            "--host", self.host, "--port", str(port), "--n_threads", str(local.n_threads),
            "--n_ctx", str(local.n_ctx),
        ]
        entry = CATALOG.get(self.name)
        if entry is not None and entry.chat_format is not None:
            command += ["--chat_format", entry.chat_format]
        return command

    def start(self) -> LocalServer:
        """Start the server and wait until it answers; LocalModelError (with its log) when it does not."""
        if self._process is not None:
            return self
        if self._command is None:
            require_runtime()
        model_file = model_path(self.settings, self.name)
        port = self.port or free_port(self.host)
        argv = list((self._command or self.llama_command)(model_file, port))
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        label = self.name if self.name in CATALOG else model_file.stem
        self.log_path = logs / f"local-{label}.log"  # the latest start of each model
        self._log = self.log_path.open("wb")
        self.base_url = f"http://{self.host}:{port}/v1"
        log.info("starting local model %s on %s (log: %s)", self.name, self.base_url, self.log_path)
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            env=self._environment(),
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _environment() -> dict[str, str]:
        # llama.cpp's OpenMP threads spin while they wait; on a shared or busy CPU that makes decoding
        # about ten times slower (1.3 against 12 tokens/s measured at load 7 on 2 cores), so they sleep.
        return {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PYTHONUNBUFFERED": "1"}

    def _wait_ready(self) -> None:
        timeout = self.settings.local.start_timeout_s
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if not self.running:
                    code = self._process.returncode if self._process else None
                    raise LocalModelError(
                        f"the local model server for {self.name} exited with code {code} while starting; "
                        f"last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.base_url}/models").status_code == 200:
                        log.info("local model %s is ready at %s", self.name, self.base_url)
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() >= deadline:
                    raise LocalModelError(
                        f"the local model server for {self.name} did not answer within {timeout:g}s "
                        f"(raise DISTILLERY_LOCAL__START_TIMEOUT_S); last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                time.sleep(self._poll_s)

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the server wrote."""
        if self.log_path is None or not self.log_path.is_file():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").rstrip()
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def wait(self) -> int:
        """Block until the server exits; return its exit code."""
        if self._process is None:
            raise LocalModelError("the local model server was not started")
        return self._process.wait()

    def stop(self, grace_s: float = 10.0) -> None:
        """Terminate the server (kill it after ``grace_s``); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                log.warning("local model server %s ignored SIGTERM; killing it", self.name)
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
