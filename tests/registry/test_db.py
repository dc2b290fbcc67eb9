"""The write transaction: revision bumps, atomicity, serialisation of concurrent writers."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from registry.db import current_revision, write_transaction
from registry.models import Tool


def test_write_transaction_bumps_revision_once_per_change(engine: Engine) -> None:
    before = current_revision(engine)
    with write_transaction(engine) as (session, revision):
        session.add(Tool(namespace="math", name="add", changed_revision=revision))
    assert revision == before + 1
    assert current_revision(engine) == before + 1


def test_failed_write_leaves_nothing_and_no_revision(engine: Engine) -> None:
    before = current_revision(engine)
    with pytest.raises(RuntimeError), write_transaction(engine) as (session, _):
        session.add(Tool(namespace="math", name="add"))
        session.flush()
        raise RuntimeError("boom")
    assert current_revision(engine) == before
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Tool)).one() == 0


def test_concurrent_writers_serialise_without_losing_a_change(engine: Engine) -> None:
    writers, per_writer = 8, 10

    def write(index: int) -> None:
        for step in range(per_writer):
            with write_transaction(engine) as (session, revision):
                session.add(Tool(namespace="ns", name=f"t{index}_{step}", changed_revision=revision))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(engine) as session:
        revisions = session.exec(select(Tool.changed_revision)).all()
    assert sorted(revisions) == list(range(1, writers * per_writer + 1))
    assert current_revision(engine) == writers * per_writer
