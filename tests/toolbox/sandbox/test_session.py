"""Sandbox sessions: real bubblewrap-isolated session processes that keep globals across cells."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.toolbox.sandbox.conftest import make_settings, small_limits
from tests.toolbox.sandbox.test_hostile import processes_of
from toolbox.errors import IsolationUnavailable, SandboxError, SpecError, ToolboxError
from toolbox.sandbox.base import Limits, ToolFailure
from toolbox.sandbox.session import CellResult, SandboxSession, SessionFunction, observation, open_session

pytestmark = pytest.mark.anyio

ROOT = os.geteuid() == 0
# The os module through a module that is allowed (random imports it): hostile code does not need `import os`.
ESCAPE_OS = "import random\n_os = random._os\n"
ESCAPE_IMPORT = ESCAPE_OS + "_import = _os.sys.modules['builtins'].__import__\n"


def session(functions: Sequence[SessionFunction] = (), limits: Limits | None = None, prelude: str = "",
            **settings: object) -> SandboxSession:
    """A session with the sandbox tests' small settings (no preloads: fast start) and tight limits."""
    values: dict[str, object] = {"preload_modules": []}
    values.update(settings)
    return open_session(make_settings(**values), functions=functions, limits=limits or small_limits(),
                        prelude=prelude)


@pytest.fixture
async def box() -> AsyncIterator[SandboxSession]:
    """A started session without host functions, closed after the test."""
    async with session() as started:
        yield started


async def ok(sess: SandboxSession, code: str) -> CellResult:
    """Run a cell that must succeed."""
    result = await sess.run_cell(code)
    assert result.ok, result
    return result


async def cell_uid(sess: SandboxSession) -> int:
    """The uid the session's code runs as (read from inside the session)."""
    return int((await ok(sess, ESCAPE_OS + "_os.getuid()")).stdout)


# ------------------------------------------------------------------ state and echo


async def test_globals_persist_and_the_last_expression_is_echoed(box: SandboxSession) -> None:
    assert box.isolation == "bwrap"
    first = await ok(box, "import math\nx = 40\ndef twice(v):\n    return 2 * v\n")
    assert first.stdout == "" and first.error is None
    second = await ok(box, "print('hello')\nx = twice(x) + 2\nmath.sqrt(x)")
    assert second.stdout == "hello\n9.055385138137417\n"
    assert (await ok(box, "x")).stdout == "82\n"
    assert (await ok(box, "None")).stdout == ""  # like Jupyter: None is not echoed
    assert (await ok(box, "for i in range(2):\n    i")).stdout == ""  # only a top-level last expression


async def test_final_answer_records_str_of_its_argument(box: SandboxSession) -> None:
    result = await ok(box, "answer = 6 * 7\nfinal_answer(answer)")
    assert result.final_answer == "42"
    assert (await ok(box, "answer")).final_answer is None  # per cell
    assert "Final answer: 42" in observation(result)


async def test_syntax_error_fails_the_cell_and_the_session_survives(box: SandboxSession) -> None:
    await ok(box, "kept = 'yes'")
    result = await box.run_cell("x = (")
    assert not result.ok and result.error is not None
    assert result.error.type == "SyntaxError" and "line 1" in result.error.message
    assert not result.restarted
    assert (await ok(box, "kept")).stdout == "'yes'\n"


async def test_exception_shows_only_the_cells_frames(box: SandboxSession) -> None:
    await ok(box, "def f(d):\n    return d['missing']\n")
    result = await box.run_cell("f({})")
    assert result.error is not None and result.error.type == "KeyError"
    assert "<cell-1>" in result.error.traceback and "<cell-2>" in result.error.traceback
    assert "return d['missing']" in result.error.traceback
    assert "session_worker" not in result.error.traceback


async def test_output_is_truncated_at_the_limit() -> None:
    async with session(limits=small_limits(max_output_bytes=2048)) as sess:
        result = await ok(sess, "print('z' * 100_000)\nprint('tail')")
    assert result.truncated and len(result.stdout) == 2048 and "tail" not in result.stdout
    assert "truncated" in observation(result)


async def test_two_sessions_do_not_share_globals() -> None:
    async with session() as one, session() as two:
        await asyncio.gather(ok(one, "secret = 'one'"), ok(two, "other = 'two'"))
        seen_by_two, seen_by_one = await asyncio.gather(two.run_cell("secret"), one.run_cell("other"))
    assert seen_by_two.error is not None and seen_by_two.error.type == "NameError"
    assert seen_by_one.error is not None and seen_by_one.error.type == "NameError"


# ------------------------------------------------------------------ host functions


def recording(calls: list[dict[str, Any]]) -> SessionFunction:
    """``lookup(key, default)``: the host's answer, raising ToolboxError for a key it does not know."""
    table = {"pi": 3.14, "e": 2.72}

    async def call(args: dict[str, Any]) -> Any:
        calls.append(args)
        await asyncio.sleep(0)
        if args.get("key") == "bad":
            raise ToolboxError("lookup: no such key 'bad'; known keys: e, pi")
        if args.get("key") == "set":
            return {1, 2}
        return table.get(args.get("key", ""), args.get("default"))

    return SessionFunction("lookup", ["key", "default"], "Look a constant up.", call)


