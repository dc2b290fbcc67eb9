"""``export_bundle``: the box (or one namespace of it) as one portable, checksummed bundle file.

What goes in: every tool and every version — active, deprecated and yanked; drafts (the review
queue) only with ``include_drafts`` — with source, tests, schemas, provenance, validation report,
fingerprint and embedding; the links between exported versions (merged provenance, consolidation,
replacement); the aliases and pins that point at exported versions; the audit log (with a
namespace, the entries whose target is in it); and, with ``trajectories``, the teacher
trajectories (with a namespace, those the exported versions name in their provenance). API keys,
usage counters and retrieval corpora are not part of a box. A replacement pointer to a version
that is not exported is dropped with its link, so the bundle is consistent on its own.

Everything is read in one session (one snapshot on PostgreSQL's default isolation per statement;
the export is a read and takes no write lock).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.db import read_session
from registry.models import AuditEntry, Tool, ToolAlias, ToolPin, ToolVersion, Trajectory, VersionLink, VersionStatus
from registry.service.bundle_format import BundleFile, write_bundle
from registry.service.bundle_records import (
    AliasRecord,
    AuditRecord,
    BoxRecord,
    BundleContents,
    LinkRecord,
    PinRecord,
    RunRecord,
    ToolRecord,
    VersionRecord,
)
from registry.service.provenance import effective_provenance
from toolbox.logging import get_logger

__all__ = ["export_bundle", "read_box"]

log = get_logger("registry.bundle")


def read_box(engine: Engine, *, namespace: str | None = None, include_drafts: bool = False,
             trajectories: bool = False) -> BundleContents:
    """Every record of the box (or of ``namespace``) that a bundle holds, in the bundle's order."""
    with read_session(engine) as session:
        tools_query = select(Tool).order_by(col(Tool.namespace), col(Tool.name))
        if namespace is not None:
            tools_query = tools_query.where(Tool.namespace == namespace)
        tools = list(session.exec(tools_query).all())
        versions = _versions(session, tools, namespace, include_drafts)
        kept = {version.id for version in versions}
        links = [link for link in session.exec(select(VersionLink).order_by(col(VersionLink.id))).all()
                 if link.version_id in kept and link.other_id in kept]
        records = [VersionRecord.of(version) for version in versions]
        for record in records:
            if record.replacement_id is not None and record.replacement_id not in kept:
                record.replacement_id = None
        tool_ids = {tool.id for tool in tools}
        aliases = [AliasRecord.of(a) for a in session.exec(select(ToolAlias).order_by(
            col(ToolAlias.tool_id), col(ToolAlias.alias))).all() if a.tool_id in tool_ids and a.version_id in kept]
        pins = [PinRecord.of(p) for p in session.exec(select(ToolPin).order_by(
            col(ToolPin.scope), col(ToolPin.tool_id))).all() if p.tool_id in tool_ids and p.version_id in kept]
        audit = [AuditRecord.of(entry) for entry in _audit(session, namespace)]
        runs = _trajectories(session, versions, namespace) if trajectories else []
    counts = {"tools": len(tools), "versions": len(records), "links": len(links), "aliases": len(aliases),
              "pins": len(pins), "audit": len(audit), "trajectories": len(runs)}
    return BundleContents(
        box=BoxRecord(namespace=namespace, include_drafts=include_drafts, trajectories=trajectories, counts=counts),
        tools=[ToolRecord.of(tool) for tool in tools], versions=records,
        links=[LinkRecord.of(link) for link in links], aliases=aliases, pins=pins, audit=audit,
        trajectories=[RunRecord.of(run) for run in runs])


def export_bundle(engine: Engine, path: Path, *, namespace: str | None = None, include_drafts: bool = False,
                  trajectories: bool = False, exported_at: datetime | None = None) -> BundleFile:
    """Write the box (or ``namespace``) to the bundle file ``path``; returns the bundle written."""
    contents = read_box(engine, namespace=namespace, include_drafts=include_drafts, trajectories=trajectories)
    bundle = write_bundle(path, contents.members(), exported_at=exported_at)
    log.info("exported %s to %s (payload sha256 %s)", contents.box.counts, path, bundle.payload_sha256)
    return bundle


def _versions(session: Session, tools: list[Tool], namespace: str | None, include_drafts: bool) -> list[ToolVersion]:
    """The exported versions of ``tools`` (the tools of ``namespace``, or all), by tool then semver."""
    order = {tool.id: index for index, tool in enumerate(tools)}
    query = select(ToolVersion)
    if namespace is not None:
        query = query.join(Tool, col(Tool.id) == col(ToolVersion.tool_id)).where(Tool.namespace == namespace)
    if not include_drafts:
        query = query.where(ToolVersion.status != VersionStatus.draft)
    versions = [version for version in session.exec(query).all() if version.tool_id in order]
    return sorted(versions, key=lambda v: (order[v.tool_id], v.major, v.minor, v.patch, v.semver))


def _audit(session: Session, namespace: str | None) -> list[AuditEntry]:
    """The audit log in the order it was written (with ``namespace``, the entries about it)."""
    query = select(AuditEntry).order_by(col(AuditEntry.at), col(AuditEntry.id))
    if namespace is not None:
        query = query.where(col(AuditEntry.target).startswith(f"{namespace}."))
    return list(session.exec(query).all())


def _trajectories(session: Session, versions: list[ToolVersion], namespace: str | None) -> list[Trajectory]:
    """All trajectories, or (with ``namespace``) those the exported versions' provenance names."""
    query = select(Trajectory).order_by(col(Trajectory.created_at), col(Trajectory.id))
    if namespace is None:
        return list(session.exec(query).all())
    named: set[str] = set()
    for version in versions:
        provenance: dict[str, Any] = effective_provenance(session, version)
        named.update(str(t) for t in [provenance.get("trajectory_id"), *provenance.get("trajectory_ids", [])] if t)
    if not named:
        return []
    return list(session.exec(query.where(col(Trajectory.id).in_(sorted(named)))).all())
