"""Curation: lifecycle transitions, aliases and pins, each one audited write transaction.

Transitions (anything else is a ``Conflict`` that names the current status and what is allowed)::

    approve    draft                        -> active      (a flagged draft too; the audit says so)
    deprecate  active                       -> deprecated  (optional replacement "ns.name@ref")
    yank       draft | active | deprecated  -> yanked      (aliases and pins on it are removed)
    restore    deprecated | yanked          -> active      (the replacement pointer is cleared)
    reject     draft                        -> yanked      (the review queue's "no"; audited as reject)

Every action bumps the registry revision, stamps ``changed_revision`` on the rows it touches and
writes an audit entry with target ``ns.name@semver`` and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from registry.db import audit, write_transaction
from registry.errors import Conflict, InvalidRequest, NotFound
from registry.models import LinkKind, Tool, ToolAlias, ToolPin, ToolVersion, VersionLink, VersionStatus, utcnow
from registry.schemas import VersionSummary
from registry.service.refs import (
    ALIAS_PATTERN,
    LATEST,
    SERVABLE,
    load_tool,
    qualified,
    resolve_ref,
    split_target,
)
from toolbox.logging import get_logger

__all__ = ["ACTIONS", "Action", "Curator", "allowed_actions"]

log = get_logger("registry.curation")

Action = Literal["approve", "deprecate", "yank", "restore"]
ACTIONS: dict[Action, tuple[frozenset[VersionStatus], VersionStatus]] = {
    "approve": (frozenset({VersionStatus.draft}), VersionStatus.active),
    "deprecate": (frozenset({VersionStatus.active}), VersionStatus.deprecated),
    "yank": (frozenset({VersionStatus.draft, VersionStatus.active, VersionStatus.deprecated}), VersionStatus.yanked),
    "restore": (frozenset({VersionStatus.deprecated, VersionStatus.yanked}), VersionStatus.active),
}
Transition = Action | Literal["reject"]
_RULES: dict[Transition, tuple[frozenset[VersionStatus], VersionStatus]] = dict(ACTIONS.items())
_RULES["reject"] = (frozenset({VersionStatus.draft}), VersionStatus.yanked)
_PAST: dict[Transition, str] = {"approve": "approved", "deprecate": "deprecated", "yank": "yanked",
                                "restore": "restored", "reject": "rejected"}
_MAX_SCOPE = 64


def _flag_detail(version: ToolVersion, verb: str) -> dict[str, Any]:
    """Why ``version`` was flagged, for the audit entry: its poisoning findings and/or missing tests."""
    findings = list((version.validation_report.get("review") or {}).get("findings") or [])
    kinds = ", ".join(sorted({str(f.get("kind")) for f in findings}))
    why = [f"{len(findings)} poisoning finding(s): {kinds}"] if findings else []
    if not findings or not version.tests:
        why.append("published without tests")
    return {"flagged": True, "note": f"{verb} a flagged draft ({'; '.join(why)})", "findings": findings}


def allowed_actions(status: VersionStatus) -> list[Action]:
    """The lifecycle actions a version in ``status`` accepts."""
    return [action for action, (sources, _) in ACTIONS.items() if status in sources]


Apply = Callable[[Session, int, Tool, ToolVersion, dict[str, Any]], None]


class Curator:
    """Lifecycle actions, aliases and pins on the registry behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        """Curate the registry stored in ``engine``."""
        self.engine = engine

    # lifecycle -----------------------------------------------------------------------------------

    def approve(self, namespace: str, name: str, ref: str, *, actor: str, reason: str = "") -> VersionSummary:
        """draft → active (flagged drafts too: the audit entry records why it was flagged)."""
        def apply(_s: Session, _r: int, _t: Tool, version: ToolVersion, detail: dict[str, Any]) -> None:
            if version.flagged:
                detail.update(_flag_detail(version, "approved"))
        return self._transition("approve", namespace, name, ref, actor=actor, reason=reason, apply=apply)

    def reject(self, namespace: str, name: str, ref: str, *, actor: str, reason: str = "") -> VersionSummary:
        """draft → yanked: a curator turns a queued version down; aliases and pins on it are removed."""
        def apply(session: Session, revision: int, tool: Tool, version: ToolVersion, detail: dict[str, Any]) -> None:
            if version.flagged:
                detail.update(_flag_detail(version, "rejected"))
            self._drop_pointers(session, revision, tool, version, detail)
        return self._transition("reject", namespace, name, ref, actor=actor, reason=reason, apply=apply)

    def deprecate(self, namespace: str, name: str, ref: str, *, actor: str, reason: str = "",
                  replacement: str | None = None) -> VersionSummary:
        """active → deprecated; ``replacement`` ("ns.name@ref") must name a non-yanked other version."""
        def apply(session: Session, revision: int, tool: Tool, version: ToolVersion, detail: dict[str, Any]) -> None:
            if replacement is None:
                return
            other = self._replacement(session, tool, version, replacement)
            version.replacement_id = other.id
            other_tool = session.get(Tool, other.tool_id)
            target = qualified(other_tool, other) if other_tool else other.id
            session.add(VersionLink(version_id=version.id, other_id=other.id, kind=LinkKind.replaces,
                                    detail={"relation": "replaced_by", "reason": reason, "actor": actor}))
            detail["replacement"] = target
        return self._transition("deprecate", namespace, name, ref, actor=actor, reason=reason, apply=apply)

    def yank(self, namespace: str, name: str, ref: str, *, actor: str, reason: str = "") -> VersionSummary:
        """draft | active | deprecated → yanked; removes the aliases and pins that point at it."""
        return self._transition("yank", namespace, name, ref, actor=actor, reason=reason, apply=self._drop_pointers)

    @staticmethod
    def _drop_pointers(session: Session, _r: int, _t: Tool, version: ToolVersion, detail: dict[str, Any]) -> None:
        """Delete the aliases and pins that point at ``version`` (recorded in ``detail``)."""
        aliases = session.exec(select(ToolAlias).where(ToolAlias.version_id == version.id)).all()
        pins = session.exec(select(ToolPin).where(ToolPin.version_id == version.id)).all()
        detail["removed_aliases"] = sorted(a.alias for a in aliases)
        detail["removed_pins"] = sorted(p.scope for p in pins)
        for row in (*aliases, *pins):
            session.delete(row)

    def restore(self, namespace: str, name: str, ref: str, *, actor: str, reason: str = "") -> VersionSummary:
        """deprecated | yanked → active; clears the replacement pointer."""
        def apply(session: Session, _r: int, _t: Tool, version: ToolVersion, detail: dict[str, Any]) -> None:
            detail["previous_status"] = version.status.value
            if version.replacement_id is not None:
                detail["cleared_replacement_id"] = version.replacement_id
                version.replacement_id = None
                session.execute(delete(VersionLink).where(col(VersionLink.version_id) == version.id,
                                                          col(VersionLink.kind) == LinkKind.replaces))
        return self._transition("restore", namespace, name, ref, actor=actor, reason=reason, apply=apply)

    def _transition(self, action: Transition, namespace: str, name: str, ref: str, *, actor: str, reason: str,
                    apply: Apply) -> VersionSummary:
        sources, target_status = _RULES[action]
        with write_transaction(self.engine) as (session, revision):
            tool = load_tool(session, namespace, name)
            version = resolve_ref(session, tool, ref)
            if version.status not in sources:
                allowed = allowed_actions(version.status)
                raise Conflict(f"{qualified(tool, version)} is {version.status.value}, so it cannot be "
                               f"{_PAST[action]}; allowed actions: {', '.join(allowed) if allowed else 'none'}")
            detail: dict[str, Any] = {"from": version.status.value, "to": target_status.value, "reason": reason,
                                      "version_id": version.id}
            apply(session, revision, tool, version, detail)
            version.status = target_status
            self._stamp(session, revision, tool, version)
            audit(session, actor=actor, action=action, target=qualified(tool, version), revision=revision, **detail)
            summary = VersionSummary.of(version, namespace, name)
        log.info("%s %s.%s@%s by %s (revision %d)", action, namespace, name, summary.semver, actor, revision)
        return summary

    @staticmethod
    def _stamp(session: Session, revision: int, tool: Tool, *versions: ToolVersion | None) -> None:
        tool.changed_revision = revision
        session.add(tool)
        for version in versions:
            if version is not None:
                version.changed_revision = revision
                session.add(version)

    @staticmethod
    def _replacement(session: Session, tool: Tool, version: ToolVersion, replacement: str) -> ToolVersion:
        other_ns, other_name, other_ref = split_target(replacement)
        try:
            other_tool = load_tool(session, other_ns, other_name)
            other = resolve_ref(session, other_tool, other_ref)
        except NotFound as exc:
            raise InvalidRequest(f"replacement {replacement!r} does not resolve: {exc}") from exc
        if other.id == version.id:
            raise InvalidRequest(f"{qualified(tool, version)} cannot replace itself")
        if other.status == VersionStatus.yanked:
            raise Conflict(f"replacement {qualified(other_tool, other)} is yanked; name a version that is not")
        return other

    # aliases and pins ----------------------------------------------------------------------------

    def set_alias(self, namespace: str, name: str, alias: str, ref: str, *, actor: str,
                  reason: str = "") -> VersionSummary:
        """Point ``alias`` at the version ``ref`` names (not a yanked one); returns that version."""
        if not ALIAS_PATTERN.match(alias) or alias == LATEST:
            raise InvalidRequest(f"invalid alias {alias!r}: use lowercase letters, digits, '_' or '-', starting "
                                 "with a letter (at most 64 characters); 'latest' is reserved")
        with write_transaction(self.engine) as (session, revision):
            tool = load_tool(session, namespace, name)
            version = resolve_ref(session, tool, ref)
            if version.status == VersionStatus.yanked:
                raise Conflict(f"{qualified(tool, version)} is yanked: an alias cannot point at it")
            row = session.get(ToolAlias, (tool.id, alias))
            previous = session.get(ToolVersion, row.version_id) if row else None
            if row is None:
                row = ToolAlias(tool_id=tool.id, alias=alias, version_id=version.id)
            row.version_id, row.updated_at = version.id, utcnow()
            session.add(row)
            self._stamp(session, revision, tool, version, previous)
            audit(session, actor=actor, action="alias.set", target=qualified(tool, version), revision=revision,
                  alias=alias, previous=previous.semver if previous else None, reason=reason)
            return VersionSummary.of(version, namespace, name)

    def delete_alias(self, namespace: str, name: str, alias: str, *, actor: str, reason: str = "") -> VersionSummary:
        """Remove ``alias``; returns the version it pointed at."""
        with write_transaction(self.engine) as (session, revision):
            tool = load_tool(session, namespace, name)
            row = session.get(ToolAlias, (tool.id, alias))
            if row is None:
                existing = session.exec(select(ToolAlias.alias).where(ToolAlias.tool_id == tool.id)
                                        .order_by(col(ToolAlias.alias))).all()
                raise NotFound(f"{qualified(tool)} has no alias {alias!r}; aliases: {', '.join(existing) or 'none'}")
            version = session.get(ToolVersion, row.version_id)
            assert version is not None  # foreign key
            session.delete(row)
            self._stamp(session, revision, tool, version)
            audit(session, actor=actor, action="alias.delete", target=qualified(tool, version), revision=revision,
                  alias=alias, reason=reason)
            return VersionSummary.of(version, namespace, name)

    def pin(self, scope: str, namespace: str, name: str, ref: str, *, actor: str, reason: str = "") -> VersionSummary:
        """Serve ``scope`` (an API key id or a toolset name) the version ``ref`` names (active or deprecated)."""
        if not scope or len(scope) > _MAX_SCOPE or scope != scope.strip():
            raise InvalidRequest(f"invalid scope {scope!r}: 1 to {_MAX_SCOPE} characters, no surrounding spaces")
        with write_transaction(self.engine) as (session, revision):
            tool = load_tool(session, namespace, name)
            version = resolve_ref(session, tool, ref)
            if version.status not in SERVABLE:
                raise Conflict(f"{qualified(tool, version)} is {version.status.value} and can never be served; pin "
                               "an active or deprecated version")
            row = session.get(ToolPin, (scope, tool.id))
            previous = session.get(ToolVersion, row.version_id) if row else None
            if row is None:
                row = ToolPin(scope=scope, tool_id=tool.id, version_id=version.id)
            row.version_id, row.updated_at = version.id, utcnow()
            session.add(row)
            self._stamp(session, revision, tool, version, previous)
            audit(session, actor=actor, action="pin.set", target=qualified(tool, version), revision=revision,
                  scope=scope, previous=previous.semver if previous else None, reason=reason)
            return VersionSummary.of(version, namespace, name)

    def unpin(self, scope: str, namespace: str, name: str, *, actor: str, reason: str = "") -> VersionSummary:
        """Remove the pin of ``scope`` on ``namespace.name``; returns the version it pinned."""
        with write_transaction(self.engine) as (session, revision):
            tool = load_tool(session, namespace, name)
            row = session.get(ToolPin, (scope, tool.id))
            if row is None:
                raise NotFound(f"scope {scope!r} has no pin on {qualified(tool)}")
            version = session.get(ToolVersion, row.version_id)
            assert version is not None  # foreign key
            session.delete(row)
            self._stamp(session, revision, tool, version)
            audit(session, actor=actor, action="pin.delete", target=qualified(tool, version), revision=revision,
                  scope=scope, reason=reason)
            return VersionSummary.of(version, namespace, name)
