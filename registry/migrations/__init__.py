"""Alembic migrations of the registry schema, configured in code (no alembic.ini).

``upgrade(engine_or_url)`` brings a database to the newest revision. It is cheap when the database
is already there, serialises concurrent upgraders on PostgreSQL with an advisory lock, and adopts a
database made by ``registry.db.create_schema`` (tables but no ``alembic_version``) by stamping it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from registry.db import is_postgres, make_engine
from toolbox.logging import get_logger

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

logger = get_logger("registry.migrations")
MIGRATIONS_DIR = Path(__file__).resolve().parent
_ADVISORY_LOCK_KEY = 0x44_53_54_4C  # "DSTL": one upgrader at a time per PostgreSQL database


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the registry's scripts, bound to ``url`` or an open ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the scripts define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError(f"no migration scripts under {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the connected database is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(target: Engine | str, revision: str = "head") -> None:
    """Migrate the database behind ``target`` (an engine or a URL) to ``revision``."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        head = head_revision()
        if revision in {"head", head}:
            with engine.connect() as connection:
                if current_revision(connection) == head:
                    return
        with engine.begin() as connection:
            if is_postgres(engine):
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            config = alembic_config(connection=connection)
            tables = set(inspect(connection).get_table_names())
            if "alembic_version" not in tables and "registry_state" in tables:
                logger.info("adopting a registry created without migrations: stamping %s", head)
                command.stamp(config, head)
            before = current_revision(connection)
            command.upgrade(config, revision)
            after = current_revision(connection)
        if before != after:
            logger.info("migrated the registry database from %s to %s", before or "empty", after)
    finally:
        if isinstance(target, str):
            engine.dispose()
