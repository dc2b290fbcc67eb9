"""Sandbox worker: runs untrusted tool code, one forked child per call.

Standalone on purpose: stdlib only, no ``toolbox`` imports, meant to run as
``python -I worker.py [options]`` inside a bubblewrap / unshare / docker sandbox. Every backend
(process, docker) speaks the same protocol with it.

Options (argv)
    --uid N            run each call's child as uid/gid N (the worker must be root; setgroups([])).
    --preload a,b,c    import these modules once at start (missing ones are reported, not fatal).
    --scratch-root D   where per-call scratch directories are made (default /tmp).
    --private-tmp      /tmp belongs to this sandbox alone: empty it completely after every call.
    --pidns            the worker owns its PID namespace: after a call kill everything but pid 1 and itself.
    --die-with-parent  SIGKILL the worker when the process that started it dies.
    --announce-ready   answer as soon as the call's result arrives, clean up afterwards, then print
                       ``{"ready": true}`` (see below). Without it the worker answers after cleaning up.

Protocol: newline-delimited JSON (UTF-8), one request at a time.
    On start the worker prints one line ``{"ready": true, "pid", "uid", "preloaded": [...],
    "preload_failed": {name: error}, "baseline_vm_bytes", "python", "protocol": 2,
    "announce_ready": bool}``.
    Request line: ``{"id", "source", "entrypoint", "tool_name", "args": {...}, "limits": {Limits fields}}``
    (limits: timeout_s, cpu_s, memory_mb, max_processes, max_open_files, max_file_size_mb,
    max_output_bytes, max_result_bytes; missing ones take Limits' defaults).
    Response line: ``{"id", "ok", "value", "error": {"type", "message", "traceback"} | null, "stdout",
    "stderr", "truncated", "duration_ms", "peak_memory_bytes", "recycle"}``. ``recycle`` true means the
    worker cannot go on (it could not clean up, or it hit a bug) and exits after answering: start a fresh one.
    With ``--announce-ready`` the response comes BEFORE the cleanup; the worker then prints exactly one
    ``{"ready": true}`` line when it is clean and ready for the next request, or exits (without that line)
    if it could not clean up. Send the next request only after that line. ``recycle`` is then only
    true for a worker bug. Without the flag every response is followed directly by the next request
    (lines sent early wait in the pipe).
    EOF on stdin ends the worker.

Per call. While idle the worker already holds the next call's child ("spare"): forked from the
clean worker, it has called setsid, set no_new_privs and a parent-death signal, dropped to ``--uid``,
moved into a fresh scratch dir, kept only PATH and LANG in the environment, and is blocked reading
its request from a pipe. On a request the worker hands the line over; the child applies the call's
rlimits (CPU, AS = its address space + memory_mb, NPROC, NOFILE, FSIZE, CORE=0), captures
stdout/stderr in memory (capped), runs the tool and writes one JSON line to a pipe. The worker waits
on that pipe and a pidfd with a wall-clock deadline and answers as soon as a valid result line is
there (or kills the child's tree on timeout and decodes deaths by signal). Then it kills the child
and every leftover process of the call, deletes the scratch files, caches the compiled tool code
(bounded LRU by source hash, only for sources that compiled in a child) so the next spare inherits
it, and forks the next spare. A child drops the inherited cache before it runs the tool: every call
executes its module fresh and sees nothing of other calls.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import hashlib
import json
import linecache
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import OrderedDict
from types import CodeType
from typing import Any

__all__ = ["main"]

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
MIB = 1 << 20
DEFAULT_LIMITS: dict[str, float] = {
    "timeout_s": 10.0, "cpu_s": 10, "memory_mb": 512, "max_processes": 32, "max_open_files": 64,
    "max_file_size_mb": 16, "max_output_bytes": 1 << 20, "max_result_bytes": 1 << 20,
}
MAX_MESSAGE = 8192
MAX_TRACEBACK = 16384
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CACHE_ENTRIES = 128
CACHE_MAX_SOURCE = 64 * 1024  # bytes of one source; the cache holds at most ENTRIES * this much source
PROTOCOL = 2
_CODE_CACHE: OrderedDict[str, CodeType] = OrderedDict()

_libc = ctypes.CDLL(None, use_errno=True)


MAX_NAMESPACE_PID = 16


def _prctl(option: int, arg: int) -> None:
    if _libc.prctl(option, arg, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _vm_size() -> int:
    with open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _failure(kind: str, message: str, tb: str = "") -> dict[str, str]:
    return {"type": kind[:200], "message": message[:MAX_MESSAGE], "traceback": tb[:MAX_TRACEBACK]}


# ----------------------------------------------------------------------------------------- child


class _Output:
    """stdout + stderr of one call, sharing one byte budget."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.truncated = False
        self.parts: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def add(self, name: str, text: str) -> None:
        if self.truncated or not text:
            return
        data = text.encode("utf-8", "replace")
        room = self.limit - self.used
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.used += len(data)
        self.parts[name].append(data.decode("utf-8", "ignore"))


