"""Engines, sessions and the write transaction that bumps the registry revision.

SQLite (the embedded default) runs in WAL mode with a busy timeout; PostgreSQL through psycopg 3.
``write_transaction`` is the only way to make a visible change: its first statement bumps the
revision row, which takes the database's write lock (SQLite) or the row lock (PostgreSQL), so
concurrent writers serialise there and every change is stamped with the revision it produced.
On PostgreSQL the commit also sends ``NOTIFY distillery_revision`` for watchers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from registry.models import AuditEntry, RegistryState
from toolbox.settings import Settings

__all__ = [
    "NOTIFY_CHANNEL",
    "audit",
    "create_schema",
    "current_revision",
    "engine_from_settings",
    "is_postgres",
    "make_engine",
    "read_session",
    "write_transaction",
]

NOTIFY_CHANNEL = "distillery_revision"
_REVISION_QUERY = text("SELECT revision FROM registry_state WHERE id = 1")


def is_postgres(engine: Engine) -> bool:
    """Whether ``engine`` talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False, pool_size: int = 10) -> Engine:
    """An engine for ``url``: SQLite gets WAL and a busy timeout, PostgreSQL uses psycopg 3."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in {"", ":memory:"}
        if not in_memory:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            **({"poolclass": StaticPool} if in_memory else {}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


def engine_from_settings(settings: Settings) -> Engine:
    """The engine for the configured database (SQLite in the data directory by default)."""
    db = settings.database
    return make_engine(settings.database_url, busy_timeout_ms=db.busy_timeout_ms, echo=db.echo,
                       pool_size=db.pool_size)


def create_schema(engine: Engine) -> None:
    """Create every table and the revision row (tests and first runs; production uses Alembic)."""
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        if session.get(RegistryState, 1) is None:
            session.add(RegistryState(id=1, revision=0))
            session.commit()


def current_revision(engine: Engine) -> int:
    """The registry revision now (0 for an empty registry); cheap enough to read on every request."""
    with engine.connect() as connection:
        revision = connection.execute(_REVISION_QUERY).scalar()
    return int(revision or 0)


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads; objects stay usable after it closes."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def write_transaction(engine: Engine) -> Iterator[tuple[Session, int]]:
    """A transaction for a visible change: yields the session and the new revision.

    The revision bump is the transaction's first statement, so writers queue on it; everything
    the block adds commits with it or not at all.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            revision = int(
                session.execute(
                    text("UPDATE registry_state SET revision = revision + 1 WHERE id = 1 RETURNING revision")
                ).scalar_one()
            )
            yield session, revision
            if is_postgres(engine):
                session.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": NOTIFY_CHANNEL, "payload": str(revision)},
                )
            session.commit()
        except BaseException:
            session.rollback()
            raise


def audit(session: Session, *, actor: str, action: str, target: str = "", revision: int | None = None,
          **detail: Any) -> None:
    """Record one write in the audit log (inside the caller's transaction)."""
    session.add(AuditEntry(actor=actor, action=action, target=target, revision=revision, detail=detail))
