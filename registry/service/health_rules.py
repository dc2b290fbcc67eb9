"""The health report's findings, computed from per-version figures (no database access here).

- ``error_rate_jump``: an active version fails ``jump_points`` more often (absolute) *and* at least
  ``jump_ratio`` times as often as the previous version with enough calls (``min_calls`` each side);
  suggests rolling back to that version.
- ``superseded_still_called``: a version with calls in the window although a newer active version
  of the tool exists, or it was consolidated into / deprecated in favour of another version. An
  active one gets a suggestion (deprecate it with the newer version as replacement); an already
  deprecated one is reported only: what still sends students there is a pin, an alias or a cached
  listing, which the finding names.
- ``unused``: a tool published before the window began, none of whose versions was called in it;
  each of its active versions gets a suggestion (deprecate it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby, pairwise

from registry.models import VersionStatus
from registry.service.health_models import (
    Finding,
    FindingKind,
    HealthThresholds,
    Suggestion,
    SuggestionKind,
    VersionHealth,
)

__all__ = ["VersionFacts", "findings"]


@dataclass(frozen=True)
class VersionFacts:
    """A version's figures and the lifecycle facts the rules need."""

    health: VersionHealth
    tool_created_at: datetime
    replacement_id: str | None = None
    consolidated_into: str | None = None


def _pct(rate: float | None) -> str:
    return f"{100 * (rate or 0.0):.1f}%"


def _target(health: VersionHealth) -> str:
    return f"{health.namespace}.{health.name}@{health.semver}"


def _jumps(versions: Sequence[VersionFacts], limits: HealthThresholds) -> list[Finding]:
    called = [f.health for f in versions if f.health.calls >= limits.min_calls]
    out = []
    for before, after in pairwise(called):
        old, new = before.error_rate or 0.0, after.error_rate or 0.0
        if after.status != VersionStatus.active or new < old + limits.jump_points or new < old * limits.jump_ratio:
            continue
        message = (f"{after.namespace}.{after.name}: the error rate rose from {_pct(old)} on {before.semver} "
                   f"({before.calls} calls) to {_pct(new)} on {after.semver} ({after.calls} calls).")
        suggestion = None
        if before.status != VersionStatus.yanked:
            suggestion = Suggestion(
                kind=SuggestionKind.roll_back, namespace=after.namespace, name=after.name, ref=after.semver,
                replacement=_target(before), label=f"Roll back to {before.semver}",
                reason=f"health report: error rate {_pct(old)} on {before.semver} -> {_pct(new)} on {after.semver}")
        else:
            message += f" {before.semver} is yanked, so there is nothing to roll back to: fix and publish a new one."
        out.append(Finding(kind=FindingKind.error_rate_jump, namespace=after.namespace, name=after.name,
                           semver=after.semver, message=message, suggestion=suggestion))
    return out


def _superseded(versions: Sequence[VersionFacts], names: dict[str, VersionHealth], days: int) -> list[Finding]:
    out = []
    for index, facts in enumerate(versions):
        health = facts.health
        if not health.calls or health.status not in (VersionStatus.active, VersionStatus.deprecated):
            continue
        newer = [f.health for f in versions[index + 1:] if f.health.status == VersionStatus.active]
        named = names.get(facts.replacement_id or facts.consolidated_into or "")
        if health.status == VersionStatus.active:
            successor = newer[-1] if newer else named
        else:
            successor = named or (newer[-1] if newer else None)
        if successor is None or successor.status == VersionStatus.yanked:
            continue
        called = f"{_target(health)} was called {health.calls} times in the last {days} days"
        if health.status == VersionStatus.active:
            why = "is active" if newer else "consolidates it"
            message = f"{called} although {_target(successor)} {why}."
            suggestion: Suggestion | None = Suggestion(
                kind=SuggestionKind.deprecate_superseded, namespace=health.namespace, name=health.name,
                ref=health.semver, replacement=_target(successor),
                label=f"Deprecate {health.semver} in favour of {_target(successor)}",
                reason=f"health report: superseded by {_target(successor)} but still called")
        else:
            message = (f"{called} although it is deprecated in favour of {_target(successor)}: a pin, an alias "
                       "or a client's cached listing still sends students to it; move them to the replacement.")
            suggestion = None
        out.append(Finding(kind=FindingKind.superseded_still_called, namespace=health.namespace, name=health.name,
                           semver=health.semver, message=message, suggestion=suggestion))
    return out


def _unused(versions: Sequence[VersionFacts], since: datetime, days: int) -> list[Finding]:
    if any(f.health.calls for f in versions) or versions[0].tool_created_at > since:
        return []
    out = []
    for facts in versions:
        health = facts.health
        if health.status != VersionStatus.active:
            continue
        last = health.last_called_at.strftime("%Y-%m-%d") if health.last_called_at else "never"
        out.append(Finding(
            kind=FindingKind.unused, namespace=health.namespace, name=health.name, semver=health.semver,
            message=f"{health.namespace}.{health.name} had no calls in the last {days} days (last call: {last}).",
            suggestion=Suggestion(kind=SuggestionKind.deprecate_unused, namespace=health.namespace, name=health.name,
                                  ref=health.semver, label=f"Deprecate {health.semver}",
                                  reason=f"health report: no calls in {days} days")))
    return out


def findings(facts: Sequence[VersionFacts], *, since: datetime, days: int,
             thresholds: HealthThresholds) -> list[Finding]:
    """Every finding about ``facts`` (sorted by tool, then ascending semver): jumps, superseded, unused."""
    names = {f.health.version_id: f.health for f in facts}
    jumps: list[Finding] = []
    superseded: list[Finding] = []
    unused: list[Finding] = []
    for _key, group in groupby(facts, key=lambda f: (f.health.namespace, f.health.name)):
        versions = list(group)
        jumps += _jumps(versions, thresholds)
        superseded += _superseded(versions, names, days)
        unused += _unused(versions, since, days)
    return [*jumps, *superseded, *unused]
