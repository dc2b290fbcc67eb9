"""The child that runs one call: forked from the clean worker ahead of time, it waits for its request.

While idle it has already called setsid, set no_new_privs and a parent-death signal, dropped to the
call uid, moved into a fresh scratch directory and kept only PATH and LANG in its environment. On
the request (the call's two frames, then EOF on its pipe) it applies the call's rlimits, captures
stdout/stderr in memory (capped), runs the tool and writes one result frame; then it exits.

Result frame: one flag byte (``b"c"``: the source compiled here, so the worker may cache its code;
``b"-"``: it did not) followed by JSON ``{"value", "ok", "error", "stdout", "stderr", "truncated",
"rss_kb"}``, where ``value`` is the tool's return value (null on failure).
"""

from __future__ import annotations

import json
import linecache
import mmap
import os
import resource
import signal
import sys
from collections import OrderedDict
from types import CodeType
from typing import Any, NoReturn

from .common import (
    MIB,
    PR_SET_PDEATHSIG,
    Output,
    Stream,
    describe,
    drop_privileges,
    failure,
    json_default,
    prctl,
    tool_traceback,
    vm_size,
)
from .frames import FrameBuffer, frame, write_all

__all__ = ["CODE_CACHE", "EXIT_NO_PRIVDROP", "EXIT_REPORT_FAILED", "run_child", "tool_filename"]

EXIT_REPORT_FAILED = 70
EXIT_NO_PRIVDROP = 71
EXIT_ORPHANED = 72
RESERVE_BYTES = 2 * MIB
MAX_REQUEST = 64 * MIB
_PARKED = 20
# Compiled code of sources that compiled in an earlier child, by the host's code id; a child
# drops it before running anything: other tools' code is none of this call's business.
CODE_CACHE: OrderedDict[str, CodeType] = OrderedDict()


def tool_filename(body: dict[str, Any]) -> str:
    return f"<tool:{body.get('tool_name') or body.get('entrypoint') or 'tool'}>"


