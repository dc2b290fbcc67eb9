"""Sandbox session worker: one long-lived process that runs the cells of one task and keeps their globals.

Stdlib only, like the rest of the package, run as
``python -I boot.py session --in-fd R --out-fd W [--scratch-root D] [--pidns] [--die-with-parent]``
inside the same bubblewrap / unshare sandbox as the process backend's workers.

Protocol: newline-delimited JSON on the two dedicated pipes ``--in-fd`` (host to worker) and
``--out-fd`` (worker to host); fds 0 and 1 point at /dev/null, so nothing a cell writes can corrupt it.
    host:   {"op": "init", "uid": int|null, "preload": [...], "allowed_imports": [...],
             "functions": [{"name", "parameters", "description"}], "limits": {Limits fields}}
    worker: {"op": "ready", "pid", "uid", "preloaded", "preload_failed", "baseline_vm_bytes"}
    host:   {"op": "cell", "id", "code", "limits"}
    worker: {"op": "call", "id", "name", "args"}        (zero or more, each answered before the next)
    host:   {"op": "reply", "id", "ok", "value" | "error"}
    worker: {"op": "done", "id", "ok", "stdout", "stderr", "truncated", "error", "final_answer", "recycle"}
EOF on ``--in-fd`` ends the worker. ``recycle`` true: the worker could not clean up after the cell
and exits; the host starts a fresh session.

Limits. Before it announces ready the worker drops to ``uid`` (when given; it must be root for that),
sets no_new_privs and the hard rlimits of the session (AS = baseline + memory_mb, NPROC, NOFILE,
FSIZE, CORE=0). Each cell may only lower those (soft limits). CPU: before each cell the soft
RLIMIT_CPU becomes the CPU time used so far + ``cpu_s``; the SIGXCPU that follows raises
``CPULimitExceeded`` inside the cell (the kernel repeats it every second, so a cell that swallows it
gets it again), and the session keeps its globals. The wall-clock limit is the host's: it kills the
whole sandbox. After each cell every process the cell left behind is killed.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import gc
import inspect
import json
import linecache
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from types import CodeType
from typing import Any

from .common import (
    CHILD_ENV,
    MAX_NAMESPACE_PID,
    MIB,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_PDEATHSIG,
    THREAD_ENV,
    call_limits,
    drop_privileges,
    kill_leftovers,
    prctl,
    preload,
    vm_size,
)
from .common import Output as _Output
from .common import Stream as _Stream
from .common import describe as _describe
from .common import failure as _common_failure
from .common import json_default as _json_default

__all__ = ["main"]


def _failure(kind: str, message: str, tb: str = "") -> dict[str, str]:
    return _common_failure(kind, message, tb, max_traceback=MAX_TRACEBACK)

MAX_TRACEBACK = 8192
MAX_FRAMES = 12
RESERVE_BYTES = 2 * MIB
SESSION_ENV = {**CHILD_ENV, **THREAD_ENV}


class CPULimitExceeded(BaseException):
    """Raised inside a cell when it has used its CPU seconds."""


_UNSET = object()  # a parameter the cell did not pass: left out of the host call's arguments


# ------------------------------------------------------------------------------------ the channel


class _Channel:
    """JSON lines over the two dedicated pipes; one conversation at a time (``lock``)."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.in_fd, self.out_fd = in_fd, out_fd
        self.buf = bytearray()
        self.lock = threading.RLock()

    def send(self, message: dict[str, Any]) -> None:
        line = (json.dumps(message, ensure_ascii=False, default=_json_default) + "\n").encode("utf-8", "replace")
        view = memoryview(line)
        while view:
            view = view[os.write(self.out_fd, view):]

    def receive(self) -> dict[str, Any] | None:
        """The next message, None at EOF."""
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 1]
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("the host sent a message that is not an object")
                return message
            chunk = os.read(self.in_fd, 1 << 16)
            if not chunk:
                return None
            self.buf += chunk


# ------------------------------------------------------------------------------------ the session