class _Stream:
    """A write-only text stream that feeds ``_Output``."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, output: _Output, name: str) -> None:
        self._output, self.name = output, name

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
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


def _json_default(obj: Any) -> Any:
    module = type(obj).__module__ or ""
    if module.split(".")[0] == "numpy" and hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _tool_traceback(exc: BaseException, filename: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__, limit=-40) if f.filename == filename]
    head = "Traceback (most recent call last):\n" if frames else ""
    body = "".join(traceback.format_list(frames))
    try:
        tail = "".join(traceback.format_exception_only(type(exc), exc))
    except Exception:  # a hostile __str__
        tail = f"{type(exc).__name__}: <unprintable>\n"
    return head + body + tail


def _describe(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<unprintable exception message>"


def _limits(req: dict[str, Any]) -> dict[str, Any]:
    limits: dict[str, Any] = dict(DEFAULT_LIMITS)
    given = req.get("limits")
    if isinstance(given, dict):
        limits.update({k: v for k, v in given.items() if k in DEFAULT_LIMITS})
    return limits


def _code_key(filename: str, source: str) -> str:
    return hashlib.sha256(f"{filename}\0{source}".encode("utf-8", "surrogatepass")).hexdigest()


def _tool_filename(req: dict[str, Any]) -> str:
    return f"<tool:{req.get('tool_name') or req.get('entrypoint') or 'tool'}>"


def _call_tool(req: dict[str, Any], limits: dict[str, Any], reserve: list[bytearray]) -> dict[str, Any]:
    """Compile (or take the inherited compiled code), run and serialise; returns the response fields."""
    dumps = json.dumps
    filename = _tool_filename(req)
    source = str(req.get("source", ""))
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = _CODE_CACHE.get(_code_key(filename, source)) if _CODE_CACHE else None
    _CODE_CACHE.clear()  # other tools' code is none of this call's business
    try:
        if code is None:
            code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return {"ok": False, "error": _failure("SyntaxError", f"{where}{exc.msg}", _tool_traceback(exc, filename))}
    namespace: dict[str, Any] = {"__name__": "__tool__", "__builtins__": __builtins__}
    entry = str(req.get("entrypoint", ""))
    try:
        exec(code, namespace)
        fn = namespace.get(entry)
        if not callable(fn):
            defined = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_"))
            return {"ok": False, "error": _failure(
                "EntrypointMissing", f"the source defines no function named {entry!r}; functions defined: {defined}")}
        value = fn(**req.get("args", {}))
    except MemoryError:
        reserve.clear()
        return {"ok": False, "error": _failure(
            "MemoryLimit", f"the tool ran out of memory (limit: {limits['memory_mb']} MiB above the sandbox baseline)")}
    except SystemExit as exc:
        return {"ok": False, "error": _failure(
            "Exited", f"the tool called sys.exit({exc.code!r}); a tool must return a value instead")}
    except BaseException as exc:
        return {"ok": False, "error": _failure(type(exc).__name__, _describe(exc), _tool_traceback(exc, filename))}
    try:
        text = dumps(value, allow_nan=False, default=_json_default, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return {"ok": False, "error": _failure("ResultNotJSON", (
            f"the tool returned {type(value).__name__}, which is not JSON ({_describe(exc)}); return only "
            "dict (str keys), list, str, int, float (finite), bool or None: e.g. a sorted list instead "
            "of a set, a dict instead of an object, value.tolist() for numpy arrays, str(x) for sympy"))}
    if len(text.encode()) > limits["max_result_bytes"]:
        return {"ok": False, "error": _failure("ResultTooLarge", (
            f"the result is {len(text.encode())} bytes of JSON; the limit is {limits['max_result_bytes']} "
            "bytes: return a summary or fewer items"))}
    return {"ok": True, "value_json": text}


_REHEARSAL_REQUEST = json.dumps({"id": "0" * 32, "source": "def f(x):\n    return [x, 'y']\n", "entrypoint": "f",
                                 "tool_name": "rehearsal", "args": {"x": 1}, "limits": DEFAULT_LIMITS})


def _rehearse() -> None:
    """Run the fixed per-call path once on a dummy call, while idle.

    Right after a fork every page is shared copy-on-write; whatever the call path writes to first
    costs a page fault and a copy. Doing it now takes those faults off the critical path.
    """
    req = json.loads(_REHEARSAL_REQUEST)
    limits = _limits(req)
    namespace: dict[str, Any] = {}
    exec(compile(req["source"], "<rehearsal>", "exec", dont_inherit=True), namespace)
    value = namespace["f"](**req["args"])
    output = _Output(int(limits["max_output_bytes"]))
    output.add("stdout", "x")
    resource.getrusage(resource.RUSAGE_SELF)
    _vm_size()
    text = json.dumps(value, allow_nan=False, default=_json_default, ensure_ascii=False)
    body = json.dumps({"ok": True, "error": None, "stdout": "", "stderr": "", "truncated": False, "rss_kb": 1})
    _parse_child(('{"value":' + text + "," + body[1:] + "\n").encode())


def _read_request(rfd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _child(opts: argparse.Namespace, scratch: str, rfd: int, wfd: int, parent: int) -> None:
    """The spare: get ready while idle, block for the request on ``rfd``, run it, answer on ``wfd``."""
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    low, high = sorted((rfd, wfd))
    os.closerange(3, low)
    os.closerange(low + 1, high)
    os.closerange(high + 1, 1 << 16)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the worker died before the parent-death signal was armed
        os._exit(72)
    for sig in (signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    if opts.uid is not None:
        os.setgroups([])
        os.setgid(opts.uid)
        os.setuid(opts.uid)
        if os.getuid() != opts.uid or os.geteuid() != opts.uid:
            os._exit(71)
    os.chdir(scratch)
    os.environ.clear()
    os.environ.update(CHILD_ENV)
    reserve = [bytearray(2 * MIB)]  # freed on MemoryError so the report itself can be built
    _rehearse()
    raw = _read_request(rfd)  # ---- idle until here
    os.close(rfd)
    if not raw:  # the worker dropped this spare
        os._exit(0)
    req = json.loads(raw)
    limits = _limits(req)
    output = _Output(int(limits["max_output_bytes"]))
    sys.stdout = _Stream(output, "stdout")
    sys.stderr = _Stream(output, "stderr")
    cpu = int(limits["cpu_s"])
    setr = resource.setrlimit
    setr(resource.RLIMIT_CORE, (0, 0))
    setr(resource.RLIMIT_CPU, (cpu, cpu + 1))
    setr(resource.RLIMIT_NPROC, (int(limits["max_processes"]),) * 2)
    setr(resource.RLIMIT_NOFILE, (int(limits["max_open_files"]),) * 2)
    setr(resource.RLIMIT_FSIZE, (int(limits["max_file_size_mb"]) * MIB,) * 2)
    setr(resource.RLIMIT_AS, (_vm_size() + int(limits["memory_mb"]) * MIB,) * 2)
    try:
        result = _call_tool(req, limits, reserve)
    except MemoryError:
        result = {"ok": False, "error": _failure("MemoryLimit", "the tool ran out of memory")}
    except BaseException as exc:  # reporting itself failed (e.g. a hostile exception or a huge stack)
        result = {"ok": False, "error": _failure(type(exc).__name__, "the tool's failure could not be reported")}
    parts = output.parts
    rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    fields = {
        "ok": result["ok"], "error": result.get("error"), "stdout": "".join(parts["stdout"]),
        "stderr": "".join(parts["stderr"]), "truncated": output.truncated, "rss_kb": rss_kb,
    }
    body = json.dumps(fields, ensure_ascii=False)
    line = ('{"value":' + result.get("value_json", "null") + "," + body[1:] + "\n").encode()
    view = memoryview(line)
    while view:
        view = view[os.write(wfd, view):]
    os._exit(0)


# ---------------------------------------------------------------------------------------- worker


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


def _leftovers(opts: argparse.Namespace) -> list[int]:
    me = os.getpid()
    table = _proc_table()
    if opts.pidns and opts.uid is None:  # calls share the worker's uid: everything else in the namespace is theirs
        return [pid for pid in table if pid not in (1, me)]
    found = {pid for pid, (ppid, state, uid) in table.items()  # a zombie of another parent is nothing to kill
             if opts.uid is not None and uid == opts.uid and pid != me and (state != "Z" or ppid == me)}
    frontier = [me]
    while frontier:  # descendants (the worker is a subreaper, so orphans stay in its tree)
        parent = frontier.pop()
        kids = [pid for pid, (ppid, _, _) in table.items() if ppid == parent and pid not in found]
        found.update(kids)
        frontier.extend(kids)
    return sorted(found)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_leftovers(opts: argparse.Namespace, budget_s: float = 3.0) -> bool:
    """Kill every process the call left behind; False if some survive ``budget_s``."""
    end = time.monotonic() + budget_s
    while True:
        _reap()
        pids = _leftovers(opts)
        if not pids:
            return True
        if time.monotonic() > end:
            return False
        if opts.pidns and opts.uid is None:
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)


def _mine(opts: argparse.Namespace, root: str) -> list[os.DirEntry[str]]:
    """Entries of a shared temp dir that a call may have left: all of a private /tmp, else the call uid's."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    found = []
    for entry in entries:
        if opts.private_tmp and root == "/tmp":
            if entry.name not in opts.tmp_at_start:  # not a mount point of the sandbox itself
                found.append(entry)
            continue
        try:
            owner = entry.stat(follow_symlinks=False).st_uid
        except OSError:
            continue
        if opts.uid is not None and owner == opts.uid:
            found.append(entry)
    return found


