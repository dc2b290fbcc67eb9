"""The registry revision a request is served at, read without a thread hop where the database allows.

Every MCP request reads the revision so that list and call agree with the registry the moment a
change commits, whatever the watcher has seen yet. On a SQLite file the read is one indexed row
from the page cache on a dedicated connection (WAL readers never wait for writers), done right
on the event loop: microseconds, no worker thread, no pool checkout. Other engines (PostgreSQL,
in-memory SQLite) read through the engine in a worker thread, as before.
"""

from __future__ import annotations

import sqlite3
import threading

import anyio.to_thread
from sqlalchemy.engine import Engine

from registry.db import current_revision
from toolbox.logging import get_logger

__all__ = ["RevisionClock"]

logger = get_logger("server.revision")
_QUERY = "SELECT revision FROM registry_state WHERE id = 1"
_BUSY_TIMEOUT_S = 1.0  # WAL readers are not blocked by writers; this only covers WAL recovery


def _sqlite_file(engine: Engine) -> str | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    return None if database in {"", ":memory:"} or database.startswith("file:") else database


class RevisionClock:
    """Reads the registry revision for each request; thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._path = _sqlite_file(engine)
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def inline(self) -> bool:
        """Whether reads happen on the calling thread (a SQLite file) rather than in a worker thread."""
        return self._path is not None

    async def current(self) -> int:
        """The registry revision now."""
        if self._path is None:
            return await anyio.to_thread.run_sync(current_revision, self._engine)
        return self.read_inline()

    def read_inline(self) -> int:
        """The revision from the dedicated SQLite connection (reopened once if it broke)."""
        with self._lock:
            try:
                return self._read()
            except sqlite3.Error:
                logger.warning("revision read failed; reopening the connection", exc_info=True)
                self._close()
                return self._read()

    def _read(self) -> int:
        if self._connection is None:
            assert self._path is not None
            self._connection = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                                               check_same_thread=False)
            self._connection.execute("PRAGMA query_only = ON")
        row = self._connection.execute(_QUERY).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except sqlite3.Error:
                logger.debug("closing the revision connection failed", exc_info=True)
            self._connection = None

    def close(self) -> None:
        """Close the dedicated connection (a later read reopens it)."""
        with self._lock:
            self._close()
