"""What the health and clusters pages show, from the registry's report services (no HTML here but the charts).

Both apply the REST reads' visibility (``visible_namespaces``); a finding's one-click form is shown
only to a key that may carry it out (curator role, the tool's and the replacement's namespaces),
and the POST checks all of that again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy.engine import Engine

from registry.api.deps import visible_namespaces
from registry.console.svg import Bar, bar_chart, column_chart, sparkline
from registry.models import Role
from registry.schemas import Principal
from registry.service.clusters import Cluster, similar_tool_clusters
from registry.service.health import health_report
from registry.service.health_models import Finding, HealthReport, VersionHealth
from registry.service.keys import has_role

__all__ = ["CHART_ROWS", "DAY_CHOICES", "HealthPage", "clusters_page", "health_page", "may_apply"]

DAY_CHOICES = (7, 30, 90)
CHART_ROWS = 15


@dataclass(frozen=True)
class HealthPage:
    """The report with its charts, and which findings the caller may act on."""

    report: HealthReport
    daily: Markup
    calls: Markup
    latency: Markup
    sparks: dict[str, Markup]
    findings: list[tuple[Finding, bool]]


def may_apply(principal: Principal | None, finding: Finding) -> bool:
    """Whether ``principal`` may carry out the finding's suggestion (what the POST enforces)."""
    suggestion = finding.suggestion
    if suggestion is None or principal is None or not has_role(principal.role, Role.curator):
        return False
    spaces = [suggestion.namespace]
    if suggestion.replacement:
        spaces.append(suggestion.replacement.split(".", 1)[0])
    return all(principal.can_see(space) for space in spaces)


def _href(item: VersionHealth) -> str:
    return f"/ui/tools/{item.namespace}/{item.name}?v={item.semver}"


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.1f}%"


def health_page(engine: Engine, principal: Principal | None, days: int) -> HealthPage:
    """The health report over ``days`` days as the caller may see it, with its charts."""
    report = health_report(engine, days=days, visible_namespaces=visible_namespaces(principal))
    called = [item for item in report.versions if item.calls][:CHART_ROWS]
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in report.versions:
        for day, day_calls, day_errors in zip(report.window, item.daily_calls, item.daily_errors, strict=True):
            per_day[day][0] += day_calls
            per_day[day][1] += day_errors
    daily = column_chart([per_day[d][0] for d in report.window], report.window, problems=[per_day[d][1]
                                                                                         for d in report.window],
                         title=f"Calls per day over the last {days} days, errors in red")
    calls = bar_chart([Bar(item.qualified, item.calls, item.errors,
                           text=f"{item.calls} ({_pct(item.error_rate)} err)", href=_href(item)) for item in called],
                      title="Calls per version, errors in red")
    timed = [item for item in called if item.p95_ms is not None]
    latency = bar_chart([Bar(item.qualified, item.p95_ms or 0.0, href=_href(item),
                             text=f"p50 {item.p50_ms or 0.0:.1f} / p95 {item.p95_ms or 0.0:.1f} ms") for item in timed],
                        title="p95 latency per version (ms)")
    sparks = {item.version_id: sparkline(item.daily_calls, title=f"{item.qualified}: calls per day")
              for item in report.versions}
    return HealthPage(report=report, daily=daily, calls=calls, latency=latency, sparks=sparks,
                      findings=[(finding, may_apply(principal, finding)) for finding in report.findings])


def clusters_page(engine: Engine, principal: Principal | None) -> list[Cluster]:
    """The clusters of similar tools the caller may see, open ones first."""
    return similar_tool_clusters(engine, visible_namespaces=visible_namespaces(principal))
