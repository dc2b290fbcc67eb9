"""A stateful sandbox session: the cells of one task run in one sandboxed process that keeps their globals.

``open_session`` gives a ``SandboxSession`` (``async with open_session(settings) as session:``). Each
``run_cell`` runs Python in the session worker (``worker/session.py``) under the process backend's
isolation (bubblewrap or unshare namespaces, a leased unprivileged uid when root, a clean
environment, a scratch working directory, no network) and the rlimits of ``Limits``: ``memory_mb``
on top of the session's start, ``max_processes``, ``max_open_files``, ``max_file_size_mb`` for the
whole session (a cell's own limits can only lower them) and ``cpu_s`` per cell (exceeded: the cell
fails with ``CPULimit`` and the session keeps its globals). ``timeout_s`` is the wall-clock limit of
one cell, not counting the time the host spends in ``SessionFunction`` calls; a cell that runs past
it has its whole session killed, and the next cell starts a fresh one (``timed_out`` and
``restarted``: every variable is lost).

``SessionFunction``\\ s are host callables the cells see as plain Python functions (the student's
``code`` mode routes them to MCP ``tools/call``; the teacher exposes box tools). Imports in cells are
limited to ``settings.allowed_imports``; that hook guides well-meaning code, the isolation is what
contains hostile code.
"""

from __future__ import annotations

import asyncio
import json
import keyword
import os
import shutil
import tempfile
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, Field, ValidationError

from toolbox.errors import SandboxError, SpecError, ToolboxError
from toolbox.logging import get_logger
from toolbox.sandbox.base import IsolationLevel, Limits, ToolFailure
from toolbox.sandbox.isolation import LaunchPlan, plan_launch
from toolbox.sandbox.session_process import SessionLost, SessionProcess
from toolbox.settings import SandboxSettings

__all__ = ["CellResult", "SandboxSession", "SessionFunction", "observation", "open_session"]

log = get_logger("sandbox.session")
RESERVED_NAMES = frozenset({"final_answer"})
START_TIMEOUT_S = 60.0
LOST = "every variable, import and function defined so far is lost"
LOST_NOTE = f"a fresh session starts with the next cell: {LOST}"


@dataclass(frozen=True)
class SessionFunction:
    """A host function callable by name inside a session; positional arguments map to ``parameters`` in order.

    ``call`` receives the arguments the cell passed (by name) and returns a JSON value; raising
    ``ToolboxError(msg)`` makes the call in the cell raise ``RuntimeError(msg)``.
    """

    name: str
    parameters: list[str]
    description: str
    call: Callable[[dict[str, Any]], Awaitable[Any]]

    def __post_init__(self) -> None:
        for what in (self.name, *self.parameters):
            if not what.isidentifier() or keyword.iskeyword(what):
                raise SpecError(f"session function {self.name!r}: {what!r} is not a Python identifier; use "
                                "letters, digits and underscores (e.g. a tool 'math.add' as 'math_add')")
        if self.name in RESERVED_NAMES:
            raise SpecError(f"session function name {self.name!r} is reserved by the session; rename it")
        if len(set(self.parameters)) != len(self.parameters):
            raise SpecError(f"session function {self.name!r} lists a parameter twice: {self.parameters}")


class CellResult(BaseModel):
    """What one cell did: its output, error, final answer and the host calls it made."""

    ok: bool
    stdout: str = ""
    stderr: str = ""
    error: ToolFailure | None = None
    final_answer: str | None = Field(default=None, description="str(x) of the cell's last final_answer(x).")
    timed_out: bool = False
    restarted: bool = Field(default=False, description="The session was restarted: its globals are lost.")
    truncated: bool = Field(default=False, description="stdout/stderr were cut at max_output_bytes.")
    duration_ms: float = 0.0
    calls: list[dict[str, Any]] = Field(default_factory=list,
                                        description='{"name", "args", "ok", "value" | "error"} per host call.')


