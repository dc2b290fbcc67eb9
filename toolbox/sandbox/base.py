"""The sandbox interface every backend implements, and the values it exchanges.

Cancelling a call
-----------------
``Sandbox.run`` takes an optional ``cancel=CancelToken()``. ``token.cancel()`` may be called from any
thread (or from an event loop, e.g. when the MCP request that wanted the result is cancelled):

* before the call has a worker: ``run`` returns at once without running anything;
* while the tool runs: the worker kills the call's process (and everything it started) at once, the
  worker is free for the next call as soon as it has cleaned up, and ``run`` returns;
* after ``run`` returned: nothing happens (cancelling is a no-op).

A cancelled run returns ``RunResult(ok=False, error=ToolFailure(type="Cancelled", ...))``
(``result.cancelled`` is true); it never raises for the cancellation itself. A token is sticky (once
cancelled it stays cancelled) and may be shared by several runs. From async code::

    token = CancelToken()
    try:
        result = await anyio.to_thread.run_sync(
            functools.partial(sandbox.run, spec, args, limits, cancel=token), abandon_on_cancel=True)
    finally:
        token.cancel()  # a no-op when the run has finished; frees the worker when the await was cancelled

(``toolbox.sandbox.cancel.run_in_thread`` does exactly this with asyncio.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from toolbox.settings import SandboxLimits, SandboxSettings
from toolbox.spec import ToolSpec

__all__ = ["CANCELLED", "CancelToken", "IsolationLevel", "Limits", "RunResult", "Sandbox", "ToolFailure"]

IsolationLevel = Literal["bwrap", "unshare", "none", "docker"]
CANCELLED = "Cancelled"


class Limits(SandboxLimits):
    """Resource limits for one call (the fields and defaults of ``SandboxLimits``), immutable.

    ``Limits.from_settings`` gives the configured defaults.
    """

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_settings(cls, settings: SandboxSettings) -> Limits:
        """The default limits configured in ``settings``."""
        return cls(**{name: getattr(settings, name) for name in SandboxLimits.model_fields})


class ToolFailure(BaseModel):
    """Why a call did not return a value.

    ``type`` is the tool's exception class name (``ValueError``) or one of the sandbox's own
    kinds: ``Timeout``, ``CPULimit``, ``MemoryLimit``, ``OutputLimit``, ``ResultNotJSON``,
    ``ResultTooLarge``, ``Crashed`` (killed by a signal), ``Exited`` (``sys.exit``/``os._exit``),
    ``EntrypointMissing``, ``SyntaxError``, ``ArgumentsNotJSON``, ``WorkerLost``, ``Cancelled``.
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

    @property
    def cancelled(self) -> bool:
        """Whether the call ended because its ``CancelToken`` was cancelled."""
        return self.error is not None and self.error.type == CANCELLED


class CancelToken:
    """Cancels the sandbox runs it is passed to (see the module docstring); thread-safe."""

    __slots__ = ("_callbacks", "_cancelled", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel`` has been called."""
        return self._cancelled

    def cancel(self) -> None:
        """Cancel every run using this token now and later; idempotent."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` (once, on the cancelling thread) when cancelled; returns a function that unregisters it.

        Runs it at once when the token is already cancelled. For backends; callers only ``cancel``.
        """
        with self._lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


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

    def run(self, spec: ToolSpec, args: dict[str, Any], limits: Limits | None = None, *,
            cancel: CancelToken | None = None) -> RunResult:
        """Call ``spec.entrypoint(**args)`` in the sandbox and return what happened; ``cancel`` stops it early."""
        ...

    def close(self) -> None:
        """Stop every worker and release what the sandbox holds."""
        ...