def _run_tool(body: dict[str, Any], code: CodeType | None, limits: dict[str, Any],
              reserve: list[mmap.mmap]) -> tuple[bool, dict[str, Any]]:
    """Compile (or use ``code``), run and serialise; returns (compiled, result fields)."""
    filename = tool_filename(body)
    source = str(body.get("source", ""))
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)

    def keep(name: str) -> bool:
        return name == filename

    try:
        if code is None:
            code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return False, {"ok": False, "error": failure("SyntaxError", f"{where}{exc.msg}", tool_traceback(exc, keep))}
    args = body.get("args")
    if not isinstance(args, dict):
        return True, {"ok": False, "error": failure("ArgumentsNotJSON", "the arguments must be a JSON object")}
    namespace: dict[str, Any] = {"__name__": "__tool__", "__builtins__": __builtins__}
    entry = str(body.get("entrypoint", ""))
    try:
        exec(code, namespace)
        fn = namespace.get(entry)
        if not callable(fn):
            defined = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_"))
            return True, {"ok": False, "error": failure(
                "EntrypointMissing", f"the source defines no function named {entry!r}; functions defined: {defined}")}
        value = fn(**args)
    except MemoryError:
        for block in reserve:
            block.close()
        reserve.clear()
        return True, {"ok": False, "error": failure(
            "MemoryLimit", f"the tool ran out of memory (limit: {limits['memory_mb']} MiB above the sandbox baseline)")}
    except SystemExit as exc:
        return True, {"ok": False, "error": failure(
            "Exited", f"the tool called sys.exit({exc.code!r}); a tool must return a value instead")}
    except BaseException as exc:
        return True, {"ok": False, "error": failure(type(exc).__name__, describe(exc), tool_traceback(exc, keep))}
    try:
        text = json.dumps(value, allow_nan=False, default=json_default, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return True, {"ok": False, "error": failure("ResultNotJSON", (
            f"the tool returned {type(value).__name__}, which is not JSON ({describe(exc)}); return only "
            "dict (str keys), list, str, int, float (finite), bool or None: e.g. a sorted list instead "
            "of a set, a dict instead of an object, value.tolist() for numpy arrays, str(x) for sympy"))}
    size = len(text.encode())
    if size > limits["max_result_bytes"]:
        return True, {"ok": False, "error": failure("ResultTooLarge", (
            f"the result is {size} bytes of JSON; the limit is {limits['max_result_bytes']} "
            "bytes: return a summary or fewer items"))}
    return True, {"ok": True, "value_json": text}


def _apply_limits(limits: dict[str, Any], baseline_vm: int) -> None:
    cpu = int(limits["cpu_s"])
    setr = resource.setrlimit
    setr(resource.RLIMIT_CORE, (0, 0))
    setr(resource.RLIMIT_CPU, (cpu, cpu + 1))
    setr(resource.RLIMIT_NPROC, (int(limits["max_processes"]),) * 2)
    setr(resource.RLIMIT_NOFILE, (int(limits["max_open_files"]),) * 2)
    setr(resource.RLIMIT_FSIZE, (int(limits["max_file_size_mb"]) * MIB,) * 2)
    setr(resource.RLIMIT_AS, (baseline_vm + int(limits["memory_mb"]) * MIB,) * 2)


def _encode_result(compiled: bool, result: dict[str, Any], output: Output) -> bytes:
    rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    fields = {"ok": result["ok"], "error": result.get("error"), "stdout": output.text("stdout"),
              "stderr": output.text("stderr"), "truncated": output.truncated, "rss_kb": rss_kb}
    body = json.dumps(fields, ensure_ascii=False)
    text = '{"value":' + result.get("value_json", "null") + "," + body[1:]
    return frame((b"c" if compiled else b"-") + text.encode("utf-8", "surrogatepass"))


def _read_request(rfd: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_REQUEST:
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _settle(scratch: str, rfd: int, wfd: int, parent: int, uid: int | None) -> tuple[int, int]:
    """Everything a spare does before its request: a session, no privileges, a scratch dir.

    The worker has set no_new_privs and the environment (PATH and LANG only) for every child already.
    Returns the request and result fds (moved to 3 and 4).
    """
    os.setsid()
    os.dup2(rfd, _PARKED)  # out of the way while 0-4 are rearranged
    os.dup2(wfd, _PARKED + 1)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.dup2(_PARKED, 3)
    os.dup2(_PARKED + 1, 4)
    os.closerange(5, 1 << 16)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the worker died before the parent-death signal was armed
        os._exit(EXIT_ORPHANED)
    try:
        drop_privileges(uid, no_new_privs=False)
    except OSError:
        os._exit(EXIT_NO_PRIVDROP)
    os.chdir(scratch)
    return 3, 4


def run_child(scratch: str, rfd: int, wfd: int, parent: int, uid: int | None) -> NoReturn:
    """The spare: get ready while idle, block for the request on ``rfd``, run it, answer on ``wfd``, exit."""
    rfd, wfd = _settle(scratch, rfd, wfd, parent, uid)
    # Address space (not touched memory) given back on MemoryError so the report itself can be built.
    reserve = [mmap.mmap(-1, RESERVE_BYTES)]
    baseline_vm = vm_size()
    raw = _read_request(rfd)  # ---- idle until here
    os.close(rfd)
    if not raw:  # the worker dropped this spare
        os._exit(0)
    frames = FrameBuffer()
    frames.feed(raw)
    header = json.loads(frames.pop(MAX_REQUEST) or b"{}")
    body = json.loads(frames.pop(MAX_REQUEST) or b"{}")
    limits: dict[str, Any] = header["limits"]
    code = CODE_CACHE.get(str(header.get("code")))
    CODE_CACHE.clear()
    output = Output(int(limits["max_output_bytes"]))
    sys.stdout = Stream(output, "stdout")
    sys.stderr = Stream(output, "stderr")
    _apply_limits(limits, baseline_vm)
    try:
        compiled, result = _run_tool(body, code, limits, reserve)
    except MemoryError:
        compiled, result = True, {"ok": False, "error": failure("MemoryLimit", "the tool ran out of memory")}
    except BaseException as exc:  # reporting itself failed (e.g. a hostile exception or a huge stack)
        compiled, result = True, {"ok": False, "error": failure(
            type(exc).__name__, "the tool's failure could not be reported")}
    write_all(wfd, _encode_result(compiled, result, output))
    os._exit(0)
