"""Running a blocking ``Sandbox.run`` from async code so that cancelling the awaiting task cancels the call."""

from __future__ import annotations

import asyncio
from typing import Any

from toolbox.sandbox.base import CancelToken, Limits, RunResult, Sandbox
from toolbox.spec import ToolSpec

__all__ = ["run_in_thread"]


async def run_in_thread(sandbox: Sandbox, spec: ToolSpec, args: dict[str, Any],
                        limits: Limits | None = None) -> RunResult:
    """``sandbox.run`` in a worker thread; if this coroutine is cancelled, the call is cancelled too.

    The call's process is killed and its worker freed at once, then ``CancelledError`` propagates.
    """
    token = CancelToken()
    try:
        return await asyncio.to_thread(lambda: sandbox.run(spec, args, limits, cancel=token))
    finally:
        token.cancel()  # a no-op once the run has returned
