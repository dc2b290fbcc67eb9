"""A per-process watcher of the registry revision.

SQLite: poll the revision row. PostgreSQL: ``LISTEN distillery_revision`` (sent by every write
transaction on commit), with a slow poll as a safety net for a dropped connection. Every change
is handed to the listeners, which invalidate caches and tell MCP clients the list changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread
import psycopg
from sqlalchemy.engine import Engine

from registry.db import NOTIFY_CHANNEL, current_revision, is_postgres
from toolbox.logging import get_logger

__all__ = ["RevisionListener", "RevisionWatcher"]

logger = get_logger("server.watcher")
RevisionListener = Callable[[int], Awaitable[None]]


class RevisionWatcher:
    """Tracks the registry revision and calls listeners when it moves."""

    def __init__(self, engine: Engine, *, poll_interval_s: float = 0.2, safety_poll_s: float = 5.0) -> None:
        self._engine = engine
        self._poll_interval_s = poll_interval_s
        self._safety_poll_s = safety_poll_s
        self._listeners: list[RevisionListener] = []
        self.revision = current_revision(engine)

    def add_listener(self, listener: RevisionListener) -> None:
        """Call ``listener(revision)`` after every change this watcher sees."""
        self._listeners.append(listener)

    async def check(self) -> int:
        """Read the revision now and notify listeners if it moved; returns it."""
        revision = await anyio.to_thread.run_sync(current_revision, self._engine)
        if revision != self.revision:
            logger.info("registry revision %d -> %d", self.revision, revision)
            self.revision = revision
            for listener in list(self._listeners):
                try:
                    await listener(revision)
                except Exception:  # a listener's failure must not stop the watcher
                    logger.exception("revision listener failed")
        return revision

    async def run(self) -> None:
        """Watch until cancelled."""
        if is_postgres(self._engine):
            await self._listen_postgres()
        else:
            await self._poll(self._poll_interval_s)

    async def _poll(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            try:
                await self.check()
            except Exception:
                logger.exception("could not read the registry revision; retrying")

    async def _listen_postgres(self) -> None:
        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        async with anyio.create_task_group() as group:
            group.start_soon(self._poll, self._safety_poll_s)
            while True:
                try:
                    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                        await connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                        await self.check()
                        async for _notice in connection.notifies():
                            await self.check()
                except (psycopg.Error, OSError):
                    logger.warning("lost the PostgreSQL LISTEN connection; reconnecting", exc_info=True)
                    await anyio.sleep(1.0)
