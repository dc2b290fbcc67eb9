"""Record tool usage the way the MCP server does (through a real ``UsageRecorder``), on chosen days.

``record_usage(engine, version_id, day=NOW - timedelta(days=2), latencies=[3, 40], errors=1, via_search=1)``
records one call per latency (the first ``errors`` of them failed, the first ``via_search`` reached via
``search_tools``) and flushes, so the rows are in the database when it returns. ``backdate_tool`` makes a
tool look published long ago (the report only calls a tool unused when it predates the window).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from registry.models import Tool
from registry.service.usage import UsageRecorder

__all__ = ["NOW", "backdate_tool", "days_ago", "record_usage"]

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def days_ago(days: int) -> datetime:
    """``NOW`` minus ``days`` days."""
    return NOW - timedelta(days=days)


def record_usage(engine: Engine, version_id: str, *, latencies: Sequence[float], day: datetime = NOW,
                 errors: int = 0, via_search: int = 0) -> None:
    """Record ``len(latencies)`` calls of ``version_id`` at ``day`` and write them to the database."""
    if errors > len(latencies) or via_search > len(latencies):
        raise ValueError("errors and via_search count calls: they cannot exceed len(latencies)")
    recorder = UsageRecorder(engine, flush_interval_s=60, clock=lambda: day)
    for index, latency in enumerate(latencies):
        recorder.record(version_id, ok=index >= errors, latency_ms=latency, via_search=index < via_search)
    recorder.flush()


def backdate_tool(engine: Engine, namespace: str, name: str, when: datetime) -> None:
    """Set the creation time of ``namespace.name`` to ``when``."""
    with engine.begin() as connection:
        connection.execute(update(Tool).where(col(Tool.namespace) == namespace, col(Tool.name) == name)
                           .values(created_at=when))
