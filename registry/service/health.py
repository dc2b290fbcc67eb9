"""The health report: usage per tool version over the last N UTC days, and the findings it supports.

Figures come from ``usage_stat`` (calls, errors, calls reached via ``search_tools``, the last call)
and ``usage_latency`` (the histogram buckets p50 and p95 are estimated from,
``registry.service.latency``), summed over the window's days. Five queries whatever the size of the
box; the findings are computed in memory by ``registry.service.health_rules``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import load_only
from sqlmodel import Session, SQLModel, col, select

from registry.db import read_session
from registry.errors import InvalidRequest
from registry.models import LinkKind, Tool, ToolVersion, UsageLatency, UsageStat, VersionLink, VersionStatus, utcnow
from registry.service.health_models import HealthReport, HealthThresholds, HealthTotals, VersionHealth
from registry.service.health_rules import VersionFacts, findings
from registry.service.latency import BUCKETS, percentile
from registry.service.refs import semver_key

__all__ = ["MAX_DAYS", "health_report", "usage_by_tool"]

MAX_DAYS = 366
_FIELDS = tuple(getattr(ToolVersion, name) for name in ("id", "tool_id", "semver", "major", "minor", "patch",
                                                         "status", "replacement_id", "created_at"))


@dataclass
class _Usage:
    calls: int = 0
    errors: int = 0
    search_calls: int = 0
    max_ms: float = 0.0
    last: datetime | None = None
    daily_calls: dict[str, int] = field(default_factory=dict)
    daily_errors: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * BUCKETS)


def _window(now: datetime, days: int) -> list[str]:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be from 1 to {MAX_DAYS}, got {days}")
    today = now.astimezone(UTC).date()
    return [(today - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _table(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


def _load_usage(session: Session, since: str) -> dict[str, _Usage]:
    stat, latency = _table(UsageStat), _table(UsageLatency)
    usage: dict[str, _Usage] = defaultdict(_Usage)
    days: Sequence[Any] = session.execute(
        sa_select(stat.c.version_id, stat.c.day, stat.c.calls, stat.c.errors, stat.c.search_calls,
                  stat.c.max_latency_ms).where(stat.c.day >= since)).all()
    for vid, day, calls, errors, search_calls, peak in days:
        item = usage[vid]
        item.calls += calls
        item.errors += errors
        item.search_calls += search_calls
        item.max_ms = max(item.max_ms, float(peak))
        item.daily_calls[day] = item.daily_calls.get(day, 0) + calls
        item.daily_errors[day] = item.daily_errors.get(day, 0) + errors
    last_calls: Sequence[Any] = session.execute(
        sa_select(stat.c.version_id, func.max(stat.c.last_called_at, type_=stat.c.last_called_at.type))
        .group_by(stat.c.version_id)).all()
    for vid, last in last_calls:
        usage[vid].last = _aware(last)
    buckets: Sequence[Any] = session.execute(
        sa_select(latency.c.version_id, latency.c.bucket, func.sum(latency.c.calls))
        .where(latency.c.day >= since).group_by(latency.c.version_id, latency.c.bucket)).all()
    for vid, bucket, calls in buckets:
        if 0 <= bucket < BUCKETS:
            usage[vid].buckets[bucket] += int(calls)
    return usage


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _health(tool: Tool, version: ToolVersion, use: _Usage, window: list[str]) -> VersionHealth:
    called = use.calls > 0
    return VersionHealth(
        version_id=version.id, namespace=tool.namespace, name=tool.name, semver=version.semver, status=version.status,
        calls=use.calls, errors=use.errors, error_rate=_rate(use.errors, use.calls),
        p50_ms=percentile(use.buckets, 0.5, max_ms=use.max_ms), p95_ms=percentile(use.buckets, 0.95, max_ms=use.max_ms),
        max_latency_ms=use.max_ms if called else None, search_calls=use.search_calls,
        search_share=_rate(use.search_calls, use.calls), last_called_at=use.last,
        daily_calls=[use.daily_calls.get(day, 0) for day in window],
        daily_errors=[use.daily_errors.get(day, 0) for day in window])


def health_report(engine: Engine, *, days: int = 30, visible_namespaces: Sequence[str] | None = None,
                  thresholds: HealthThresholds | None = None, now: datetime | None = None) -> HealthReport:
    """The report over the last ``days`` UTC days (today included) of the tools in ``visible_namespaces``."""
    moment = (now or utcnow()).astimezone(UTC)
    window = _window(moment, days)
    limits = thresholds or HealthThresholds()
    with read_session(engine) as session:
        tool_query, version_query = select(Tool), select(ToolVersion).options(load_only(*_FIELDS))
        if visible_namespaces is not None:
            tool_query = tool_query.where(col(Tool.namespace).in_(list(visible_namespaces)))
            version_query = version_query.where(col(ToolVersion.tool_id).in_(
                select(Tool.id).where(col(Tool.namespace).in_(list(visible_namespaces)))))
        tools = {tool.id: tool for tool in session.exec(tool_query).all()}
        versions = [v for v in session.exec(version_query).all() if v.tool_id in tools]
        consolidated = {parent: child for child, parent in session.exec(
            select(VersionLink.version_id, VersionLink.other_id).where(VersionLink.kind == LinkKind.consolidates))}
        usage = _load_usage(session, window[0])
    facts: list[VersionFacts] = []
    for version in sorted(versions, key=lambda v: (tools[v.tool_id].namespace, tools[v.tool_id].name,
                                                   semver_key(v))):
        tool = tools[version.tool_id]
        facts.append(VersionFacts(health=_health(tool, version, usage.get(version.id) or _Usage(), window),
                                  tool_created_at=_aware(tool.created_at) or moment,
                                  replacement_id=version.replacement_id,
                                  consolidated_into=consolidated.get(version.id)))
    shown = [f.health for f in facts if f.health.calls or f.health.status in (VersionStatus.active,
                                                                                 VersionStatus.deprecated)]
    shown.sort(key=lambda h: (-h.calls, h.namespace, h.name, h.semver))
    return HealthReport(generated_at=moment, days=days, window=window, thresholds=limits,
                        totals=_totals(usage, {v.id for v in versions}, len(tools)),
                        versions=shown, findings=findings(facts, since=moment - timedelta(days=days),
                                                          days=days, thresholds=limits))


def _totals(usage: dict[str, _Usage], visible: set[str], tools: int) -> HealthTotals:
    mine = [use for vid, use in usage.items() if vid in visible and use.calls]
    calls, errors = sum(u.calls for u in mine), sum(u.errors for u in mine)
    search = sum(u.search_calls for u in mine)
    buckets = [sum(u.buckets[i] for u in mine) for i in range(BUCKETS)]
    peak = max((u.max_ms for u in mine), default=0.0)
    return HealthTotals(calls=calls, errors=errors, error_rate=_rate(errors, calls), search_calls=search,
                        search_share=_rate(search, calls), p50_ms=percentile(buckets, 0.5, max_ms=peak),
                        p95_ms=percentile(buckets, 0.95, max_ms=peak), versions_called=len(mine), tools=tools)


def usage_by_tool(engine: Engine, keys: Sequence[tuple[str, str]], *, days: int = 30,
                  now: datetime | None = None) -> dict[tuple[str, str], tuple[int, float | None]]:
    """``(namespace, name) -> (calls, error rate)`` of each tool in ``keys``, every version, last ``days`` days."""
    window = _window((now or utcnow()).astimezone(UTC), days)
    wanted = set(keys)
    if not wanted:
        return {}
    stat = _table(UsageStat)
    query = (sa_select(col(Tool.namespace), col(Tool.name), func.sum(stat.c.calls), func.sum(stat.c.errors))
             .join(ToolVersion, col(ToolVersion.id) == stat.c.version_id)
             .join(Tool, col(Tool.id) == col(ToolVersion.tool_id))
             .where(stat.c.day >= window[0], col(Tool.namespace).in_(sorted({ns for ns, _ in wanted})))
             .group_by(col(Tool.namespace), col(Tool.name)))
    with read_session(engine) as session:
        rows: Sequence[Any] = session.execute(query).all()
    out: dict[tuple[str, str], tuple[int, float | None]] = dict.fromkeys(wanted, (0, None))
    for namespace, name, calls, errors in rows:
        key = (str(namespace), str(name))
        if key in wanted:
            out[key] = (int(calls), _rate(int(errors), int(calls)))
    return out
