"""The host's side of the worker protocol (``toolbox.sandbox.worker``), shared by every backend.

``WorkerClient`` talks to one worker over a ``Transport`` (the process backend's pipes, the docker
backend's attach socket): it writes a call, reads the answer synchronously in the calling thread
with a deadline (no thread hand-offs), forwards a ``CancelToken``'s cancel as a cancel frame, and
reads the worker's ``ready`` frames. ``encode_call`` and ``decode_result`` turn a call into frames
and an answer into a ``RunResult``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from toolbox.errors import SandboxError
from toolbox.sandbox.base import CancelToken, IsolationLevel, Limits, RunResult, ToolFailure
from toolbox.sandbox.worker.frames import FrameBuffer, FrameTooLarge, frame, message
from toolbox.spec import ToolSpec

__all__ = ["PROTOCOL", "Transport", "WorkerClient", "WorkerDied", "WorkerHung", "decode_result", "encode_call",
           "failure_result"]

PROTOCOL = 3
MAX_CONTROL_FRAME = 1 << 20
_CACHE_ENTRIES = 1024
_ids = itertools.count(1)


class WorkerDied(SandboxError):
    """The worker closed its end or sent something that is not the protocol."""


class WorkerHung(SandboxError):
    """The worker did not answer before the host's deadline."""


class Transport(Protocol):
    """A byte stream to one worker's stdin and from its stdout."""

    def fileno(self) -> int:
        """What ``select`` waits on for the worker's output."""
        ...

    def write(self, data: bytes) -> None:
        """Write all of ``data`` to the worker's stdin; raises ``OSError`` when it is gone."""
        ...

    def read(self) -> bytes | None:
        """Bytes of the worker's stdout now readable (b"": none yet, e.g. only stderr arrived); None at EOF."""
        ...


class WorkerClient:
    """One worker's conversation: calls, cancels and ready frames. One call at a time; ``cancel`` from any thread."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.info: dict[str, Any] = {}
        self._frames = FrameBuffer()
        self._write_lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def _fill(self, deadline: float | None) -> None:
        """Read once, waiting until ``deadline`` (None: do not wait); raises when the worker is gone or late."""
        fd = self.transport.fileno()
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise WorkerHung("the worker did not answer in time")
        ready, _, _ = select.select([fd], [], [], 0 if deadline is None else timeout)
        if not ready:
            if deadline is None:
                return
            raise WorkerHung("the worker did not answer in time")
        try:
            data = self.transport.read()
        except OSError as exc:
            raise WorkerDied(f"could not read from the worker: {exc}") from exc
        if data is None:
            raise WorkerDied("the worker exited")
        self._frames.feed(data)

    def _payload(self, deadline: float, max_bytes: int) -> bytes:
        while True:
            try:
                payload = self._frames.pop(max_bytes)
            except FrameTooLarge as exc:
                raise WorkerDied(f"the worker's answer is too large: {exc}") from exc
            if payload is not None:
                return payload
            self._fill(deadline)

    def _message(self, deadline: float) -> dict[str, Any]:
        payload = self._payload(deadline, MAX_CONTROL_FRAME)
        try:
            value = json.loads(payload)
        except ValueError as exc:
            raise WorkerDied(f"the worker sent a frame that is not JSON: {payload[:200]!r}") from exc
        if not isinstance(value, dict):
            raise WorkerDied(f"the worker sent {type(value).__name__}, not an object")
        return value

    # ------------------------------------------------------------------ the conversation

    def wait_started(self, timeout_s: float) -> dict[str, Any]:
        """The worker's first ``ready`` frame (its info); raises ``SandboxError`` when it does not come."""
        info = self._message(time.monotonic() + timeout_s)
        if info.get("op") != "ready" or info.get("protocol") != PROTOCOL:
            raise WorkerDied(f"the worker sent {info!r} instead of its ready frame (protocol {PROTOCOL})")
        self.info = info
        return info

    def await_ready(self, timeout_s: float) -> None:
        """Wait for the ``ready`` frame that follows a call's answer."""
        ready = self._message(time.monotonic() + timeout_s)
        if ready.get("op") != "ready":
            raise WorkerDied(f"the worker sent {ready!r} instead of its ready frame")

    def poll_ready(self) -> bool:
        """Whether the ``ready`` frame after the last call has arrived (consumes it); never blocks."""
        if len(self._frames) == 0:
            self._fill(None)
        try:
            payload = self._frames.pop(MAX_CONTROL_FRAME)
        except FrameTooLarge as exc:
            raise WorkerDied(f"the worker sent too much instead of its ready frame: {exc}") from exc
        if payload is None:
            return False
        try:
            ready = json.loads(payload)
        except ValueError:
            ready = None
        if not isinstance(ready, dict) or ready.get("op") != "ready":
            raise WorkerDied(f"the worker sent {payload[:200]!r} instead of its ready frame")
        return True

    def call(self, data: bytes, call_id: str, deadline: float, max_bytes: int,
             cancel: CancelToken | None) -> tuple[dict[str, Any], bytes]:
        """Send one call (``encode_call``); return the answer's header and body. ``cancel`` sends a cancel frame."""
        try:
            with self._write_lock:
                self.transport.write(data)
        except OSError as exc:
            raise WorkerDied(f"could not write to the worker: {exc}") from exc
        forget: Callable[[], None] | None = None
        if cancel is not None:
            forget = cancel.on_cancel(lambda: self._send_cancel(call_id))
        try:
            done = self._message(deadline)
            body = self._payload(deadline, max_bytes)
        finally:
            if forget is not None:
                forget()
        if done.get("op") != "done" or done.get("id") != call_id:
            raise WorkerDied(f"the worker answered {str(done)[:200]} to call {call_id}")
        return done, body

    def _send_cancel(self, call_id: str) -> None:
        try:
            with self._write_lock:
                self.transport.write(message({"op": "cancel", "id": call_id}))
        except OSError:  # it is gone: the caller's read says so
            pass


