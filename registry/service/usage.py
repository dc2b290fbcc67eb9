"""Usage telemetry: calls, errors, latency and its histogram per version and UTC day, written in batches.

``UsageRecorder.record`` is O(1) and never touches the database: it adds to an in-memory aggregate
keyed by ``(version_id, day)`` under a lock (totals, the call's latency bucket of
``registry.service.latency``, and whether a ``search_tools`` result led the caller to it).
``flush`` (on demand, or every ``flush_interval_s`` from a daemon thread after ``start``) writes the
whole batch in one transaction of dialect upserts (``INSERT ... ON CONFLICT DO UPDATE`` on SQLite
and PostgreSQL): one ``usage_stat`` row per key and one ``usage_latency`` row per non-empty bucket.
Usage is not a visible registry change, so it does not go through ``write_transaction`` and never
bumps the revision. A failed flush is logged and its batch merged back for the next try, bounded by
``max_pending`` keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Table, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import load_only
from sqlmodel import SQLModel, col, select

from registry.db import read_session
from registry.models import ToolVersion, UsageLatency, UsageStat, utcnow
from registry.schemas import VersionUsage
from registry.service.latency import BUCKETS, bucket_index
from registry.service.refs import load_tool, semver_key
from toolbox.logging import get_logger

__all__ = ["UsageRecorder", "usage_for_tool", "usage_totals"]

log = get_logger("registry.usage")
_CHUNK = 500
_USAGE_FIELDS = tuple(getattr(ToolVersion, field) for field in ("id", "semver", "major", "minor", "patch"))


@dataclass
class _Aggregate:
    """Running totals of one (version, day)."""

    calls: int = 0
    errors: int = 0
    total_latency_ms: float = 0.0
    max_latency_ms: float = 0.0
    last_called_at: datetime | None = None
    search_calls: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def merge(self, other: _Aggregate) -> None:
        """Add ``other``'s totals to these."""
        self.calls += other.calls
        self.errors += other.errors
        self.search_calls += other.search_calls
        self.buckets = [mine + theirs for mine, theirs in zip(self.buckets, other.buckets, strict=True)]
        self.total_latency_ms += other.total_latency_ms
        self.max_latency_ms = max(self.max_latency_ms, other.max_latency_ms)
        if other.last_called_at is not None and (self.last_called_at is None
                                                 or other.last_called_at > self.last_called_at):
            self.last_called_at = other.last_called_at


Key = tuple[str, str]


def _table() -> Table:
    return SQLModel.metadata.tables[UsageStat.__tablename__]


def _latency_table() -> Table:
    return SQLModel.metadata.tables[UsageLatency.__tablename__]


def _aware_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _write_batch(connection: Connection, batch: dict[Key, _Aggregate]) -> int:
    """Upsert ``batch`` on ``connection`` (inside the caller's transaction); returns rows written.

    Rows of version ids that do not exist are dropped with a warning, so one bad id cannot block
    every later flush.
    """
    ids = sorted({version_id for version_id, _ in batch})
    known: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        known.update(connection.execute(sa_select(col(ToolVersion.id)).where(col(ToolVersion.id).in_(chunk)))
                     .scalars())
    unknown = set(ids) - known
    if unknown:
        log.warning("dropping usage of %d unknown version id(s): %s", len(unknown), ", ".join(sorted(unknown)[:5]))
    rows = [{"version_id": vid, "day": day, "calls": agg.calls, "errors": agg.errors,
             "total_latency_ms": agg.total_latency_ms, "max_latency_ms": agg.max_latency_ms,
             "last_called_at": agg.last_called_at, "search_calls": agg.search_calls}
            for (vid, day), agg in sorted(batch.items()) if vid in known]
    if not rows:
        return 0
    table = _table()
    postgres = connection.dialect.name == "postgresql"
    stmt = postgresql.insert(table) if postgres else sqlite.insert(table)
    new = stmt.excluded
    greatest = func.greatest if postgres else func.max  # SQLite's two-argument max() is scalar
    upsert = stmt.on_conflict_do_update(index_elements=["version_id", "day"], set_={
        "calls": table.c.calls + new.calls,
        "errors": table.c.errors + new.errors,
        "total_latency_ms": table.c.total_latency_ms + new.total_latency_ms,
        "max_latency_ms": greatest(table.c.max_latency_ms, new.max_latency_ms),
        "last_called_at": greatest(func.coalesce(table.c.last_called_at, new.last_called_at), new.last_called_at),
        "search_calls": table.c.search_calls + new.search_calls,
    })
    connection.execute(upsert, rows)
    buckets = [{"version_id": vid, "day": day, "bucket": index, "calls": count}
               for (vid, day), agg in sorted(batch.items()) if vid in known
               for index, count in enumerate(agg.buckets) if count]
    if buckets:
        latency = _latency_table()
        bucket_stmt = postgresql.insert(latency) if postgres else sqlite.insert(latency)
        connection.execute(bucket_stmt.on_conflict_do_update(
            index_elements=["version_id", "day", "bucket"],
            set_={"calls": latency.c.calls + bucket_stmt.excluded.calls}), buckets)
    return len(rows)


