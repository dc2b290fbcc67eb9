"""Exclusive leases on the unprivileged uids that tool calls run as.

Every worker needs a uid of its own: RLIMIT_NPROC counts processes per real uid, and cleanup
kills whatever that uid left behind. Sandboxes in *different* processes (two ``distillery
serve`` replicas, parallel test runs) must therefore never share one. A lease is an exclusive
``flock`` on ``<lock dir>/<uid>.lock``, held while the worker lives and dropped by the kernel if
the holding process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from toolbox.errors import SandboxError

__all__ = ["DEFAULT_LOCK_DIR", "UidLease", "lease_uid"]

DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "distillery-sandbox-uids"


class UidLease:
    """One leased uid; ``release()`` (idempotent) after everything running as it is dead."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd: int | None = fd

    def release(self) -> None:
        """Give the uid back."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def lease_uid(first: int, span: int = 4096, lock_dir: Path = DEFAULT_LOCK_DIR) -> UidLease:
    """Lease the lowest free uid in ``[first, first + span)``."""
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for uid in range(first, first + span):
        fd = os.open(lock_dir / f"{uid}.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise SandboxError(
        f"no free sandbox uid in {first}..{first + span - 1}: too many sandbox workers on this host; "
        "stop some or set DISTILLERY_SANDBOX__RUN_AS_UID to another range"
    )