# ---------------------------------------------------------------------- requests and results

_limits_json: dict[Limits, str] = {}
_specs: dict[tuple[str, str, str], tuple[str, bytes]] = {}


def _limits_text(limits: Limits) -> str:
    text = _limits_json.get(limits)
    if text is None:
        if len(_limits_json) >= _CACHE_ENTRIES:
            _limits_json.clear()
        text = _limits_json[limits] = limits.model_dump_json()
    return text


def _spec_parts(spec: ToolSpec) -> tuple[str, bytes]:
    """(code id, the body frame's text up to its arguments) of ``spec``, cached."""
    key = (spec.name, spec.entrypoint, spec.source)
    parts = _specs.get(key)
    if parts is None:
        if len(_specs) >= _CACHE_ENTRIES:
            _specs.clear()
        code = hashlib.sha256("\0".join(key).encode("utf-8", "surrogatepass")).hexdigest()[:32]
        head = json.dumps({"source": spec.source, "entrypoint": spec.entrypoint, "tool_name": spec.name},
                          ensure_ascii=False)
        parts = _specs[key] = (code, f'{head[:-1]}, "args": '.encode("utf-8", "surrogatepass"))
    return parts


def encode_call(spec: ToolSpec, args_json: str, limits: Limits) -> tuple[str, bytes]:
    """(call id, the frames of one call) for ``spec`` on arguments already serialised to ``args_json``."""
    call_id = f"{next(_ids):x}"
    code, body_head = _spec_parts(spec)
    header = f'{{"op": "call", "id": "{call_id}", "code": "{code}", "limits": {_limits_text(limits)}}}'
    body = body_head + args_json.encode("utf-8", "surrogatepass") + b"}"
    return call_id, frame(header.encode()) + frame(body)


def failure_result(kind: str, message_text: str, isolation: IsolationLevel, duration_ms: float = 0.0) -> RunResult:
    """A failed ``RunResult`` of one of the sandbox's own kinds."""
    return RunResult(ok=False, error=ToolFailure(type=kind, message=message_text), duration_ms=duration_ms,
                     isolation=isolation)


def _failure(raw: object) -> ToolFailure:
    fields = raw if isinstance(raw, dict) else {"type": "WorkerLost", "message": f"a malformed error: {raw!r}"[:500]}
    return ToolFailure(type=str(fields.get("type", "Error")), message=str(fields.get("message", "")),
                       traceback=str(fields.get("traceback", "")))


def decode_result(done: dict[str, Any], body: bytes, isolation: IsolationLevel) -> RunResult:
    """The ``RunResult`` of an answer: the worker's verdict, else the child's result (checked: it is untrusted)."""
    duration = done.get("duration_ms")
    duration_ms = float(duration) if isinstance(duration, int | float) else 0.0
    if done.get("error") is not None:
        peak = done.get("peak_memory_bytes")
        return RunResult(ok=False, error=_failure(done["error"]), duration_ms=duration_ms,
                         peak_memory_bytes=peak if isinstance(peak, int) and peak >= 0 else None, isolation=isolation)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return failure_result("Crashed", "the tool's process sent a malformed result", isolation, duration_ms)
    error = _failure(data["error"]) if data.get("error") is not None else None
    ok = data["ok"] and error is None
    rss = data.get("rss_kb")
    return RunResult(
        ok=ok, value=data.get("value") if ok else None, error=error, stdout=str(data.get("stdout", "")),
        stderr=str(data.get("stderr", "")), truncated=data.get("truncated") is True, duration_ms=duration_ms,
        peak_memory_bytes=rss * 1024 if isinstance(rss, int) and rss >= 0 else None, isolation=isolation,
    )
