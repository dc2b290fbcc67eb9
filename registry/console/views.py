"""What each console page shows, assembled from the registry's read services (no HTML here).

Each function takes the engine or services and the caller, applies the same visibility rules as the
REST reads (``registry.api.deps``), and returns plain data for a template. ``recent_audit`` is the
console's own read-only query of the audit log (the registry has no audit read service).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from registry.api.deps import check_read, visible_namespaces
from registry.container import RegistryServices
from registry.db import read_session
from registry.errors import NotFound
from registry.models import AuditEntry, VersionStatus
from registry.schemas import (
    Page,
    Principal,
    ReviewEntry,
    SearchHit,
    ToolDetail,
    ToolSummary,
    VersionDetail,
    VersionDiff,
    VersionUsage,
)
from registry.service.curation import Action, allowed_actions
from registry.service.diff import diff_versions
from registry.service.health import usage_by_tool
from registry.service.queries import get_tool, get_version, list_tools
from registry.service.review import MAX_QUEUE, review_queue
from registry.service.usage import usage_for_tool

__all__ = ["PAGE_SIZE", "SEARCH_STATUSES", "USAGE_DAYS", "ToolPage", "ToolRow", "recent_audit", "review_page",
           "search_page", "tool_list", "tool_page"]

PAGE_SIZE = 50
USAGE_DAYS = 30
AUDIT_LIMIT = 200
SEARCH_STATUSES = (VersionStatus.active, VersionStatus.deprecated, VersionStatus.draft)


@dataclass(frozen=True)
class ToolRow:
    """One line of the tool list."""

    namespace: str
    name: str
    description: str
    semver: str | None
    status: str | None
    flagged: bool = False
    versions: int | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    score: float | None = None
    calls: int = 0
    error_rate: float | None = None
    in_review: str | None = None  # "flagged" or "draft" when a version waits in the review queue


def _row(summary: ToolSummary) -> ToolRow:
    latest = summary.latest
    return ToolRow(namespace=summary.namespace, name=summary.name, description=summary.description,
                   semver=latest.semver if latest else None, status=latest.status.value if latest else None,
                   flagged=bool(latest and latest.flagged), versions=summary.version_count, aliases=summary.aliases)


def _hit_row(hit: SearchHit) -> ToolRow:
    return ToolRow(namespace=hit.namespace, name=hit.name, description=hit.description, semver=hit.semver,
                   status=hit.status.value, score=hit.score)


def tool_list(engine: Engine, principal: Principal | None, cursor: str | None) -> tuple[list[ToolRow], str | None]:
    """One page of the tools the caller may see, and the cursor of the next page."""
    page: Page[ToolSummary] = list_tools(engine, visible_namespaces=visible_namespaces(principal), cursor=cursor,
                                         limit=PAGE_SIZE)
    return _with_review(engine, principal, _with_usage(engine, [_row(item) for item in page.items])), page.next_cursor


def _with_review(engine: Engine, principal: Principal | None, rows: list[ToolRow]) -> list[ToolRow]:
    """``rows`` marked where a version waits for review, so a tool that serves nothing says why."""
    waiting: dict[tuple[str, str], str] = {}
    for entry in review_queue(engine, visible_namespaces=visible_namespaces(principal), limit=MAX_QUEUE):
        key = (entry.version.namespace, entry.version.name)
        if waiting.get(key) != "flagged":
            waiting[key] = "flagged" if entry.version.flagged else "draft"
    return [replace(row, in_review=waiting.get((row.namespace, row.name))) for row in rows]


def search_page(services: RegistryServices, principal: Principal | None, query: str) -> list[ToolRow]:
    """The registry's hybrid search over non-yanked versions the caller may see, best first."""
    hits = services.index.search(query, k=PAGE_SIZE, namespaces=visible_namespaces(principal),
                                 statuses=SEARCH_STATUSES)
    return _with_usage(services.engine, [_hit_row(hit) for hit in hits])


def _with_usage(engine: Engine, rows: list[ToolRow]) -> list[ToolRow]:
    """``rows`` with each tool's calls and error rate over the last ``USAGE_DAYS`` days (every version)."""
    usage = usage_by_tool(engine, [(row.namespace, row.name) for row in rows], days=USAGE_DAYS)
    return [replace(row, calls=usage[(row.namespace, row.name)][0], error_rate=usage[(row.namespace, row.name)][1])
            for row in rows]


@dataclass(frozen=True)
class ToolPage:
    """Everything the tool page shows."""

    tool: ToolDetail
    version: VersionDetail
    usage: dict[str, VersionUsage]
    actions: dict[str, list[Action]]
    diff: VersionDiff | None
    base: str
    head: str
    test_results: dict[int, dict[str, Any]]


def _test_results(version: VersionDetail) -> dict[int, dict[str, Any]]:
    """Publish-time outcome of each test, by index (empty when the tests were not run)."""
    report = version.validation_report.get("tests") or {}
    outcomes = report.get("outcomes") or [] if report.get("executed") else []
    return {int(item.get("index", i)): item for i, item in enumerate(outcomes) if isinstance(item, dict)}


def tool_page(engine: Engine, principal: Principal | None, namespace: str, name: str, *, ref: str | None,
              base: str | None, head: str | None) -> ToolPage:
    """The tool, the shown version (``ref``, else the served one, else the newest), usage and the diff."""
    check_read(principal, namespace, name)
    tool = get_tool(engine, namespace, name)
    if not tool.versions:
        raise NotFound(f"tool {namespace}.{name} has no versions yet")
    chosen = ref or (tool.latest.semver if tool.latest else tool.versions[-1].semver)
    version = get_version(engine, namespace, name, chosen)
    usage = {item.version_id: item for item in usage_for_tool(engine, namespace, name)}
    semvers = [v.semver for v in tool.versions]
    default_head = semvers[-1]
    default_base = semvers[-2] if len(semvers) > 1 else default_head
    diff = diff_versions(engine, namespace, name, base, head) if base and head else None
    return ToolPage(tool=tool, version=version, usage=usage,
                    actions={v.id: allowed_actions(v.status) for v in tool.versions}, diff=diff,
                    base=base or default_base, head=head or default_head, test_results=_test_results(version))


def review_page(engine: Engine, principal: Principal | None) -> list[ReviewEntry]:
    """The review queue as the caller may see it, flagged first."""
    return review_queue(engine, visible_namespaces=visible_namespaces(principal), limit=200)


def _visible(entry: AuditEntry, namespaces: Sequence[str] | None) -> bool:
    if namespaces is None:
        return True
    return any(entry.target.startswith(f"{ns}.") for ns in namespaces)


def recent_audit(engine: Engine, principal: Principal, *, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
    """The newest audit entries; a key limited to namespaces sees only entries about their tools."""
    namespaces = visible_namespaces(principal)
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit if namespaces is None else 5000)
    with read_session(engine) as session:
        rows = list(session.exec(query).all())
    return [row for row in rows if _visible(row, namespaces)][:limit]