def _clean_files(opts: argparse.Namespace, scratch: str) -> bool:
    """Delete the call's scratch dir and its files in /tmp, /dev/shm, /var/tmp; False if some remain."""
    shutil.rmtree(scratch, ignore_errors=True)
    clean = not os.path.lexists(scratch)
    for root in ("/tmp", "/dev/shm", "/var/tmp"):
        for entry in _mine(opts, root):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        clean = clean and not _mine(opts, root)
    return clean


class _Spare:
    """The next call's child, forked and blocked on its request pipe."""

    __slots__ = ("pid", "pidfd", "request_fd", "result_fd", "scratch")

    def __init__(self, pid: int, request_fd: int, result_fd: int, scratch: str) -> None:
        self.pid, self.request_fd, self.result_fd, self.scratch = pid, request_fd, result_fd, scratch
        self.pidfd = os.pidfd_open(pid)


def _prefork(opts: argparse.Namespace) -> _Spare:
    """Fork the next call's child from the (clean) worker; it gets ready and waits for its request."""
    scratch = tempfile.mkdtemp(prefix="call-", dir=opts.scratch_root)
    if opts.uid is not None:
        os.chown(scratch, opts.uid, opts.uid)
    os.chmod(scratch, 0o700)
    req_r, req_w = os.pipe2(os.O_CLOEXEC)
    res_r, res_w = os.pipe2(os.O_CLOEXEC)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(req_w)
            os.close(res_r)
            _child(opts, scratch, req_r, res_w, parent)
        finally:
            os._exit(70)
    os.close(req_r)
    os.close(res_w)
    return _Spare(pid, req_w, res_r, scratch)