async def test_session_function_positional_and_keyword_calls_return_the_hosts_value() -> None:
    host_calls: list[dict[str, Any]] = []
    async with session([recording(host_calls)]) as sess:
        result = await ok(sess, "a = lookup('pi')\nb = lookup(key='zz', default=7)\nprint(a, b)\nlookup.__doc__")
    assert result.stdout == "3.14 7\n'Look a constant up.'\n"
    assert host_calls == [{"key": "pi"}, {"key": "zz", "default": 7}]  # unpassed parameters are left out
    assert result.calls == [{"name": "lookup", "args": {"key": "pi"}, "ok": True, "value": 3.14},
                            {"name": "lookup", "args": {"key": "zz", "default": 7}, "ok": True, "value": 7}]


async def test_host_errors_and_bad_values_surface_as_runtime_errors_in_the_cell() -> None:
    async with session([recording([])]) as sess:
        raised = await sess.run_cell("lookup('bad')")
        caught = await ok(sess, "try:\n    lookup('set')\nexcept RuntimeError as e:\n    print('caught:', e)")
        wrong_args = await sess.run_cell("lookup(1, 2, 3)")
        not_json_args = await sess.run_cell("lookup({1, 2})")
    assert raised.error is not None and raised.error.type == "RuntimeError"
    assert raised.error.message == "lookup: no such key 'bad'; known keys: e, pi"
    assert raised.calls == [{"name": "lookup", "args": {"key": "bad"}, "ok": False,
                             "error": "lookup: no such key 'bad'; known keys: e, pi"}]
    assert caught.stdout.startswith("caught: lookup() returned a value that is not JSON")
    assert wrong_args.error is not None and wrong_args.error.type == "TypeError" and not wrong_args.calls
    assert not_json_args.error is not None and "must be JSON" in not_json_args.error.message


async def test_time_in_host_functions_does_not_count_against_the_cell() -> None:
    async def slow(args: dict[str, Any]) -> str:
        await asyncio.sleep(1.0)
        return "done"

    function = SessionFunction("slow", [], "Takes a second on the host.", slow)
    async with session([function], limits=small_limits(timeout_s=0.6)) as sess:
        result = await sess.run_cell("slow()")
    assert result.ok and result.stdout == "'done'\n", result


def test_session_functions_need_python_names() -> None:
    async def call(args: dict[str, Any]) -> None:
        return None

    with pytest.raises(SpecError, match="not a Python identifier"):
        SessionFunction("math.add", ["a"], "", call)
    with pytest.raises(SpecError, match="reserved"):
        SessionFunction("final_answer", [], "", call)
    with pytest.raises(SpecError, match="twice"):
        SessionFunction("f", ["a", "a"], "", call)


# ------------------------------------------------------------------ imports, network, files


async def test_disallowed_import_is_refused_and_allowed_ones_work(box: SandboxSession) -> None:
    refused = await box.run_cell("import socket")
    assert refused.error is not None and refused.error.type == "ImportError"
    assert refused.error.message.startswith("module 'socket' is not allowed in the sandbox; allowed: ")
    assert "math" in refused.error.message
    assert (await box.run_cell("from os import path")).error is not None
    assert (await ok(box, "from collections import Counter\nCounter('aab')['a']")).stdout == "2\n"


async def test_network_is_unreachable_even_past_the_import_hook(box: SandboxSession) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        code = ESCAPE_IMPORT + f"s = _import('socket').create_connection(('127.0.0.1', {port}), timeout=1)\n"
        result = await box.run_cell(code)
        assert result.error is not None, result
        assert result.error.type in {"ConnectionRefusedError", "OSError", "TimeoutError"}, result.error
        with pytest.raises(BlockingIOError):
            server.accept()


async def test_writes_outside_the_scratch_dir_fail(box: SandboxSession, tmp_path: Path) -> None:
    target = tmp_path / "planted.txt"
    host = await box.run_cell(f"open({str(target)!r}, 'w').write('planted')")
    assert host.error is not None and host.error.type in {"FileNotFoundError", "PermissionError"}
    usr = await box.run_cell("open('/usr/planted', 'w')")
    assert usr.error is not None and usr.error.type in {"OSError", "PermissionError"}
    assert not target.exists() and not Path("/usr/planted").exists()
    await ok(box, "with open('notes.txt', 'w') as fh:\n    fh.write('kept')\n")  # the scratch dir is writable
    assert (await ok(box, "open('notes.txt').read()")).stdout == "'kept'\n"


# ------------------------------------------------------------------ limits


async def test_the_prelude_runs_before_the_first_cell_and_after_every_restart() -> None:
    async with session(limits=small_limits(timeout_s=1.0, cpu_s=30), prelude="from math import tau") as sess:
        assert (await ok(sess, "round(tau, 2)")).stdout == "6.28\n"
        assert (await sess.run_cell("while True:\n    pass")).restarted
        assert (await ok(sess, "round(tau, 2)")).stdout == "6.28\n"