class UsageRecorder:
    """Buffers tool-call telemetry in memory and writes it in batches (see the module docstring)."""

    def __init__(self, engine: Engine, *, flush_interval_s: float = 1.0, max_pending: int = 100_000,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """Record usage into ``engine``; ``clock`` (timezone-aware) decides the UTC day of each call."""
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be positive")
        self.engine = engine
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.dropped = 0
        self._clock = clock
        self._pending: dict[Key, _Aggregate] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """How many (version, day) aggregates wait for the next flush."""
        with self._lock:
            return len(self._pending)

    def record(self, version_id: str, *, ok: bool, latency_ms: float, via_search: bool = False) -> None:
        """Count one call of ``version_id`` (O(1), no database access).

        ``via_search``: a ``search_tools`` call had just returned this version to the same caller.
        """
        now = self._clock()
        key = (version_id, now.astimezone(UTC).date().isoformat())
        latency = max(float(latency_ms), 0.0)
        bucket = bucket_index(latency)
        with self._lock:
            agg = self._pending.get(key)
            if agg is None:
                if len(self._pending) >= self.max_pending:
                    self.dropped += 1
                    return
                agg = self._pending[key] = _Aggregate()
            agg.calls += 1
            agg.errors += 0 if ok else 1
            agg.total_latency_ms += latency
            agg.max_latency_ms = max(agg.max_latency_ms, latency)
            agg.buckets[bucket] += 1
            agg.search_calls += 1 if via_search else 0
            if agg.last_called_at is None or now > agg.last_called_at:
                agg.last_called_at = now

    def flush(self) -> int:
        """Write everything buffered in one transaction; returns rows upserted.

        On failure the batch is merged back (bounded by ``max_pending``) and the error re-raised.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return 0
            try:
                with self.engine.begin() as connection:
                    return _write_batch(connection, batch)
            except Exception:
                self._requeue(batch)
                raise

    def _requeue(self, batch: dict[Key, _Aggregate]) -> None:
        with self._lock:
            for key, agg in self._pending.items():  # newer records go on top of the failed batch
                if key in batch:
                    batch[key].merge(agg)
                else:
                    batch[key] = agg
            overflow = len(batch) - self.max_pending
            if overflow > 0:
                for key in sorted(batch, key=lambda k: k[1])[:overflow]:  # drop the oldest days first
                    self.dropped += batch.pop(key).calls
                log.warning("usage buffer full: dropped %d aggregate(s)", overflow)
            self._pending = batch

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception:
            log.exception("usage flush failed; %d aggregate(s) kept for the next try", self.pending)

    def start(self) -> None:
        """Flush every ``flush_interval_s`` from a daemon thread until ``close``."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="distillery-usage-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self._flush_logged()

    def close(self) -> None:
        """Stop the flusher thread and flush what is left (a failure is logged, not raised)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self._flush_logged()

    def __enter__(self) -> UsageRecorder:
        """Start flushing in the background."""
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close: stop the thread and flush."""
        self.close()


def usage_for_tool(engine: Engine, namespace: str, name: str) -> list[VersionUsage]:
    """Usage of every version of ``namespace.name`` summed over days, ascending by semver."""
    stat = _table()
    with read_session(engine) as session:
        tool = load_tool(session, namespace, name)
        versions = list(session.exec(select(ToolVersion).options(load_only(*_USAGE_FIELDS))
                                     .where(ToolVersion.tool_id == tool.id)).all())
        totals: dict[str, Sequence[Any]] = {
            row[0]: row[1:] for row in session.execute(
                sa_select(stat.c.version_id, func.sum(stat.c.calls), func.sum(stat.c.errors),
                          func.sum(stat.c.total_latency_ms), func.max(stat.c.max_latency_ms),
                          func.max(stat.c.last_called_at, type_=stat.c.last_called_at.type))
                .where(stat.c.version_id.in_(sa_select(col(ToolVersion.id))
                                             .where(col(ToolVersion.tool_id) == tool.id)))
                .group_by(stat.c.version_id)).all()
        }
    out = []
    for version in sorted(versions, key=semver_key):
        calls, errors, total, peak, last = totals.get(version.id, (0, 0, 0.0, None, None))
        calls = int(calls or 0)
        out.append(VersionUsage(version_id=version.id, semver=version.semver, calls=calls, errors=int(errors or 0),
                                mean_latency_ms=float(total) / calls if calls else None,
                                max_latency_ms=float(peak) if calls and peak is not None else None,
                                last_called_at=_aware_utc(last)))
    return out


def usage_totals(engine: Engine) -> dict[str, float]:
    """Registry-wide counters for /metrics: calls_total, errors_total, latency_ms_sum, latency_ms_max,
    versions_called."""
    stat = _table()
    with engine.connect() as connection:
        row = connection.execute(sa_select(
            func.coalesce(func.sum(stat.c.calls), 0), func.coalesce(func.sum(stat.c.errors), 0),
            func.coalesce(func.sum(stat.c.total_latency_ms), 0.0), func.coalesce(func.max(stat.c.max_latency_ms), 0.0),
            func.count(func.distinct(stat.c.version_id)))).one()
    return {"calls_total": float(row[0]), "errors_total": float(row[1]), "latency_ms_sum": float(row[2]),
            "latency_ms_max": float(row[3]), "versions_called": float(row[4])}