def _close_fds(spare: _Spare) -> None:
    for fd in (spare.request_fd, spare.result_fd, spare.pidfd):
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
    spare.request_fd = spare.result_fd = spare.pidfd = -1


def _drop_spare(spare: _Spare | None) -> None:
    """Kill an unused (or broken) spare and delete its scratch dir."""
    if spare is None or spare.pidfd < 0:  # none, or already dropped (its pid may belong to another process now)
        return
    with contextlib.suppress(OSError):
        signal.pidfd_send_signal(spare.pidfd, signal.SIGKILL)
    _close_fds(spare)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(spare.pid, 0)
    shutil.rmtree(spare.scratch, ignore_errors=True)


def _hand_over(spare: _Spare | None, raw: bytes, opts: argparse.Namespace) -> _Spare:
    """Give the request line to the spare (a fresh one if it died while idle); returns the child used."""
    for attempt in range(2):
        if spare is None:
            spare = _prefork(opts)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(spare.request_fd, view):]
            os.close(spare.request_fd)
            spare.request_fd = -1
            return spare
        except OSError:
            _drop_spare(spare)
            spare = None
            if attempt:
                raise
    raise AssertionError("unreachable")


def _parse_child(raw: bytes) -> dict[str, Any] | None:
    line = raw.split(b"\n", 1)[0]
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return None
    err = data.get("error")
    if err is not None:
        if not isinstance(err, dict):
            return None
        err = _failure(str(err.get("type", "Error")), str(err.get("message", "")), str(err.get("traceback", "")))
    rss = data.get("rss_kb")
    return {
        "ok": data["ok"] and err is None, "value": data.get("value") if err is None else None, "error": err,
        "stdout": str(data.get("stdout", "")), "stderr": str(data.get("stderr", "")),
        "truncated": bool(data.get("truncated", False)),
        "peak_memory_bytes": rss * 1024 if isinstance(rss, int) and rss >= 0 else None,
    }


