"""What the call worker and the session worker share: process control, output capture, cleanup of processes.

Stdlib only (this runs inside the sandbox).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
import traceback
from typing import Any

__all__ = [
    "CHILD_ENV",
    "LIMIT_KEYS",
    "MAX_NAMESPACE_PID",
    "MIB",
    "PR_SET_CHILD_SUBREAPER",
    "PR_SET_NO_NEW_PRIVS",
    "PR_SET_PDEATHSIG",
    "THREAD_ENV",
    "Output",
    "Stream",
    "call_limits",
    "describe",
    "drop_privileges",
    "failure",
    "json_default",
    "kill_leftovers",
    "leftovers",
    "prctl",
    "preload",
    "reap",
    "tool_traceback",
    "vm_size",
]

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
MIB = 1 << 20
MAX_NAMESPACE_PID = 16
MAX_MESSAGE = 8192
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# The fields of the host's Limits; every request carries all of them (the host declares the defaults).
LIMIT_KEYS = ("timeout_s", "cpu_s", "memory_mb", "max_processes", "max_open_files", "max_file_size_mb",
              "max_output_bytes", "max_result_bytes")

_libc = ctypes.CDLL(None, use_errno=True)


def call_limits(given: object) -> dict[str, float]:
    """The limits of a request; raises ``ValueError`` unless every one of ``LIMIT_KEYS`` is a number."""
    if not isinstance(given, dict) or any(not isinstance(given.get(k), int | float) for k in LIMIT_KEYS):
        raise ValueError(f"the request's limits must give every one of {', '.join(LIMIT_KEYS)}")
    return {k: given[k] for k in LIMIT_KEYS}


def prctl(option: int, arg: int) -> None:
    """``prctl(option, arg)``; raises ``OSError`` when it fails."""
    if _libc.prctl(option, arg, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def vm_size() -> int:
    """This process's address space in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split(None, 1)[0]) * _PAGE


_PAGE = os.sysconf("SC_PAGE_SIZE")


def failure(kind: str, message: str, tb: str = "", *, max_traceback: int = 16384) -> dict[str, str]:
    """The protocol's error object (fields cut to size; the traceback keeps its end)."""
    return {"type": kind[:200], "message": message[:MAX_MESSAGE], "traceback": tb[-max_traceback:] if tb else ""}


def describe(exc: BaseException) -> str:
    """``str(exc)``, even for a hostile ``__str__``."""
    try:
        return str(exc)
    except Exception:
        return "<unprintable exception message>"


def tool_traceback(exc: BaseException, keep: Any, limit: int = 40) -> str:
    """The traceback of ``exc`` with only the frames whose filename ``keep(filename)`` accepts."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__, limit=-limit) if keep(f.filename)]
    head = "Traceback (most recent call last):\n" if frames else ""
    try:
        tail = "".join(traceback.format_exception_only(type(exc), exc))
    except Exception:  # a hostile __str__
        tail = f"{type(exc).__name__}: <unprintable>\n"
    return head + "".join(traceback.format_list(frames)) + tail


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback: numpy values become lists and numbers."""
    module = type(obj).__module__ or ""
    if module.split(".")[0] == "numpy" and hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class Output:
    """stdout + stderr of one call or cell, sharing one byte budget."""

    __slots__ = ("limit", "parts", "truncated", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.truncated = False
        self.parts: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def add(self, name: str, text: str) -> None:
        """Keep ``text`` while the budget lasts."""
        if self.truncated or not text:
            return
        data = text.encode("utf-8", "replace")
        room = self.limit - self.used
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.used += len(data)
        self.parts[name].append(data.decode("utf-8", "ignore"))

    def text(self, name: str) -> str:
        """Everything kept of stream ``name``."""
        return "".join(self.parts[name])


class Stream:
    """A write-only text stream that feeds an ``Output`` (or nothing, when it is None)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, output: Output | None, name: str) -> None:
        self._output, self.name = output, name

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._output is not None:
            self._output.add(self.name, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False


def preload(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Import ``names`` (one BLAS thread each); returns those loaded and why the others failed."""
    os.environ.update(THREAD_ENV)
    loaded: list[str] = []
    failed: dict[str, str] = {}
    for name in names:
        try:
            __import__(name)
            loaded.append(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]
    return loaded, failed


def drop_privileges(uid: int | None, *, no_new_privs: bool = True) -> None:
    """no_new_privs (unless set already), then (when ``uid`` is given) become ``uid``/``uid`` with no groups."""
    if no_new_privs:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise PermissionError("could not drop privileges")


# ------------------------------------------------------------------------------------ processes


def _proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, state, real uid) for every process visible in /proc."""
    table: dict[int, tuple[int, str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
            uid = os.stat(f"/proc/{entry}").st_uid
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        table[int(entry)] = (int(fields[1]), fields[0].decode(), uid)
    return table


def leftovers(uid: int | None, pidns: bool) -> list[int]:
    """Processes a call left: the namespace's others (pidns without a uid), else those of ``uid`` and descendants.

    A zombie of another parent is nothing to kill (its parent's death removes it).
    """
    me = os.getpid()
    table = _proc_table()
    if pidns and uid is None:  # calls share the worker's uid: everything else in the namespace is theirs
        return [pid for pid, (ppid, state, _) in table.items() if pid not in (1, me) and (state != "Z" or ppid == me)]
    found = {pid for pid, (ppid, state, owner) in table.items()
             if uid is not None and owner == uid and pid != me and (state != "Z" or ppid == me)}
    frontier = [me]
    while frontier:  # descendants (the worker is a subreaper, so orphans stay in its tree)
        parent = frontier.pop()
        kids = [pid for pid, (ppid, _, _) in table.items() if ppid == parent and pid not in found]
        found.update(kids)
        frontier.extend(kids)
    return sorted(found)


def reap() -> None:
    """Collect every exited child without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_leftovers(uid: int | None, pidns: bool, budget_s: float = 3.0) -> bool:
    """Kill every process a call left behind; False if some survive ``budget_s``."""
    end = time.monotonic() + budget_s
    while True:
        reap()
        pids = leftovers(uid, pidns)
        if not pids:
            return True
        if time.monotonic() > end:
            return False
        if pidns and uid is None:
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)