class _Session:
    """The globals of the task, the functions that call the host, and how one cell runs."""

    def __init__(self, channel: _Channel, init: dict[str, Any]) -> None:
        self.channel = channel
        self.allowed = sorted({str(name).split(".")[0] for name in init.get("allowed_imports", [])})
        self.in_cell = False
        self.cell_id: str | None = None
        self.final_answer: str | None = None
        self.cells = 0
        self.calls = 0
        self.reserve: list[bytearray] = [bytearray(RESERVE_BYTES)]
        safe_builtins = dict(vars(builtins))
        safe_builtins["__import__"] = self._import
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": safe_builtins}
        self.namespace["final_answer"] = self._final_answer
        for spec in init.get("functions", []):
            self.namespace[spec["name"]] = self._host_function(spec)

    # -- what the cell can call

    def _import(self, name: str, globals: Any = None, locals: Any = None,
                fromlist: Any = (), level: int = 0) -> Any:
        top = name.split(".")[0]
        if level != 0 or top not in self.allowed:
            shown = name if level == 0 else "." * level + name
            raise ImportError(f"module {shown!r} is not allowed in the sandbox; allowed: {', '.join(self.allowed)}")
        return builtins.__import__(name, globals, locals, fromlist, level)

    def _final_answer(self, answer: Any) -> None:
        """Record ``str(answer)`` as the task's final answer."""
        self.final_answer = str(answer)

    def _host_function(self, spec: dict[str, Any]) -> Any:
        name = str(spec["name"])
        params = [str(p) for p in spec.get("parameters", [])]
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        shown = inspect.Signature([inspect.Parameter(p, kind, default=None) for p in params])
        binder = inspect.Signature([inspect.Parameter(p, kind, default=_UNSET) for p in params])

        def function(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = binder.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}({', '.join(params)}): {exc}") from None
            return self._call_host(name, dict(bound.arguments))

        function.__name__ = function.__qualname__ = name
        function.__doc__ = str(spec.get("description", ""))
        function.__signature__ = shown  # type: ignore[attr-defined]
        return function

    def _call_host(self, name: str, args: dict[str, Any]) -> Any:
        if not self.in_cell:
            raise RuntimeError(f"{name}() can only be called while a cell runs")
        try:
            json.dumps(args, allow_nan=False, default=_json_default)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(f"the arguments of {name}() must be JSON (str, int, float, bool, None, list, dict): "
                            f"{_describe(exc)}") from None
        with self.channel.lock:
            self.calls += 1
            call_id = f"{self.cell_id}:{self.calls}"
            self.channel.send({"op": "call", "id": call_id, "name": name, "args": args})
            while True:
                reply = self.channel.receive()
                if reply is None:
                    raise SystemExit(0)
                if reply.get("op") == "reply" and reply.get("id") == call_id:
                    break
        if reply.get("ok"):
            return reply.get("value")
        raise RuntimeError(str(reply.get("error") or f"{name}() failed on the host"))

    # -- running a cell

    def run_cell(self, request: dict[str, Any]) -> dict[str, Any]:
        limits = call_limits(request.get("limits"))
        self.cells += 1
        self.cell_id = str(request.get("id"))
        self.final_answer = None
        filename = f"<cell-{self.cells}>"
        output = _Output(int(limits["max_output_bytes"]))
        result = self._execute(str(request.get("code", "")), filename, output, limits)
        return {
            **result, "stdout": "".join(output.parts["stdout"]), "stderr": "".join(output.parts["stderr"]),
            "truncated": output.truncated, "final_answer": self.final_answer,
        }

    def _execute(self, code: str, filename: str, output: _Output, limits: dict[str, Any]) -> dict[str, Any]:
        try:
            body, last = _compile_cell(code, filename)
        except SyntaxError as exc:
            where = f"line {exc.lineno}: " if exc.lineno else ""
            detail = "".join(traceback.format_exception_only(type(exc), exc))
            return {"ok": False, "error": _failure(type(exc).__name__, f"{where}{exc.msg}", detail)}
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Stream(output, "stdout"), _Stream(output, "stderr")
        _apply_cell_limits(limits)
        try:
            self.in_cell = True
            try:
                exec(body, self.namespace)
                if last is not None:
                    value = eval(last, self.namespace)
                    if value is not None:
                        sys.stdout.write(repr(value) + "\n")
            finally:
                self.in_cell = False
                _lift_cpu_limit()
        except CPULimitExceeded:
            return {"ok": False, "error": _failure("CPULimit", (
                f"the cell used more than its {limits['cpu_s']} s of CPU time and was stopped; the session "
                "keeps its variables"))}
        except MemoryError as exc:
            self.reserve.clear()
            return {"ok": False, "error": _failure("MemoryError", (
                f"the cell ran out of memory (limit: {limits['memory_mb']} MiB above the session's start); "
                "delete large variables (del x) or work on smaller pieces"), _cell_traceback(exc))}
        except SystemExit as exc:
            return {"ok": False, "error": _failure("SystemExit", (
                f"the cell called exit({exc.code!r}); the session keeps running: call final_answer(x) to answer"))}
        except BaseException as exc:
            return {"ok": False, "error": _failure(type(exc).__name__, _describe(exc), _cell_traceback(exc))}
        finally:
            sys.stdout, sys.stderr = saved
            if not self.reserve:
                with contextlib.suppress(MemoryError):
                    self.reserve.append(bytearray(RESERVE_BYTES))
        return {"ok": True, "error": None}


def _compile_cell(code: str, filename: str) -> tuple[CodeType, CodeType | None]:
    """The cell's statements, and its last one separately when it is an expression (to echo its value)."""
    tree = ast.parse(code, filename, "exec")
    last: CodeType | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expr = ast.Expression(tree.body[-1].value)
        tree.body.pop()
        last = compile(expr, filename, "eval", dont_inherit=True)
    return compile(tree, filename, "exec", dont_inherit=True), last


