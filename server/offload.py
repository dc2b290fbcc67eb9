"""Blocking sandbox calls off the event loop: one hop to a dedicated thread pool, with progress ticks.

A call is handed to the pool once and awaited as a future; nothing else runs per call unless it
is slow: progress reports come from a loop timer that fires only after ``interval_s`` and then
every ``interval_s`` while the call runs (one report in flight at a time). The pool has one thread
per sandbox worker, plus one, so queued calls wait in the pool's queue, not in blocked threads.
When the awaiting request is cancelled, the call's ``on_cancel`` hook runs at once (the sandbox's
cancel handle goes there), and a call that never started is dropped from the queue.

asyncio only, which is what uvicorn and ``anyio.run`` use here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["Offloader", "ProgressReporter"]

T = TypeVar("T")
ProgressReporter = Callable[[float, float | None, str | None], Awaitable[None]]


class _Ticker:
    """Reports progress every ``interval_s`` until stopped; the first report comes after one interval."""

    def __init__(self, loop: asyncio.AbstractEventLoop, report: ProgressReporter, interval_s: float,
                 total: float | None, message: str) -> None:
        self._loop, self._report, self._interval_s = loop, report, interval_s
        self._total, self._message = total, message
        self._waited = 0.0
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = loop.call_later(interval_s, self._tick)

    def _tick(self) -> None:
        self._waited += self._interval_s
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._send(self._waited))
        self._timer = self._loop.call_later(self._interval_s, self._tick)

    async def _send(self, waited: float) -> None:
        with contextlib.suppress(Exception):  # a client that went away must not fail the call
            await self._report(waited, self._total, self._message)

    def stop(self) -> None:
        """No more reports (one being sent finishes on its own)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Offloader:
    """Runs blocking calls in a dedicated pool of ``threads`` threads; ``close`` shuts it down."""

    def __init__(self, threads: int, *, progress_interval_s: float = 1.0) -> None:
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="tool-call")
        self._interval_s = progress_interval_s

    async def run(self, call: Callable[[], T], *, report_progress: ProgressReporter | None = None,
                  total_s: float | None = None, message: str = "",
                  on_cancel: Callable[[], None] | None = None) -> T:
        """``call()`` in the pool; progress to ``report_progress`` while it runs; ``on_cancel`` if abandoned."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, call)
        ticker = (_Ticker(loop, report_progress, self._interval_s, total_s, message)
                  if report_progress is not None else None)
        try:
            return await future
        except asyncio.CancelledError:
            if on_cancel is not None:  # the pool drops a call that had not started; this stops a running one
                on_cancel()
            raise
        finally:
            if ticker is not None:
                ticker.stop()

    def close(self) -> None:
        """Stop taking calls; queued ones are dropped, running ones finish on their threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
