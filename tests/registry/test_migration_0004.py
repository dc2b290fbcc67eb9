"""Migration 0004 (latency buckets, calls via search) keeps the usage already recorded, on both backends."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from registry.migrations import alembic_config, upgrade
from registry.service.health import health_report
from tests.registry.service.rows import add_version
from tests.registry.usage_factory import NOW, record_usage


def _to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as connection:
        (command.downgrade if down else command.upgrade)(alembic_config(connection=connection), revision)


def test_usage_recorded_before_0004_survives_the_upgrade_and_downgrade(engine: Engine) -> None:
    SQLModel.metadata.drop_all(engine)
    _to(engine, "0003")
    assert "usage_latency" not in inspect(engine).get_table_names()
    version = add_version(engine, "m", "t")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO usage_stat (version_id, day, calls, errors, total_latency_ms, "
                                "max_latency_ms) VALUES (:v, :d, 4, 1, 40.0, 20.0)"),
                           {"v": version.id, "d": NOW.date().isoformat()})
    upgrade(engine)
    assert {c["name"] for c in inspect(engine).get_columns("usage_latency")} == {"version_id", "day", "bucket",
                                                                                  "calls"}
    [old] = health_report(engine, days=1, now=NOW).versions
    assert (old.calls, old.errors, old.search_calls, old.p50_ms) == (4, 1, 0, None)  # no buckets before 0004
    record_usage(engine, version.id, latencies=[3.0, 3.0], via_search=1)
    [now] = health_report(engine, days=1, now=NOW).versions
    assert (now.calls, now.search_calls, now.p50_ms) == (6, 1, 3.5)
    _to(engine, "0003", down=True)
    assert "usage_latency" not in inspect(engine).get_table_names()
    assert "search_calls" not in {c["name"] for c in inspect(engine).get_columns("usage_stat")}