def _wait_child(pid: int, pidfd: int, rfd: int, deadline: float,
                cap: int) -> tuple[dict[str, Any] | None, bytes, str | None]:
    """Wait for the child's result line (returned parsed as soon as it is complete) or its exit.

    Returns (parsed line or None, bytes read, reason the child was killed or None). When the parsed
    line is None and nothing killed it, the child has exited and can be reaped without blocking.
    """
    buf = bytearray()
    watch = [rfd, pidfd]
    killed: str | None = None
    first_line_seen = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                killed = "Timeout"
                break
            ready, _, _ = select.select(watch, [], [], remaining)
            if rfd in ready:
                chunk = os.read(rfd, 1 << 16)
                if not chunk:
                    watch.remove(rfd)
                buf += chunk
                if not first_line_seen and b"\n" in chunk:
                    first_line_seen = True
                    parsed = _parse_child(bytes(buf))
                    if parsed is not None:
                        return parsed, bytes(buf), None
                if len(buf) > cap:
                    killed = "ResultTooLarge"
                    break
            if pidfd in ready:
                os.set_blocking(rfd, False)
                while len(buf) <= cap:
                    try:
                        chunk = os.read(rfd, 1 << 16)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    buf += chunk
                break
    finally:
        if killed:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return None, bytes(buf), killed


def _decode_death(status: int, usage: resource.struct_rusage, limits: dict[str, Any]) -> dict[str, str]:
    cpu = usage.ru_utime + usage.ru_stime
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= 0.9 * float(limits["cpu_s"])):
            return _failure("CPULimit", f"the tool used more than its {limits['cpu_s']} s of CPU time and was killed")
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = " (a crash in native code or a stack overflow from deep recursion)" if sig == signal.SIGSEGV else ""
        return _failure("Crashed", f"the tool's process was killed by signal {name}{hint}")
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if code == 71:
        return _failure("Crashed", "the sandbox could not drop privileges for this call")
    if code == 70:
        return _failure("Crashed", "the tool's process failed while reporting its result (out of memory or stack?)")
    return _failure("Exited", f"the tool's process exited with code {code} without returning a value "
                              "(os._exit or exit in a child?): a tool must return a value")


