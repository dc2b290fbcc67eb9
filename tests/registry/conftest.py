"""Registry fixtures: a fresh database per test, on SQLite and (when it answers) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from registry.db import create_schema, make_engine

POSTGRES_URL = os.environ.get("DISTILLERY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_postgres_state: dict[str, str | None] = {}


def postgres_unavailable() -> str | None:
    """None when the test PostgreSQL answers, else the reason it does not (checked once)."""
    if "reason" not in _postgres_state:
        try:
            engine = make_engine(POSTGRES_URL)
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
            _postgres_state["reason"] = None
        except Exception as exc:  # any failure to connect means: no server here
            _postgres_state["reason"] = f"PostgreSQL at {POSTGRES_URL} does not answer: {exc}"
    return _postgres_state["reason"]


def _postgres_engine() -> Iterator[Engine]:
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("DISTILLERY_TEST_POSTGRES") == "required":
            pytest.fail(f"{reason} (scripts/dev.sh saw it answer; a skip here would hide a broken setup)")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        create_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _sqlite_engine(directory: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{directory / 'registry.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh registry database with every table, once per backend."""
    if request.param == "sqlite":
        yield from _sqlite_engine(tmp_path)
    else:
        yield from _postgres_engine()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL registry in its own schema, for tests that need two backends at once (mark them postgres)."""
    yield from _postgres_engine()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite registry, for tests whose subject does not depend on the backend."""
    yield from _sqlite_engine(tmp_path)
