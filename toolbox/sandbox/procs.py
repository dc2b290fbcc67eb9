"""Host-side process helpers: kill every process of a uid, read the tail of a worker's stderr file."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import IO

__all__ = ["file_tail", "kill_uid"]


def _zombie(pid: str) -> bool:
    """Whether ``pid`` has exited and only waits to be reaped (nothing left to kill)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    return stat[stat.rfind(b")") + 2:].startswith(b"Z")


def kill_uid(uid: int, budget_s: float = 2.0) -> int:
    """SIGKILL every process whose owner is ``uid`` (host-side backstop); returns how many were seen."""
    seen = 0
    end = time.monotonic() + budget_s
    while time.monotonic() < end:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == uid and not _zombie(entry):
                        pids.append(int(entry))
                except OSError:
                    continue
        if not pids:
            break
        seen += len(pids)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
    return seen


def file_tail(stream: IO[bytes], limit: int = 2000) -> str:
    """The last ``limit`` bytes of a worker's stderr file, decoded ("" when it cannot be read)."""
    try:
        stream.seek(0, os.SEEK_END)
        stream.seek(max(0, stream.tell() - limit))
        return stream.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""