def _cell_traceback(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell-")]
    frames = frames[-MAX_FRAMES:]
    head = "Traceback (most recent call last):\n" if frames else ""
    try:
        tail = "".join(traceback.format_exception_only(type(exc), exc))
    except Exception:
        tail = f"{type(exc).__name__}: <unprintable>\n"
    return head + "".join(traceback.format_list(frames)) + tail


# ------------------------------------------------------------------------------------ limits


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _apply_cell_limits(limits: dict[str, Any]) -> None:
    """Soft limits of one cell: CPU from now, the rest at most the session's hard limits."""
    soft = {
        resource.RLIMIT_AS: _BASELINE[0] + int(limits["memory_mb"]) * MIB,
        resource.RLIMIT_NPROC: int(limits["max_processes"]),
        resource.RLIMIT_NOFILE: int(limits["max_open_files"]),
        resource.RLIMIT_FSIZE: int(limits["max_file_size_mb"]) * MIB,
    }
    for which, value in soft.items():
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (value, hard))
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(_cpu_used() + float(limits["cpu_s"])), hard))


def _lift_cpu_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def _on_sigxcpu(signum: int, frame: Any) -> None:
    if _SESSION is not None and _SESSION.in_cell:
        raise CPULimitExceeded()


def _apply_session_limits(limits: dict[str, Any]) -> None:
    """Hard limits for the whole session (a cell can only lower them)."""
    setr = resource.setrlimit
    setr(resource.RLIMIT_CORE, (0, 0))
    setr(resource.RLIMIT_NPROC, (int(limits["max_processes"]),) * 2)
    setr(resource.RLIMIT_NOFILE, (int(limits["max_open_files"]),) * 2)
    setr(resource.RLIMIT_FSIZE, (int(limits["max_file_size_mb"]) * MIB,) * 2)
    setr(resource.RLIMIT_AS, (vm_size() + int(limits["memory_mb"]) * MIB,) * 2)


# ------------------------------------------------------------------------------------ processes


# ------------------------------------------------------------------------------------ start-up


def _enter_scratch(opts: argparse.Namespace) -> None:
    """Make the session's scratch dir, drop to the session uid and move into it."""
    scratch = tempfile.mkdtemp(prefix="session-", dir=opts.scratch_root)
    if opts.uid is not None:
        os.chown(scratch, opts.uid, opts.uid)
    os.chmod(scratch, 0o700)
    opts.scratch = scratch
    drop_privileges(opts.uid)
    os.chdir(scratch)
    os.environ.clear()
    os.environ.update(SESSION_ENV)


_SESSION: _Session | None = None
_BASELINE = [0]  # the session's address space when it became ready (memory_mb counts on top of it)


def _serve(opts: argparse.Namespace, channel: _Channel, session: _Session) -> int:
    while True:
        with channel.lock:
            request = channel.receive()
        if request is None:
            return 0
        if request.get("op") != "cell":
            continue
        try:
            result = session.run_cell(request)
        except Exception as exc:  # a worker bug: answer, then let the host start a fresh session
            result = {"ok": False, "error": _failure("WorkerLost", f"sandbox session error: {exc!r}"), "recycle": True}
        clean = kill_leftovers(opts.uid, opts.pidns)
        result.update(op="done", id=request.get("id"), recycle=bool(result.get("recycle")) or not clean)
        with channel.lock:
            channel.send(result)
        if result["recycle"]:
            return 1


def main(argv: list[str] | None = None) -> int:
    """Read the init message, prepare the session, then run cells until the host closes the pipe."""
    global _SESSION
    parser = argparse.ArgumentParser(prog="worker session")
    parser.add_argument("--in-fd", type=int, required=True)
    parser.add_argument("--out-fd", type=int, required=True)
    parser.add_argument("--scratch-root", default="/tmp")
    parser.add_argument("--pidns", action="store_true")
    parser.add_argument("--die-with-parent", action="store_true")
    opts = parser.parse_args(argv)
    if opts.pidns and os.getpid() > MAX_NAMESPACE_PID:
        sys.stderr.write(f"session worker: --pidns needs a fresh PID namespace, but this is pid {os.getpid()}\n")
        return 2
    if opts.die_with_parent:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    channel = _Channel(opts.in_fd, opts.out_fd)
    init = channel.receive()
    if init is None or init.get("op") != "init":
        sys.stderr.write("session worker: expected an init message\n")
        return 2
    opts.uid = init.get("uid")
    limits = call_limits(init.get("limits"))
    os.environ.update(SESSION_ENV)
    loaded, failed = preload([str(n) for n in init.get("preload", [])])
    _enter_scratch(opts)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):  # fd 2 stays the host's stderr file (bounded by RLIMIT_FSIZE) for crash reports
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = _Stream(None, "discard")
    signal.signal(signal.SIGXCPU, _on_sigxcpu)
    session = _Session(channel, init)
    _SESSION = session
    gc.collect()
    baseline = vm_size()
    _BASELINE[0] = baseline
    _apply_session_limits(limits)
    channel.send({"op": "ready", "pid": os.getpid(), "uid": opts.uid, "preloaded": loaded, "preload_failed": failed,
                  "baseline_vm_bytes": baseline})
    try:
        return _serve(opts, channel, session)
    finally:
        shutil.rmtree(opts.scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
