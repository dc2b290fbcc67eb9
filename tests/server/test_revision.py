"""The revision clock sees every commit at once, inline on a SQLite file and through the engine otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.db import create_schema, make_engine, write_transaction
from server.revision import RevisionClock

pytestmark = pytest.mark.anyio


def _bump(url: str) -> None:
    engine = make_engine(url)  # another engine: another writer, as another process would be
    try:
        with write_transaction(engine):
            pass
    finally:
        engine.dispose()


async def test_a_sqlite_file_is_read_inline_and_sees_each_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clock.db'}"
    engine = make_engine(url)
    create_schema(engine)
    clock = RevisionClock(engine)
    try:
        assert clock.inline
        start = await clock.current()
        _bump(url)
        assert await clock.current() == start + 1
        clock.close()  # a closed clock reopens its connection
        _bump(url)
        assert await clock.current() == start + 2
    finally:
        clock.close()
        engine.dispose()


async def test_an_in_memory_database_is_read_through_the_engine() -> None:
    engine = make_engine("sqlite://")
    create_schema(engine)
    clock = RevisionClock(engine)
    try:
        assert not clock.inline
        start = await clock.current()
        with write_transaction(engine):
            pass
        assert await clock.current() == start + 1
    finally:
        clock.close()
        engine.dispose()