async def test_a_failing_prelude_is_a_sandbox_error_naming_it() -> None:
    with pytest.raises(SandboxError, match=r"(?s)prelude failed.*no_such_module_here.*not allowed"):
        async with session(prelude="import no_such_module_here"):
            pass


async def test_wall_clock_timeout_restarts_a_fresh_session() -> None:
    async with session(limits=small_limits(timeout_s=1.0, cpu_s=30)) as sess:
        await ok(sess, "before = 1")
        result = await sess.run_cell("while True:\n    pass")
        assert result.timed_out and result.restarted and not result.ok
        assert result.error is not None and result.error.type == "Timeout"
        assert "restarted" in result.error.message and "lost" in result.error.message
        fresh = await sess.run_cell("before")
        assert fresh.error is not None and fresh.error.type == "NameError"
        assert (await ok(sess, "1 + 1")).stdout == "2\n"
        assert sess.restarts == 1


async def test_cpu_limit_stops_the_cell_and_keeps_the_globals() -> None:
    async with session(limits=small_limits(timeout_s=20, cpu_s=1)) as sess:
        await ok(sess, "kept = [1, 2]")
        result = await sess.run_cell("while True:\n    pass")
        assert result.error is not None and result.error.type == "CPULimit" and not result.restarted
        assert (await ok(sess, "kept")).stdout == "[1, 2]\n"
        assert (await ok(sess, "sum(range(10**6))")).stdout == "499999500000\n"  # the next cell gets its own budget


async def test_memory_bomb_is_a_memory_error_and_the_session_goes_on(box: SandboxSession) -> None:
    await ok(box, "kept = 'still here'")
    big = await box.run_cell("x = bytearray(4 << 30)")
    assert big.error is not None and big.error.type == "MemoryError" and "MiB" in big.error.message
    grow = await box.run_cell("def grow():\n    a = []\n    while True:\n        a.append(' ' * 10**6)\ngrow()")
    assert grow.error is not None and grow.error.type == "MemoryError"
    assert (await ok(box, "kept")).stdout == "'still here'\n"


async def test_fork_bomb_is_contained_and_cleaned_up(box: SandboxSession) -> None:
    uid = await cell_uid(box)
    code = ESCAPE_OS + ("import time\nforked = 0\nfor _ in range(10000):\n    try:\n        if _os.fork() == 0:\n"
                        "            time.sleep(600)\n        forked += 1\n    except OSError:\n        break\nforked")
    result = await box.run_cell(code)
    assert result.ok and 0 < int(result.stdout) < 16, result  # max_processes 16 counts the session itself
    if ROOT:
        assert len(processes_of(uid)) == 1  # only the session process: the cell's children were killed
    assert (await ok(box, "forked > 0")).stdout == "True\n"


async def test_a_cell_that_kills_its_session_gets_a_fresh_one(box: SandboxSession) -> None:
    result = await box.run_cell(ESCAPE_OS + "_os._exit(3)")
    assert not result.ok and result.restarted and result.error is not None
    assert result.error.type in {"Crashed", "WorkerLost"} and "lost" in result.error.message
    assert (await ok(box, "'alive'")).stdout == "'alive'\n"


async def test_close_leaves_no_process_and_refuses_more_cells() -> None:
    sess = session()
    await sess.start()
    uid = await cell_uid(sess)
    await ok(sess, ESCAPE_OS + "import time\nif _os.fork() == 0:\n    _os.setsid()\n    time.sleep(600)\n")
    await sess.close()
    await sess.close()  # idempotent
    if ROOT:
        assert processes_of(uid) == []
    with pytest.raises(SandboxError, match="closed"):
        await sess.run_cell("1")


async def test_missing_isolation_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    sess = SandboxSession(make_settings(preload_modules=[]), bwrap_path=str(tmp_path / "no-bwrap"))
    with pytest.raises(IsolationUnavailable, match="bubblewrap is not installed"):
        await sess.run_cell("1")
    await sess.close()


async def test_a_cancelled_cell_kills_its_session() -> None:
    async with session(limits=small_limits(timeout_s=30, cpu_s=30)) as sess:
        uid = await cell_uid(sess)
        task = asyncio.ensure_future(sess.run_cell("import time\ntime.sleep(60)"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if ROOT:
            assert processes_of(uid) == []
        assert (await ok(sess, "2 + 2")).stdout == "4\n"


# ------------------------------------------------------------------ observation


def test_observation_shows_output_error_and_final_answer_and_cuts_long_output() -> None:
    error = ToolFailure(type="ValueError", message="bad", traceback="Traceback ...\nValueError: bad\n")
    result = CellResult(ok=False, stdout="line\n" * 2000, error=error, final_answer="7", duration_ms=1.0)
    text = observation(result, max_chars=300)
    assert len(text) <= 300
    assert text.startswith("line\n") and "characters cut" in text
    assert text.endswith("ValueError: bad\nFinal answer: 7")
    assert observation(CellResult(ok=True), 100) == "(no output)"
    timeout = CellResult(ok=False, timed_out=True, restarted=True,
                         error=ToolFailure(type="Timeout", message="the cell ran longer than 1 s"))
    assert observation(timeout) == "Timeout: the cell ran longer than 1 s"
