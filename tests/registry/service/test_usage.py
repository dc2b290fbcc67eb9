"""Usage telemetry: in-memory aggregation, batched upserts on both databases, failures, the flusher thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from registry.db import current_revision
from registry.models import UsageStat
from registry.service import usage as usage_module
from registry.service.usage import UsageRecorder, usage_for_tool, usage_totals
from tests.registry.service.rows import add_version

DAY1 = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)


class Clock:
    """A settable clock for the recorder."""

    def __init__(self, now: datetime = DAY1) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def recorder(engine: Engine) -> Iterator[tuple[UsageRecorder, Clock]]:
    clock = Clock()
    rec = UsageRecorder(engine, flush_interval_s=60, clock=clock)
    yield rec, clock
    rec.close()


def statements_during(engine: Engine) -> tuple[list[str], Any]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def stats(engine: Engine) -> list[UsageStat]:
    with Session(engine) as session:
        return list(session.exec(select(UsageStat).order_by(UsageStat.version_id, UsageStat.day)).all())


def test_record_never_touches_the_database(engine: Engine, recorder: tuple[UsageRecorder, Clock]) -> None:
    rec, _ = recorder
    version = add_version(engine, "m", "t")
    seen, stop = statements_during(engine)
    try:
        for i in range(500):
            rec.record(version.id, ok=i % 5 != 0, latency_ms=float(i % 7))
    finally:
        stop()
    assert seen == [] and rec.pending == 1


def test_flush_aggregates_and_upserts_per_version_and_day(engine: Engine,
                                                          recorder: tuple[UsageRecorder, Clock]) -> None:
    rec, clock = recorder
    v1 = add_version(engine, "m", "t", semver="1.0.0")
    v2 = add_version(engine, "m", "t", semver="1.1.0")
    add_version(engine, "m", "t", semver="2.0.0", status="draft")
    revision = current_revision(engine)
    rec.record(v1.id, ok=True, latency_ms=10)
    rec.record(v1.id, ok=False, latency_ms=30)
    rec.record(v2.id, ok=True, latency_ms=5)
    assert rec.flush() == 2 and rec.pending == 0
    clock.now = DAY1 + timedelta(minutes=5)  # the next UTC day
    rec.record(v1.id, ok=True, latency_ms=50)
    rec.record(v1.id, ok=True, latency_ms=2)
    clock.now = DAY1  # late record of the first day: adds to the existing row
    rec.record(v1.id, ok=False, latency_ms=1)
    assert rec.flush() == 2
    assert current_revision(engine) == revision  # usage is not a visible registry change
    rows = {(r.version_id, r.day): r for r in stats(engine)}
    first = rows[(v1.id, "2026-03-01")]
    assert (first.calls, first.errors, first.total_latency_ms, first.max_latency_ms) == (3, 2, 41.0, 30.0)
    assert rows[(v1.id, "2026-03-02")].calls == 2
    by_semver = {u.semver: u for u in usage_for_tool(engine, "m", "t")}
    assert list(by_semver) == ["1.0.0", "1.1.0", "2.0.0"]
    u1 = by_semver["1.0.0"]
    assert (u1.calls, u1.errors, u1.mean_latency_ms, u1.max_latency_ms) == (5, 2, 93.0 / 5, 50.0)
    assert u1.last_called_at == DAY1 + timedelta(minutes=5)
    unused = by_semver["2.0.0"]
    assert (unused.calls, unused.mean_latency_ms, unused.max_latency_ms, unused.last_called_at) == (0, None, None,
                                                                                                    None)
    totals = usage_totals(engine)
    assert totals == {"calls_total": 6.0, "errors_total": 2.0, "latency_ms_sum": 98.0, "latency_ms_max": 50.0,
                      "versions_called": 2.0}


def test_totals_of_an_empty_registry(engine: Engine) -> None:
    assert usage_totals(engine)["calls_total"] == 0.0


def test_unknown_version_ids_do_not_poison_the_batch(engine: Engine, recorder: tuple[UsageRecorder, Clock]) -> None:
    rec, _ = recorder
    version = add_version(engine, "m", "t")
    rec.record("0" * 32, ok=True, latency_ms=1)
    rec.record(version.id, ok=True, latency_ms=1)
    assert rec.flush() == 1 and rec.pending == 0
    assert [r.version_id for r in stats(engine)] == [version.id]


def test_failed_flush_keeps_the_batch(engine: Engine, recorder: tuple[UsageRecorder, Clock],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rec, _ = recorder
    version = add_version(engine, "m", "t")
    real = usage_module._write_batch
    failures = [OperationalError("INSERT", {}, Exception("database is locked"))]

    def flaky(connection: Connection, batch: Any) -> int:
        if failures:
            raise failures.pop()
        return real(connection, batch)

    monkeypatch.setattr(usage_module, "_write_batch", flaky)
    rec.record(version.id, ok=True, latency_ms=4)
    with pytest.raises(OperationalError):
        rec.flush()
    assert rec.pending == 1 and stats(engine) == []
    rec.record(version.id, ok=False, latency_ms=8)  # arrives between the failure and the retry
    assert rec.flush() == 1
    [row] = stats(engine)
    assert (row.calls, row.errors, row.total_latency_ms) == (2, 1, 12.0)


def test_buffer_is_bounded(sqlite_engine: Engine) -> None:
    rec = UsageRecorder(sqlite_engine, max_pending=2)
    for vid in ("a", "b", "c", "c"):
        rec.record(vid * 32, ok=True, latency_ms=1)
    assert rec.pending == 2 and rec.dropped == 2


def test_concurrent_records_are_all_counted(engine: Engine, recorder: tuple[UsageRecorder, Clock]) -> None:
    rec, _ = recorder
    version = add_version(engine, "m", "t")

    def hammer() -> None:
        for _ in range(2000):
            rec.record(version.id, ok=True, latency_ms=1)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rec.flush()
    assert usage_for_tool(engine, "m", "t")[0].calls == 16_000


def test_background_thread_flushes_and_close_flushes_the_rest(engine: Engine) -> None:
    version = add_version(engine, "m", "t")
    rec = UsageRecorder(engine, flush_interval_s=0.02)
    with rec:
        rec.record(version.id, ok=True, latency_ms=3)
        deadline = time.monotonic() + 30
        while not stats(engine) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r.calls for r in stats(engine)] == [1]
        rec._stop.set()  # park the flusher: what comes next must be written by close()
        rec.record(version.id, ok=True, latency_ms=3)
    assert [r.calls for r in stats(engine)] == [2] and rec.pending == 0
    with pytest.raises(ValueError, match="positive"):
        UsageRecorder(engine, flush_interval_s=0)
