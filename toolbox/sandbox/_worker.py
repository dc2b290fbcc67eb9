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

Protocol: newline-delimited JSON (UTF-8), one request at a time.
    On start the worker prints one line ``{"ready": true, "pid", "uid", "preloaded": [...],
    "preload_failed": {name: error}, "baseline_vm_bytes", "python"}``.
    Request line: ``{"id", "source", "entrypoint", "tool_name", "args": {...}, "limits": {Limits fields}}``
    (limits: timeout_s, cpu_s, memory_mb, max_processes, max_open_files, max_file_size_mb,
    max_output_bytes, max_result_bytes; missing ones take Limits' defaults).
    Response line: ``{"id", "ok", "value", "error": {"type", "message", "traceback"} | null, "stdout",
    "stderr", "truncated", "duration_ms", "peak_memory_bytes", "recycle"}``. ``recycle`` true means the
    worker could not clean up after the call and exits after answering: start a fresh one.
    EOF on stdin ends the worker.

Per call: fork; the child calls setsid, sets no_new_privs and a parent-death signal, drops to
``--uid``, applies rlimits (CPU, AS = baseline address space + memory_mb, NPROC, NOFILE, FSIZE,
CORE=0), chdirs into a fresh scratch dir, keeps only PATH and LANG in the environment, captures
stdout/stderr in memory (capped), runs the tool and writes one JSON line to a pipe. The worker waits
on that pipe and a pidfd with a wall-clock deadline, kills the child's whole tree on timeout, decodes
deaths by signal, then kills every leftover process it can see and deletes the scratch files.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
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
_libc = ctypes.CDLL(None, use_errno=True)


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


def _call_tool(req: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    """Compile, run and serialise; returns the response fields (without id/timing)."""
    dumps = json.dumps
    name = str(req.get("tool_name") or req.get("entrypoint") or "tool")
    filename = f"<tool:{name}>"
    source = str(req.get("source", ""))
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return {"ok": False, "error": _failure("SyntaxError", f"{where}{exc.msg}", _tool_traceback(exc, filename))}
    namespace: dict[str, Any] = {"__name__": "__tool__", "__builtins__": __builtins__}
    entry = str(req.get("entrypoint", ""))
    reserve = bytearray(2 * MIB)  # freed on MemoryError so the report itself can be built
    try:
        exec(code, namespace)
        fn = namespace.get(entry)
        if not callable(fn):
            defined = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_"))
            return {"ok": False, "error": _failure(
                "EntrypointMissing", f"the source defines no function named {entry!r}; functions defined: {defined}")}
        value = fn(**req.get("args", {}))
    except MemoryError:
        del reserve
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


def _child(req: dict[str, Any], limits: dict[str, Any], opts: argparse.Namespace, scratch: str, wfd: int) -> None:
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.closerange(3, wfd)
    os.closerange(wfd + 1, 1 << 16)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
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
        result = _call_tool(req, limits)
    except MemoryError:
        result = {"ok": False, "error": _failure("MemoryLimit", "the tool ran out of memory")}
    except BaseException as exc:  # reporting itself failed (e.g. a hostile exception or a huge stack)
        result = {"ok": False, "error": _failure(type(exc).__name__, "the tool's failure could not be reported")}
    parts = output.parts
    fields = {
        "ok": result["ok"], "error": result.get("error"), "stdout": "".join(parts["stdout"]),
        "stderr": "".join(parts["stderr"]), "truncated": output.truncated,
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
    if opts.pidns:
        return [pid for pid in table if pid not in (1, me)]
    found = {pid for pid, (_, _, uid) in table.items() if opts.uid is not None and uid == opts.uid and pid != me}
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
        if opts.pidns:
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)


def _clean_files(opts: argparse.Namespace, scratch: str) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    for root in ("/tmp", "/dev/shm", "/var/tmp"):
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            try:
                owner = entry.stat(follow_symlinks=False).st_uid
            except OSError:
                continue
            mine = (opts.private_tmp and root == "/tmp") or (opts.uid is not None and owner == opts.uid)
            if not mine:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _wait_child(pid: int, rfd: int, deadline: float, cap: int) -> tuple[bytes, str | None]:
    """Collect the child's response until it exits; returns (bytes, reason it was killed or None)."""
    pidfd = os.pidfd_open(pid)
    buf = bytearray()
    watch = [rfd, pidfd]
    killed: str | None = None
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
        os.close(pidfd)
    return bytes(buf), killed


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
    return {
        "ok": data["ok"] and err is None, "value": data.get("value") if err is None else None, "error": err,
        "stdout": str(data.get("stdout", "")), "stderr": str(data.get("stderr", "")),
        "truncated": bool(data.get("truncated", False)),
    }


def handle(req: dict[str, Any], opts: argparse.Namespace) -> dict[str, Any]:
    """Run one request in a fresh child and return the response line's fields."""
    limits = dict(DEFAULT_LIMITS)
    limits.update({k: v for k, v in (req.get("limits") or {}).items() if k in DEFAULT_LIMITS})
    if not isinstance(req.get("args"), dict):
        return {"ok": False, "error": _failure("ArgumentsNotJSON", "args must be a JSON object")}
    scratch = tempfile.mkdtemp(prefix="call-", dir=opts.scratch_root)
    if opts.uid is not None:
        os.chown(scratch, opts.uid, opts.uid)
    os.chmod(scratch, 0o700)
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            _child(req, limits, opts, scratch, wfd)
        finally:
            os._exit(70)
    os.close(wfd)
    cap = int(limits["max_result_bytes"]) + 6 * int(limits["max_output_bytes"]) + 4 * MIB
    try:
        raw, killed = _wait_child(pid, rfd, start + float(limits["timeout_s"]), cap)
    finally:
        os.close(rfd)
    _, status, usage = os.wait4(pid, 0)
    duration_ms = (time.monotonic() - start) * 1000.0
    clean = _kill_leftovers(opts)
    _clean_files(opts, scratch)
    parsed = None if killed else _parse_child(raw)
    if killed == "Timeout":
        resp: dict[str, Any] = {"ok": False, "error": _failure(
            "Timeout", f"the call ran longer than {limits['timeout_s']} s (wall clock) and was killed")}
    elif killed == "ResultTooLarge":
        resp = {"ok": False, "error": _failure("ResultTooLarge", "the tool's response exceeded the size limit")}
    elif parsed is not None:
        resp = parsed
    else:
        resp = {"ok": False, "error": _decode_death(status, usage, limits)}
    resp.update(duration_ms=duration_ms, peak_memory_bytes=usage.ru_maxrss * 1024, recycle=not clean)
    return resp


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


def main(argv: list[str] | None = None) -> int:
    """Run the worker loop until stdin closes."""
    parser = argparse.ArgumentParser(prog="worker.py")
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--preload", default="")
    parser.add_argument("--scratch-root", default="/tmp")
    parser.add_argument("--private-tmp", action="store_true")
    parser.add_argument("--pidns", action="store_true")
    parser.add_argument("--die-with-parent", action="store_true")
    opts = parser.parse_args(argv)
    if opts.die_with_parent:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    loaded, failed = _preload([n for n in opts.preload.split(",") if n])
    gc.collect()
    gc.freeze()
    _send({"ready": True, "pid": os.getpid(), "uid": opts.uid, "preloaded": loaded, "preload_failed": failed,
           "baseline_vm_bytes": _vm_size(), "python": sys.version.split()[0]})
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        rid = None
        try:
            req = json.loads(line)
            rid = req.get("id") if isinstance(req, dict) else None
            resp = handle(req, opts)
        except Exception as exc:  # a worker bug: answer, then let the host replace us
            resp = {"ok": False, "error": _failure("WorkerLost", f"sandbox worker error: {exc!r}"), "recycle": True}
        resp["id"] = rid
        _send(resp)
        if resp.get("recycle"):
            return 1


if __name__ == "__main__":
    sys.exit(main())