class _Call:
    """What the worker must clean up (and may cache) after answering a call."""

    __slots__ = ("cacheable", "pid", "reaped", "scratch")

    def __init__(self, pid: int, reaped: bool, scratch: str, cacheable: tuple[str, str] | None) -> None:
        self.pid, self.reaped, self.scratch, self.cacheable = pid, reaped, scratch, cacheable


def handle(req: dict[str, Any], raw: bytes, spare: _Spare | None,
           opts: argparse.Namespace) -> tuple[dict[str, Any], _Call | None]:
    """Run one request in the spare child; return the response fields and what to clean up (None: spare unused)."""
    limits = _limits(req)
    if not isinstance(req.get("args"), dict):
        return {"ok": False, "error": _failure("ArgumentsNotJSON", "args must be a JSON object")}, None
    timeout = float(limits["timeout_s"])
    cap = int(limits["max_result_bytes"]) + 6 * int(limits["max_output_bytes"]) + 4 * MIB
    start = time.monotonic()
    child = _hand_over(spare, raw, opts)
    call = _Call(child.pid, False, child.scratch, None)
    try:
        parsed, buf, killed = _wait_child(child.pid, child.pidfd, child.result_fd, start + timeout, cap)
    finally:
        _close_fds(child)
    duration_ms = (time.monotonic() - start) * 1000.0
    if parsed is not None:
        error = parsed.get("error")
        if len(str(req.get("source", ""))) <= CACHE_MAX_SOURCE and not (error and error["type"] == "SyntaxError"):
            call.cacheable = (_tool_filename(req), str(req.get("source", "")))
        parsed.update(duration_ms=duration_ms, recycle=False)
        return parsed, call
    _, status, usage = os.wait4(child.pid, 0)
    call.reaped = True
    parsed = None if killed else _parse_child(buf)
    if killed == "Timeout":
        resp: dict[str, Any] = {"ok": False, "error": _failure(
            "Timeout", f"the call ran longer than {limits['timeout_s']} s (wall clock) and was killed")}
    elif killed == "ResultTooLarge":
        resp = {"ok": False, "error": _failure("ResultTooLarge", "the tool's response exceeded the size limit")}
    elif parsed is not None:
        resp = parsed
    else:
        resp = {"ok": False, "error": _decode_death(status, usage, limits)}
    resp.update(duration_ms=duration_ms, peak_memory_bytes=usage.ru_maxrss * 1024, recycle=False)
    return resp, call


