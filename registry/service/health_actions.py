"""Carrying out a health-report suggestion through the ``Curator``: every step is an audited curation.

- ``deprecate_unused``: deprecate ``ref``.
- ``deprecate_superseded``: deprecate ``ref`` with ``replacement`` ("ns.name@semver").
- ``roll_back``: serve the previous version again. Restore it when it is deprecated or yanked, move
  every alias that points at ``ref`` to it, then deprecate ``ref`` with it as replacement. Pins are
  left alone: a pin is a caller's explicit choice.

The steps are separate audited transactions, in an order where a failure half-way leaves nothing
worse than before (a restored older version beside the still-served newer one).
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.errors import InvalidRequest
from registry.models import VersionStatus
from registry.service.curation import Curator
from registry.service.health_models import SuggestionKind
from registry.service.queries import get_tool, get_version
from registry.service.refs import split_target

__all__ = ["AppliedStep", "apply_suggestion"]


@dataclass(frozen=True)
class AppliedStep:
    """One curation done: what, on which version."""

    action: str
    target: str


def apply_suggestion(curator: Curator, kind: SuggestionKind, namespace: str, name: str, ref: str, *,
                     replacement: str | None, actor: str, reason: str) -> list[AppliedStep]:
    """Apply one suggestion of ``kind`` to ``namespace.name@ref``; returns the steps taken, in order."""
    target = f"{namespace}.{name}@{ref}"
    if kind == SuggestionKind.deprecate_unused:
        curator.deprecate(namespace, name, ref, actor=actor, reason=reason)
        return [AppliedStep("deprecate", target)]
    if replacement is None:
        raise InvalidRequest(f"{kind.value} needs the replacement version ('ns.name@semver')")
    if kind == SuggestionKind.deprecate_superseded:
        curator.deprecate(namespace, name, ref, actor=actor, reason=reason, replacement=replacement)
        return [AppliedStep("deprecate", target)]
    return _roll_back(curator, namespace, name, ref, replacement, actor=actor, reason=reason)


def _roll_back(curator: Curator, namespace: str, name: str, ref: str, previous: str, *, actor: str,
               reason: str) -> list[AppliedStep]:
    prev_ns, prev_name, prev_ref = split_target(previous)
    if (prev_ns, prev_name) != (namespace, name):
        raise InvalidRequest(f"a roll-back goes to another version of {namespace}.{name}, not to {previous}")
    engine = curator.engine
    current = get_version(engine, namespace, name, ref)
    older = get_version(engine, namespace, name, prev_ref)
    if older.id == current.id:
        raise InvalidRequest(f"{namespace}.{name}@{ref} cannot be rolled back to itself")
    steps: list[AppliedStep] = []
    older_target = f"{namespace}.{name}@{older.semver}"
    if older.status in (VersionStatus.deprecated, VersionStatus.yanked):
        curator.restore(namespace, name, older.semver, actor=actor, reason=reason)
        steps.append(AppliedStep("restore", older_target))
    for alias, semver in get_tool(engine, namespace, name).aliases.items():
        if semver == current.semver:
            curator.set_alias(namespace, name, alias, older.semver, actor=actor, reason=reason)
            steps.append(AppliedStep(f"alias {alias}", older_target))
    curator.deprecate(namespace, name, current.semver, actor=actor, reason=reason, replacement=older_target)
    steps.append(AppliedStep("deprecate", f"{namespace}.{name}@{current.semver}"))
    return steps
