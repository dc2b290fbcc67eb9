"""Insert registry rows directly (no publisher, no sandbox) for catalog tests.

- ``add_version(engine, "math", "add", semver="1.0.0", status="active")`` creates the tool on first use
  and one version; schemas, source and hashes get sensible defaults (``ast_hash`` follows the source).
- ``add_versions(engine, [("math", "add", "1.0.0", "active"), ...])`` inserts many in one transaction.
- ``set_alias`` / ``set_pin`` / ``add_link`` write pointer rows; ``audit_entries`` reads the audit log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.db import read_session, write_transaction
from registry.models import (
    AuditEntry,
    LinkKind,
    Tool,
    ToolAlias,
    ToolPin,
    ToolVersion,
    VersionLink,
    VersionStatus,
    new_id,
    utcnow,
)

__all__ = ["INT_PAIR", "add_link", "add_version", "add_versions", "audit_entries", "get_row", "set_alias",
           "set_pin", "source_for"]

INT_PAIR: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}


def source_for(name: str, body: str = "return a + b") -> str:
    """A small tool module whose function is ``name``."""
    return f"def {name}(a: int, b: int) -> int:\n    {body}\n"


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _insert(session: Session, revision: int, tools: dict[tuple[str, str], Tool], namespace: str, name: str,
            semver: str, status: str | VersionStatus, **fields: Any) -> ToolVersion:
    tool = tools.get((namespace, name))
    if tool is None:  # ids are generated client-side: no flush needed before the version refers to it
        tool = tools[(namespace, name)] = Tool(namespace=namespace, name=name, changed_revision=revision)
        session.add(tool)
    source = fields.pop("source", None) or source_for(name)
    input_schema = fields.pop("input_schema", None) or INT_PAIR
    output_schema = fields.pop("output_schema", {"type": "integer"})
    major, minor, patch = (int(p) for p in semver.split("."))
    version = ToolVersion(
        tool_id=tool.id, semver=semver, major=major, minor=minor, patch=patch,
        content_hash=fields.pop("content_hash", None) or _sha(source, semver, input_schema, output_schema),
        ast_hash=fields.pop("ast_hash", None) or _sha(source), entrypoint=fields.pop("entrypoint", name),
        description=fields.pop("description", f"{name} version {semver}"), source=source,
        input_schema=input_schema, output_schema=output_schema, status=VersionStatus(status),
        changed_revision=revision, **fields,
    )
    session.add(version)
    return version


def _tools(session: Session) -> dict[tuple[str, str], Tool]:
    return {(t.namespace, t.name): t for t in session.exec(select(Tool)).all()}


def add_version(engine: Engine, namespace: str, name: str, *, semver: str = "1.0.0",
                status: str | VersionStatus = "active", **fields: Any) -> ToolVersion:
    """Insert one version of ``namespace.name`` (creating the tool); ``fields`` override ToolVersion columns."""
    with write_transaction(engine) as (session, revision):
        version = _insert(session, revision, _tools(session), namespace, name, semver, status, **fields)
        session.flush()
    return version


def add_versions(engine: Engine, specs: Iterable[tuple[str, str, str, str]]) -> int:
    """Insert many ``(namespace, name, semver, status)`` versions in one transaction (Core bulk insert,
    fast enough for thousands of rows); returns how many were inserted."""
    with write_transaction(engine) as (session, revision):
        tools = {key: tool.id for key, tool in _tools(session).items()}
        new_tools: list[dict[str, Any]] = []
        versions: list[dict[str, Any]] = []
        for namespace, name, semver, status in specs:
            if (namespace, name) not in tools:
                tools[(namespace, name)] = new_id()
                new_tools.append({"id": tools[(namespace, name)], "namespace": namespace, "name": name,
                                  "created_at": utcnow(), "changed_revision": revision})
            major, minor, patch = (int(p) for p in semver.split("."))
            source = source_for(name)
            versions.append({
                "id": new_id(), "tool_id": tools[(namespace, name)], "semver": semver, "major": major,
                "minor": minor, "patch": patch, "content_hash": _sha(source, semver), "ast_hash": _sha(source),
                "entrypoint": name, "description": f"{name} version {semver}", "source": source,
                "input_schema": INT_PAIR, "output_schema": {"type": "integer"}, "tests": [],
                "allowed_imports": None, "tags": [], "provenance": {}, "validation_report": {}, "changelog": "",
                "flagged": False, "status": VersionStatus(status), "replacement_id": None, "embedder": "",
                "embedding": None, "created_at": utcnow(), "created_by": "system", "changed_revision": revision,
            })
        if new_tools:
            session.execute(insert(Tool), new_tools)
        if versions:
            session.execute(insert(ToolVersion), versions)
    return len(versions)


def _version(session: Session, namespace: str, name: str, semver: str) -> ToolVersion:
    row = session.exec(select(ToolVersion).join(Tool, col(Tool.id) == col(ToolVersion.tool_id))
                       .where(Tool.namespace == namespace, Tool.name == name, ToolVersion.semver == semver)).one()
    return row


def set_alias(engine: Engine, namespace: str, name: str, alias: str, semver: str) -> None:
    """Point ``alias`` of ``namespace.name`` at ``semver`` (no checks: the raw row)."""
    with write_transaction(engine) as (session, _):
        version = _version(session, namespace, name, semver)
        session.merge(ToolAlias(tool_id=version.tool_id, alias=alias, version_id=version.id))


def set_pin(engine: Engine, scope: str, namespace: str, name: str, semver: str) -> None:
    """Pin ``scope`` to ``namespace.name@semver`` (no checks: the raw row)."""
    with write_transaction(engine) as (session, _):
        version = _version(session, namespace, name, semver)
        session.merge(ToolPin(scope=scope, tool_id=version.tool_id, version_id=version.id))


def add_link(engine: Engine, source: ToolVersion, other: ToolVersion, kind: LinkKind,
             **detail: Any) -> None:
    """Insert a ``VersionLink`` from ``source`` to ``other``."""
    with write_transaction(engine) as (session, _):
        session.add(VersionLink(version_id=source.id, other_id=other.id, kind=kind, detail=detail))


def get_row(engine: Engine, version_id: str) -> ToolVersion:
    """The stored version row, freshly read."""
    with read_session(engine) as session:
        row = session.get(ToolVersion, version_id)
    assert row is not None, version_id
    return row


def audit_entries(engine: Engine, actions: Sequence[str] | None = None) -> list[AuditEntry]:
    """Audit entries in insertion order, optionally only ``actions``."""
    stmt = select(AuditEntry).order_by(col(AuditEntry.id))
    if actions is not None:
        stmt = stmt.where(col(AuditEntry.action).in_(list(actions)))
    with read_session(engine) as session:
        return list(session.exec(stmt).all())