def _finish(call: _Call, opts: argparse.Namespace) -> bool:
    """After the answer: kill the call's child and leftovers, delete its files; False if that failed."""
    if not call.reaped:
        with contextlib.suppress(OSError):
            os.killpg(call.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(call.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(call.pid, 0)
    clean = _kill_leftovers(opts)
    return _clean_files(opts, call.scratch) and clean


def _remember(cacheable: tuple[str, str] | None) -> None:
    """Keep the compiled code of a source that compiled in a child, for the spares that follow."""
    if cacheable is None:
        return
    filename, source = cacheable
    key = _code_key(filename, source)
    if key in _CODE_CACHE:
        _CODE_CACHE.move_to_end(key)
        return
    try:
        _CODE_CACHE[key] = compile(source, filename, "exec", dont_inherit=True)
    except Exception:  # compiled in the child, so this is not expected; just do not cache it
        return
    while len(_CODE_CACHE) > CACHE_ENTRIES:
        _CODE_CACHE.popitem(last=False)


def _send(data: dict[str, Any]) -> None:
    line = (json.dumps(data, ensure_ascii=False) + "\n").encode()
    view = memoryview(line)
    while view:
        view = view[os.write(1, view):]


def _preload(names: list[str]) -> tuple[list[str], dict[str, str]]:
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


class _Requests:
    """Request lines from stdin; meanwhile notices a spare that something killed while it was idle."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.scanned = 0
        self.eof = False

    def next(self, spare: _Spare | None) -> tuple[bytes, _Spare | None]:
        """The next line (b"" at EOF) and the spare, None if it died (the next call forks a fresh one)."""
        while True:
            end = self.buf.find(b"\n", self.scanned)
            if end >= 0 or (self.eof and self.buf):
                end = len(self.buf) - 1 if end < 0 else end
                line = bytes(self.buf[:end + 1])
                del self.buf[:end + 1]
                self.scanned = 0
                return line, spare
            self.scanned = len(self.buf)
            if self.eof:
                return b"", spare
            watch = [0] if spare is None else [0, spare.pidfd]
            ready, _, _ = select.select(watch, [], [])
            if spare is not None and spare.pidfd in ready:
                _drop_spare(spare)
                spare = None
            if 0 in ready:
                chunk = os.read(0, 1 << 16)
                self.buf += chunk
                self.eof = not chunk


def _serve(opts: argparse.Namespace, spare: _Spare | None) -> int:
    requests = _Requests()
    while True:
        line, spare = requests.next(spare)
        if not line:
            _drop_spare(spare)
            return 0
        rid = None
        call: _Call | None = None
        try:
            req = json.loads(line)
            rid = req.get("id") if isinstance(req, dict) else None
            resp, call = handle(req, line if line.endswith(b"\n") else line + b"\n", spare, opts)
            if call is not None:
                spare = None
        except Exception as exc:  # a worker bug: answer, then let the host replace us
            resp = {"ok": False, "error": _failure("WorkerLost", f"sandbox worker error: {exc!r}"), "recycle": True}
        resp["id"] = rid
        if opts.announce_ready:
            _send(resp)
        clean = True
        if call is not None:
            clean = _finish(call, opts)
        if not opts.announce_ready:
            resp["recycle"] = bool(resp.get("recycle")) or not clean
            _send(resp)
        if resp.get("recycle") or not clean:
            _drop_spare(spare)
            return 1
        if call is not None:
            _remember(call.cacheable)
        if spare is None:
            try:
                spare = _prefork(opts)
                _rehearse()  # the worker's own pages are shared with the new spare now, too
            except OSError:
                if opts.announce_ready:
                    return 1
                spare = None  # the next request forks on demand
        if opts.announce_ready:
            _send({"ready": True})


def main(argv: list[str] | None = None) -> int:
    """Run the worker loop until stdin closes."""
    parser = argparse.ArgumentParser(prog="worker.py")
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--preload", default="")
    parser.add_argument("--scratch-root", default="/tmp")
    parser.add_argument("--private-tmp", action="store_true")
    parser.add_argument("--pidns", action="store_true")
    parser.add_argument("--die-with-parent", action="store_true")
    parser.add_argument("--announce-ready", action="store_true")
    opts = parser.parse_args(argv)
    if opts.pidns and os.getpid() > MAX_NAMESPACE_PID:
        # Cleanup in --pidns mode kills everything but pid 1 and this process: run on a host by
        # mistake it would take the whole machine down. A fresh namespace starts at pid 1 or 2.
        sys.stderr.write(f"worker: --pidns needs a fresh PID namespace, but this is pid {os.getpid()}; refusing\n")
        return 2
    # What /tmp holds before any call (e.g. the mount points of a venv under /tmp) is never a leftover.
    opts.tmp_at_start = frozenset(os.listdir("/tmp")) if opts.private_tmp else frozenset()
    if opts.die_with_parent:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    loaded, failed = _preload([n for n in opts.preload.split(",") if n])
    gc.collect()
    gc.freeze()
    baseline = _vm_size()
    spare = _prefork(opts)
    _rehearse()
    _send({"ready": True, "pid": os.getpid(), "uid": opts.uid, "preloaded": loaded, "preload_failed": failed,
           "baseline_vm_bytes": baseline, "python": sys.version.split()[0], "protocol": PROTOCOL,
           "announce_ready": bool(opts.announce_ready)})
    return _serve(opts, spare)


if __name__ == "__main__":
    sys.exit(main())
