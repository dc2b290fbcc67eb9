"""The sandbox interface every backend implements, and the values it exchanges."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

__all__ = ["IsolationLevel", "Limits", "RunResult", "Sandbox", "ToolFailure"]

IsolationLevel = Literal["bwrap", "unshare", "none", "docker"]


class Limits(BaseModel):
    """Resource limits for one call; ``Limits.from_settings`` gives the configured defaults."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float = Field(default=10.0, gt=0)
    cpu_s: int = Field(default=10, ge=1)
    memory_mb: int = Field(default=512, ge=64)
    max_processes: int = Field(default=32, ge=1)
    max_open_files: int = Field(default=64, ge=16)
    max_file_size_mb: int = Field(default=16, ge=1)
    max_output_bytes: int = Field(default=1 << 20, ge=1024)
    max_result_bytes: int = Field(default=1 << 20, ge=1024)

    @classmethod
    def from_settings(cls, settings: SandboxSettings) -> Limits:
        """The default limits configured in ``settings``."""
        return cls(
            timeout_s=settings.timeout_s,
            cpu_s=settings.cpu_s,
            memory_mb=settings.memory_mb,
            max_processes=settings.max_processes,
            max_open_files=settings.max_open_files,
            max_file_size_mb=settings.max_file_size_mb,
            max_output_bytes=settings.max_output_bytes,
            max_result_bytes=settings.max_result_bytes,
        )


class ToolFailure(BaseModel):
    """Why a call did not return a value.

    ``type`` is the tool's exception class name (``ValueError``) or one of the sandbox's own
    kinds: ``Timeout``, ``CPULimit``, ``MemoryLimit``, ``OutputLimit``, ``ResultNotJSON``,
    ``ResultTooLarge``, ``Crashed`` (killed by a signal), ``Exited`` (``sys.exit``/``os._exit``),
    ``EntrypointMissing``, ``SyntaxError``, ``WorkerLost``.
    """

    type: str
    message: str
    traceback: str = Field(default="", description="Only the tool's own frames.")


class RunResult(BaseModel):
    """The outcome of one sandboxed call."""

    ok: bool
    value: Any = None
    error: ToolFailure | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = Field(default=False, description="stdout/stderr were cut at the output limit.")
    duration_ms: float = 0.0
    peak_memory_bytes: int | None = None
    isolation: IsolationLevel


@runtime_checkable
class Sandbox(Protocol):
    """Runs a tool's entrypoint on JSON arguments somewhere it cannot hurt the caller.

    Implementations are thread-safe; ``run`` blocks until the call ends. A tool that raises,
    hangs or breaks a limit yields ``RunResult(ok=False)``; ``SandboxError`` means the sandbox
    itself is unusable.
    """

    @property
    def isolation(self) -> IsolationLevel:
        """The isolation level calls actually run under."""
        ...

    def start(self) -> None:
        """Start the workers now rather than on the first call (servers do this at startup)."""
        ...

    def run(self, spec: ToolSpec, args: dict[str, Any], limits: Limits | None = None) -> RunResult:
        """Call ``spec.entrypoint(**args)`` in the sandbox and return what happened."""
        ...

    def close(self) -> None:
        """Stop every worker and release what the sandbox holds."""
        ...
