"""Alembic migrations: ``upgrade`` on an empty database yields exactly the SQLModel metadata, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import registry.models  # noqa: F401  (tables on the metadata)
from registry.db import create_schema, current_revision, make_engine, write_transaction
from registry.migrations import MIGRATIONS_DIR, alembic_config, head_revision, upgrade
from registry.migrations import current_revision as schema_revision


@pytest.fixture
def empty_engine(engine: Engine) -> Engine:
    """The registry fixture's database (SQLite or PostgreSQL) with every table dropped."""
    SQLModel.metadata.drop_all(engine)
    assert inspect(engine).get_table_names() == []
    return engine


def _columns(engine: Engine) -> dict[str, set[str]]:
    inspector = inspect(engine)
    return {table: {c["name"] for c in inspector.get_columns(table)}
            for table in inspector.get_table_names() if table != "alembic_version"}


def test_upgrade_matches_the_metadata(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    expected = {table.name: {c.name for c in table.columns} for table in SQLModel.metadata.sorted_tables}
    assert _columns(empty_engine) == expected
    with empty_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       SQLModel.metadata)
        assert differences == []
        assert schema_revision(connection) == head_revision()
    assert current_revision(empty_engine) == 0  # the revision row exists
    with write_transaction(empty_engine) as (_session, revision):
        assert revision == 1


def test_upgrade_twice_is_a_no_op_and_downgrade_removes_everything(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        command.downgrade(alembic_config(connection=connection), "base")
    assert _columns(empty_engine) == {}
    upgrade(empty_engine)
    assert current_revision(empty_engine) == 0


def test_upgrade_adopts_a_schema_made_without_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with write_transaction(engine):
        pass
    upgrade(url)  # by URL: builds and disposes its own engine
    with engine.connect() as connection:
        assert schema_revision(connection) == head_revision()
    assert current_revision(engine) == 1  # data kept
    engine.dispose()


def test_scripts_ship_as_package_data() -> None:
    names = {path.name for path in MIGRATIONS_DIR.iterdir()}
    assert {"env.py", "script.py.mako", "versions"} <= names
    assert any(path.name.startswith("0001_") for path in (MIGRATIONS_DIR / "versions").iterdir())
    assert "alembic.ini" not in names