def _kill_on_collect(holder: list[SessionProcess | None], scratch: list[str]) -> None:
    """A session dropped without ``close()``: kill its process, delete its scratch root."""
    process = holder[0]
    if process is not None:
        process.kill_now()
    for path in scratch:
        shutil.rmtree(path, ignore_errors=True)


class SandboxSession:
    """One task's stateful sandbox; cells run one at a time (concurrent ``run_cell`` calls queue).

    ``bwrap_path``/``unshare_path`` override where the isolation binaries are looked up.
    """

    def __init__(self, settings: SandboxSettings, *, functions: Sequence[SessionFunction] = (),
                 limits: Limits | None = None, prelude: str = "", bwrap_path: str | None = None,
                 unshare_path: str | None = None, start_timeout_s: float = START_TIMEOUT_S) -> None:
        """``prelude`` is code run before the first cell and again after every restart (e.g. imports)."""
        names = [f.name for f in functions]
        if len(set(names)) != len(names):
            raise SpecError(f"two session functions share a name: {sorted(n for n in names if names.count(n) > 1)}")
        self._settings = settings
        self._functions = {f.name: f for f in functions}
        self._limits = limits or Limits.from_settings(settings)
        self._prelude = prelude
        self._bwrap_path, self._unshare_path = bwrap_path, unshare_path
        self._start_timeout_s = start_timeout_s
        self._plan: LaunchPlan | None = None
        self._scratch_root: str | None = None
        self._scratch_roots: list[str] = []  # the same, for the finalizer
        self._process: list[SessionProcess | None] = [None]  # a list: the finalizer must see replacements
        self._lock = asyncio.Lock()
        self._closed = False
        self.restarts = 0
        self._finalizer = weakref.finalize(self, _kill_on_collect, self._process, self._scratch_roots)

    @property
    def isolation(self) -> IsolationLevel:
        """The isolation level cells run under (known once the session has started)."""
        if self._plan is None:
            raise SandboxError("the session has not started yet: use `async with open_session(...)` or start()")
        return cast(IsolationLevel, self._plan.level)

    async def __aenter__(self) -> SandboxSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the session process now (otherwise the first cell does); raises ``SandboxError``."""
        async with self._lock:
            await self._ensure_process()

    async def close(self) -> None:
        """Stop the session process and delete its files; idempotent."""
        self._closed = True
        async with self._lock:
            process, self._process[0] = self._process[0], None
            if process is not None:
                await process.close()
            if self._scratch_root:
                shutil.rmtree(self._scratch_root, ignore_errors=True)
                self._scratch_root = None

    # ------------------------------------------------------------------ process lifecycle

    async def _ensure_process(self) -> SessionProcess:
        if self._closed:
            raise SandboxError("the sandbox session is closed")
        process = self._process[0]
        if process is not None:
            return process
        plan = self._plan or await self._make_plan()
        limits = self._limits
        try:
            process = await SessionProcess.spawn(plan, max_message_bytes=8 * limits.max_output_bytes + (4 << 20))
        except OSError as exc:
            raise SandboxError(f"could not start the sandbox session process: {exc}") from exc
        self._process[0] = process
        init = {"op": "init", "uid": process.uid, "preload": list(self._settings.preload_modules),
                "allowed_imports": list(self._settings.allowed_imports), "limits": limits.model_dump(),
                "functions": [{"name": f.name, "parameters": f.parameters, "description": f.description}
                              for f in self._functions.values()]}
        try:
            process.send(init)
            ready = await process.receive(self._start_timeout_s)
            if ready.get("op") != "ready":
                raise SessionLost(f"the session sent {ready!r} instead of its ready message")
        except (SessionLost, TimeoutError) as exc:
            stderr = process.stderr_tail()
            await self._discard()
            why = str(exc) or "no ready message in time"
            raise SandboxError(f"the sandbox session failed to start: {why}; stderr: {stderr!r}") from exc
        except BaseException:  # cancelled while starting: never leave a half-started process behind
            self._process[0] = None
            process.abort()
            raise
        missing = ready.get("preload_failed")
        if missing:
            log.warning("sandbox session could not preload %s", missing)
        if self._prelude:
            result = await self._converse(process, self._prelude, self._limits, time.monotonic())
            if not result.ok:
                await self._discard()
                raise SandboxError(f"the sandbox session's prelude failed: {observation(result)}")
        return process

    async def _make_plan(self) -> LaunchPlan:
        """Probe the isolation level once per session (restarts reuse the plan)."""
        if self._settings.isolation != "bwrap":
            self._scratch_root = tempfile.mkdtemp(prefix="distillery-session-")
            os.chmod(self._scratch_root, 0o711)
            self._scratch_roots.append(self._scratch_root)
        plan: LaunchPlan = await asyncio.to_thread(
            plan_launch, self._settings, bwrap_path=self._bwrap_path, unshare_path=self._unshare_path,
            scratch_root=self._scratch_root or "/tmp")
        if plan.level == "none":
            log.warning("sandbox session isolation is 'none': cells can reach the network and the filesystem")
        self._plan = plan
        return plan

    async def _discard(self) -> None:
        process, self._process[0] = self._process[0], None
        if process is not None:
            await process.kill()
            self.restarts += 1

    # ------------------------------------------------------------------ cells

    async def run_cell(self, code: str, *, limits: Limits | None = None) -> CellResult:
        """Run ``code`` in the session; its globals stay for the next cell. Raises ``SandboxError`` if closed."""
        limits = limits or self._limits
        async with self._lock:
            process = await self._ensure_process()
            started = time.monotonic()
            try:
                return await self._converse(process, code, limits, started)
            except asyncio.CancelledError:
                self._process[0] = None  # the worker is mid-cell: it cannot be used again
                process.abort()
                raise

    async def _converse(self, process: SessionProcess, code: str, limits: Limits, started: float) -> CellResult:
        cell_id = uuid.uuid4().hex
        calls: list[dict[str, Any]] = []
        deadline = started + limits.timeout_s
        try:
            process.send({"op": "cell", "id": cell_id, "code": code, "limits": limits.model_dump()})
            while True:
                message = await process.receive(max(0.0, deadline - time.monotonic()))
                if message.get("op") == "call":
                    call_started = time.monotonic()
                    process.send(await self._serve_call(message, calls))
                    deadline += time.monotonic() - call_started  # host time does not count against the cell
                elif message.get("op") == "done" and message.get("id") == cell_id:
                    return await self._finished(message, calls, started)
        except TimeoutError:
            await self._discard()
            return self._failed(started, calls, "Timeout", (
                f"the cell ran longer than {limits.timeout_s:g} s (wall clock) and was stopped; the session was "
                f"restarted: {LOST}"), timed_out=True)
        except SessionLost as exc:
            returncode = process.returncode()
            await self._discard()
            how = f"exit status {returncode}" if returncode is not None else str(exc)
            kind = "Crashed" if returncode is not None and (returncode < 0 or returncode > 128) else "WorkerLost"
            return self._failed(started, calls, kind, f"the session process died during the cell ({how}); "
                                                      f"{LOST_NOTE}")

    def _failed(self, started: float, calls: list[dict[str, Any]], kind: str, message: str, *,
                timed_out: bool = False) -> CellResult:
        return CellResult(ok=False, error=ToolFailure(type=kind, message=message), timed_out=timed_out,
                          restarted=True, duration_ms=(time.monotonic() - started) * 1000.0, calls=calls)

    async def _finished(self, message: dict[str, Any], calls: list[dict[str, Any]], started: float) -> CellResult:
        recycle = bool(message.get("recycle"))
        if recycle:
            log.warning("sandbox session could not clean up after a cell; restarting it")
            await self._discard()
        try:
            raw_error = message.get("error")
            error = ToolFailure.model_validate(raw_error) if raw_error is not None else None
            answer = message.get("final_answer")
            return CellResult(
                ok=bool(message.get("ok")) and error is None, stdout=str(message.get("stdout", "")),
                stderr=str(message.get("stderr", "")), error=error,
                final_answer=None if answer is None else str(answer), restarted=recycle,
                truncated=bool(message.get("truncated")), duration_ms=(time.monotonic() - started) * 1000.0,
                calls=calls,
            )
        except ValidationError as exc:
            await self._discard()
            return self._failed(started, calls, "WorkerLost", f"the session sent a malformed result ({exc}); "
                                                              f"{LOST_NOTE}")

    async def _serve_call(self, message: dict[str, Any], calls: list[dict[str, Any]]) -> dict[str, Any]:
        """Run one host function for the cell; the reply the worker waits for."""
        name, args = message.get("name"), message.get("args")
        reply: dict[str, Any] = {"op": "reply", "id": message.get("id")}
        function = self._functions.get(name) if isinstance(name, str) else None
        error: str | None = None
        value: Any = None
        if function is None or not isinstance(args, dict):
            error = f"no host function {name!r} takes these arguments"
        else:
            try:
                value = await function.call(args)
                json.dumps(value, allow_nan=False)
            except ToolboxError as exc:
                error = str(exc) or f"{name}() failed"
            except (TypeError, ValueError) as exc:
                error = (f"{name}() returned a value that is not JSON ({exc}); host functions must return dict, "
                         "list, str, int, float (finite), bool or None")
            except Exception as exc:  # a bug in the host function: the cell sees it, the session goes on
                log.warning("session function %s failed", name, exc_info=True)
                error = f"{name}() failed on the host: {type(exc).__name__}: {exc}"
        if error is None:
            calls.append({"name": name, "args": args, "ok": True, "value": value})
            return {**reply, "ok": True, "value": value}
        calls.append({"name": name, "args": args, "ok": False, "error": error})
        return {**reply, "ok": False, "error": error}


def open_session(settings: SandboxSettings, *, functions: Sequence[SessionFunction] = (),
                 limits: Limits | None = None, prelude: str = "") -> SandboxSession:
    """A session for one task: ``async with open_session(settings, functions=...) as session:``."""
    return SandboxSession(settings, functions=functions, limits=limits, prelude=prelude)


def _shorten(text: str, room: int) -> str:
    """``text`` cut to about ``room`` characters: its head and tail, with a note of what was cut."""
    if len(text) <= room:
        return text
    keep = max(0, room - 60)
    head, tail = text[: keep // 2], text[len(text) - (keep - keep // 2):] if keep else ""
    return f"{head}\n... [{len(text) - len(head) - len(tail)} characters cut] ...\n{tail}"


def observation(result: CellResult, max_chars: int = 2000) -> str:
    """The text an agent sees after a cell: output, error (with the cell's traceback), final answer, notes."""
    tail: list[str] = []
    if result.error is not None:
        error = result.error
        tail.append(error.traceback.rstrip() if error.traceback.strip() else f"{error.type}: {error.message}")
        if error.traceback.strip() and error.type != "SyntaxError" and error.message not in error.traceback:
            tail.append(error.message)
    if result.truncated:
        tail.append("[output truncated at the sandbox's output limit]")
    if result.restarted and not (result.error and result.error.type in {"Timeout", "Crashed", "WorkerLost"}):
        tail.append(f"[the session was restarted: {LOST}]")
    if result.final_answer is not None:
        tail.append(f"Final answer: {result.final_answer}")
    ending = "\n".join(tail)
    output = result.stdout.rstrip("\n")
    if result.stderr.strip():
        output = f"{output}\nstderr:\n{result.stderr.rstrip()}" if output else f"stderr:\n{result.stderr.rstrip()}"
    if not output and not ending:
        return "(no output)"
    room = max(0, max_chars - len(ending) - 1)
    text = "\n".join(part for part in (_shorten(output, room), ending) if part)
    return _shorten(text, max_chars) if len(text) > max_chars else text
