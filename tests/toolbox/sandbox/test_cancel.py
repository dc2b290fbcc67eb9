"""Cancelling sandbox runs (process backend): before, during and after the call, and from async code."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import pytest

from tests.toolbox.sandbox.conftest import wait_until_idle
from tests.toolbox.sandbox.test_hostile import processes_of
from toolbox.sandbox.base import CancelToken, Limits, RunResult
from toolbox.sandbox.cancel import run_in_thread
from toolbox.sandbox.process import ProcessSandbox
from toolbox.spec import ToolSpec

SpecFactory = Callable[..., ToolSpec]
SLEEPER = "import time\ndef f(s: float) -> str:\n    time.sleep(s)\n    return 'slept'\n"
# The call starts a daemon that outlives it unless the sandbox kills the call's whole tree.
FORKER = ("import os, time\ndef f() -> str:\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(600)\n"
          "    time.sleep(600)\n    return 'never'\n")
LONG = Limits(timeout_s=60, cpu_s=30)


def cancel_later(token: CancelToken, after_s: float) -> threading.Thread:
    """Cancel ``token`` from another thread after ``after_s`` (the call has started by then)."""
    thread = threading.Timer(after_s, token.cancel)
    thread.start()
    return thread


def assert_cancelled(result: RunResult) -> None:
    """The run ended because of its token, not by a timeout or an error of its own."""
    assert not result.ok and result.cancelled, result
    assert result.error is not None and "cancelled" in result.error.message


def test_cancel_during_the_call_kills_it_and_frees_the_worker(sandbox: ProcessSandbox,
                                                              spec_factory: SpecFactory) -> None:
    before = sandbox.stats()
    token = CancelToken()
    cancel_later(token, 0.5)
    result = sandbox.run(spec_factory(SLEEPER), {"s": 50}, LONG, cancel=token)
    assert_cancelled(result)  # a 50 s sleep under a 60 s timeout: only the cancel can end it now
    follow_up = [sandbox.run(spec_factory("def f(x: int) -> int:\n    return -x\n"), {"x": i}) for i in range(4)]
    assert [r.value for r in follow_up] == [0, -1, -2, -3]
    after = sandbox.stats()
    assert after.replaced == before.replaced  # the worker itself was freed, not replaced
    assert after.calls == before.calls + 5


def test_cancel_kills_everything_the_call_started(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    token = CancelToken()
    cancel_later(token, 0.5)
    assert_cancelled(sandbox.run(spec_factory(FORKER), {}, LONG, cancel=token))
    wait_until_idle(sandbox)
    if os.geteuid() == 0:  # each worker's uid owns at most its pre-forked child now
        for uid in sandbox.stats().uids:
            assert len(processes_of(uid)) <= 1


def test_cancel_before_the_call_runs_nothing(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    before = sandbox.stats().calls
    token = CancelToken()
    token.cancel()
    assert_cancelled(sandbox.run(spec_factory(SLEEPER), {"s": 50}, LONG, cancel=token))
    assert sandbox.stats().calls == before


def test_cancel_after_the_call_is_a_no_op(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    token = CancelToken()
    result = sandbox.run(spec_factory(SLEEPER), {"s": 0}, cancel=token)
    token.cancel()
    token.cancel()
    assert result.ok and result.value == "slept" and not result.cancelled
    again = sandbox.run(spec_factory(SLEEPER), {"s": 0})
    assert again.ok and again.value == "slept"


def test_cancel_while_waiting_for_a_free_worker(settings_factory: Callable[..., object],
                                               spec_factory: SpecFactory) -> None:
    with ProcessSandbox(settings_factory(workers=1, preload_modules=[])) as box:  # type: ignore[arg-type]
        busy_token = CancelToken()
        busy: list[RunResult] = []
        holder = threading.Thread(target=lambda: busy.append(
            box.run(spec_factory(SLEEPER), {"s": 50}, LONG, cancel=busy_token)))
        holder.start()
        while box.stats().calls == 0:  # the only lean worker is taken
            time.sleep(0.01)
        waiting = CancelToken()
        cancel_later(waiting, 0.5)
        assert_cancelled(box.run(spec_factory(SLEEPER), {"s": 0}, LONG, cancel=waiting))
        busy_token.cancel()
        holder.join()
        assert_cancelled(busy[0])
        assert box.run(spec_factory(SLEEPER), {"s": 0}).value == "slept"
        assert box.stats().calls == 2  # the cancelled waiter never reached a worker


def test_a_cancelled_task_cancels_its_call(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    before = sandbox.stats()

    async def scenario() -> None:
        task = asyncio.create_task(run_in_thread(sandbox, spec_factory(SLEEPER), {"s": 50}, LONG))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    wait_until_idle(sandbox)  # the worker cleaned up and is ready: the call was killed, not left to run
    after = sandbox.stats()
    assert after.replaced == before.replaced and after.calls == before.calls + 1
