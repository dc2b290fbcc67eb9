"""``BundleImporter``: restore a bundle into an empty or an existing registry, in one write transaction.

Order: read and verify the file (``bundle_format``), parse its records (``bundle_records``), re-check
every version as a publish would (``bundle_checks``) — any failure is a ``BundleError`` before the
database is touched — then write everything in one ``write_transaction`` (one revision, one
``bundle.import`` audit entry). A conflict found while writing (a version of the same tool and
semver with other content, an id the registry uses for something else) is a ``Conflict`` and rolls
back the whole import.

Nothing is duplicated. A tool is matched by ``namespace.name``; a version by its tool and content
hash: the registry's version is kept (its status and lifecycle win) and the bundle's provenance,
when it adds anything, is merged into it as a ``duplicate`` link, exactly as publishing a
duplicate does. Links, trajectories and rows already present under the same id are skipped, audit
entries equal to one already logged too; an alias or pin the registry already sets differently
keeps the registry's value (the report says which). Importing the same bundle twice therefore
changes nothing but the second import's own audit entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.db import audit, write_transaction
from registry.errors import Conflict
from registry.models import (
    AuditEntry,
    LinkKind,
    Tool,
    ToolAlias,
    ToolPin,
    ToolVersion,
    Trajectory,
    VersionLink,
    VersionStatus,
)
from registry.schemas import ReviewFinding
from registry.service.bundle_checks import check_bundle
from registry.service.bundle_format import MAX_BUNDLE_BYTES, canonical_json, read_bundle
from registry.service.bundle_records import (
    MEMBERS,
    OPTIONAL_MEMBERS,
    BundleContents,
    VersionRecord,
    as_utc,
    parse_contents,
)
from registry.service.provenance import effective_provenance, merge_provenance, provenance_adds
from registry.service.refs import SERVABLE
from toolbox.logging import get_logger
from toolbox.settings import Settings

__all__ = ["BundleImporter", "ImportReport"]

log = get_logger("registry.bundle")


class ImportReport(BaseModel):
    """What an import did."""

    payload_sha256: str
    revision: int
    tools_added: int = 0
    versions_added: list[str] = Field(default_factory=list)
    versions_kept: list[str] = Field(default_factory=list, description="Already here (same content hash).")
    provenance_merged: list[str] = Field(default_factory=list)
    flagged_for_review: list[str] = Field(default_factory=list,
                                          description="Flagged by the poisoning scan: imported as drafts.")
    links_added: int = 0
    aliases_added: int = 0
    pins_added: int = 0
    audit_added: int = 0
    trajectories_added: int = 0
    notes: list[str] = Field(default_factory=list)


class BundleImporter:
    """Imports bundles into the registry behind ``engine``, checking them under ``settings``."""

    def __init__(self, engine: Engine, settings: Settings, *, max_bytes: int = MAX_BUNDLE_BYTES) -> None:
        """``max_bytes`` bounds the bundle's size on disk and unpacked."""
        self.engine = engine
        self.settings = settings
        self.max_bytes = max_bytes

    def read(self, path: Path) -> tuple[BundleContents, str]:
        """The verified records of the bundle at ``path`` and its payload checksum (nothing is written)."""
        bundle = read_bundle(path, allowed_members=MEMBERS | OPTIONAL_MEMBERS, required_members=MEMBERS,
                             max_bytes=self.max_bytes)
        return parse_contents(bundle), bundle.payload_sha256

    def import_file(self, path: Path, *, actor: str) -> ImportReport:
        """Verify, check and import the bundle at ``path``; nothing is written unless all of it is."""
        contents, payload_sha256 = self.read(path)
        return self.import_contents(contents, payload_sha256=payload_sha256, actor=actor, source=path.name)

    def import_contents(self, contents: BundleContents, *, payload_sha256: str, actor: str,
                        source: str = "") -> ImportReport:
        """Check and import already-parsed ``contents`` in one write transaction."""
        flagged = check_bundle(contents, self.settings)
        with write_transaction(self.engine) as (session, revision):
            report = ImportReport(payload_sha256=payload_sha256, revision=revision)
            restore = _Restore(session, revision, contents, flagged, actor, report)
            restore.run()
            audit(session, actor=actor, action="bundle.import", target=source[:256], revision=revision,
                  payload_sha256=payload_sha256, tools_added=report.tools_added,
                  versions_added=report.versions_added, versions_kept=report.versions_kept,
                  flagged_for_review=report.flagged_for_review)
        log.info("imported bundle %s: %d version(s) added, %d kept", payload_sha256[:12],
                 len(report.versions_added), len(report.versions_kept))
        return report


class _Restore:
    """The writes of one import, inside its transaction."""

    def __init__(self, session: Session, revision: int, contents: BundleContents,
                 flagged: dict[str, list[ReviewFinding]], actor: str, report: ImportReport) -> None:
        self.session, self.revision, self.contents = session, revision, contents
        self.flagged, self.actor, self.report = flagged, actor, report
        self.tool_ids: dict[str, str] = {}  # bundle tool id -> registry tool id
        self.version_ids: dict[str, str] = {}  # bundle version id -> registry version id
        self.kept: set[str] = set()  # bundle version ids matched to a version already here
        self.names = {tool.id: f"{tool.namespace}.{tool.name}" for tool in contents.tools}
        self.touched: dict[str, Tool] = {}

    def run(self) -> None:
        self.tools()
        self.versions()
        self.session.flush()
        self.links()
        self.pointers()
        self.audit_entries()
        self.trajectories()
        for tool in self.touched.values():
            tool.changed_revision = self.revision
            self.session.add(tool)

    def tools(self) -> None:
        for record in self.contents.tools:
            tool = self.session.exec(select(Tool).where(Tool.namespace == record.namespace,
                                                        Tool.name == record.name)).first()
            if tool is None:
                if self.session.get(Tool, record.id) is not None:
                    raise Conflict(f"tool id {record.id} ({record.namespace}.{record.name} in the bundle) is used by "
                                   "another tool here; nothing was imported")
                tool = Tool(id=record.id, namespace=record.namespace, name=record.name,
                            created_at=record.created_at, changed_revision=self.revision)
                self.session.add(tool)
                self.report.tools_added += 1
            self.tool_ids[record.id] = tool.id
            self.touched[tool.id] = tool

    def versions(self) -> None:
        rows: dict[str, ToolVersion] = {}
        for record in self.contents.versions:
            tool_id = self.tool_ids[record.tool_id]
            where = f"{self.names[record.tool_id]}@{record.semver}"
            existing = self.session.exec(select(ToolVersion).where(
                ToolVersion.tool_id == tool_id, ToolVersion.content_hash == record.content_hash)).first()
            if existing is not None:
                self._keep(record, existing, where)
                continue
            clash = self.session.exec(select(ToolVersion.id).where(
                ToolVersion.tool_id == tool_id, ToolVersion.semver == record.semver)).first()
            if clash is not None:
                raise Conflict(f"{where} is here already with other content; the bundle's version cannot be restored "
                               "beside it (import into a registry without that tool); nothing was imported")
            if self.session.get(ToolVersion, record.id) is not None:
                raise Conflict(f"version id {record.id} ({where} in the bundle) is used by another version here; "
                               "nothing was imported")
            row = self._new_row(record, tool_id, where)
            self.session.add(row)
            rows[record.id] = row
            self.version_ids[record.id] = record.id
            self.report.versions_added.append(where)
        for row in rows.values():  # a replacement points inside the bundle (checked), maybe at a kept row
            if row.replacement_id is not None:
                row.replacement_id = self.version_ids[row.replacement_id]

    def _new_row(self, record: VersionRecord, tool_id: str, where: str) -> ToolVersion:
        findings = self.flagged.get(record.id)
        if not findings:
            return record.row(tool_id=tool_id, revision=self.revision)
        report = dict(record.validation_report)
        report["review"] = {"findings": [f.model_dump(mode="json") for f in findings], "no_tests": not record.tests}
        report["bundle_import"] = {"status_in_bundle": record.status.value,
                                   "note": "flagged by the poisoning scan at import: a draft until reviewed"}
        self.report.flagged_for_review.append(where)
        return record.row(tool_id=tool_id, revision=self.revision, status=VersionStatus.draft, flagged=True,
                          validation_report=report, replacement_id=None)

    def _keep(self, record: VersionRecord, existing: ToolVersion, where: str) -> None:
        """``record`` is ``existing``: keep it and merge the bundle's provenance into it."""
        self.version_ids[record.id] = existing.id
        self.kept.add(record.id)
        self.report.versions_kept.append(where)
        incoming = dict(record.provenance)
        for link in self.contents.links:
            extra = link.detail.get("provenance")
            if link.version_id == record.id == link.other_id and link.kind == LinkKind.equivalent \
                    and isinstance(extra, dict):
                incoming = merge_provenance(incoming, extra)
        if provenance_adds(effective_provenance(self.session, existing), incoming):
            self.session.add(VersionLink(version_id=existing.id, other_id=existing.id, kind=LinkKind.equivalent,
                                         detail={"relation": "duplicate", "spec": where, "actor": self.actor,
                                                 "source": "bundle import", "provenance": incoming}))
            self.report.provenance_merged.append(where)

    def links(self) -> None:
        for record in self.contents.links:
            version_id, other_id = self.version_ids[record.version_id], self.version_ids[record.other_id]
            registry_owned = record.version_id in self.kept and (
                record.kind == LinkKind.replaces or record.version_id == record.other_id)
            if registry_owned or self.session.get(VersionLink, record.id) is not None:
                continue  # a kept version's lifecycle and merged provenance are this registry's, or here already
            if record.version_id in self.kept and record.other_id in self.kept and self.session.exec(
                    select(VersionLink.id).where(VersionLink.version_id == version_id, VersionLink.other_id == other_id,
                                                 VersionLink.kind == record.kind)).first() is not None:
                continue
            self.session.add(VersionLink(id=record.id, version_id=version_id, other_id=other_id, kind=record.kind,
                                         detail=record.detail, created_at=record.created_at))
            self.report.links_added += 1

    def pointers(self) -> None:
        for alias in self.contents.aliases:
            name = f"{self.names[alias.tool_id]}:{alias.alias}"
            tool_id, version_id = self.tool_ids[alias.tool_id], self.version_ids[alias.version_id]
            if self._pointer_skipped(self.session.get(ToolAlias, (tool_id, alias.alias)), version_id, name,
                                     allowed=frozenset(VersionStatus) - {VersionStatus.yanked}):
                continue
            self.session.add(ToolAlias(tool_id=tool_id, alias=alias.alias, version_id=version_id,
                                       updated_at=alias.updated_at))
            self.report.aliases_added += 1
        for pin in self.contents.pins:
            name = f"pin {pin.scope} on {self.names[pin.tool_id]}"
            tool_id, version_id = self.tool_ids[pin.tool_id], self.version_ids[pin.version_id]
            if self._pointer_skipped(self.session.get(ToolPin, (pin.scope, tool_id)), version_id, name,
                                     allowed=SERVABLE):
                continue
            self.session.add(ToolPin(scope=pin.scope, tool_id=tool_id, version_id=version_id,
                                     updated_at=pin.updated_at))
            self.report.pins_added += 1

    def _pointer_skipped(self, current: ToolAlias | ToolPin | None, version_id: str, name: str,
                         allowed: frozenset[VersionStatus]) -> bool:
        """Whether an alias or pin is left as it is here (same, set otherwise, or its version cannot take it)."""
        if current is not None:
            if current.version_id != version_id:
                self.report.notes.append(f"{name} is kept as it is here (the bundle names another version)")
            return True
        target = self.session.get(ToolVersion, version_id)
        if target is None or target.status not in allowed:
            status = target.status.value if target is not None else "missing"
            self.report.notes.append(f"{name} was not restored: its version is {status} here")
            return True
        return False

    def audit_entries(self) -> None:
        records = self.contents.audit
        if not records:
            return
        low, high = min(r.at for r in records), max(r.at for r in records)
        existing = {_audit_key(as_utc(e.at), e.actor, e.action, e.target, e.detail) for e in self.session.exec(
            select(AuditEntry).where(col(AuditEntry.at) >= low, col(AuditEntry.at) <= high)).all()}
        for record in records:
            key = _audit_key(record.at, record.actor, record.action, record.target, record.detail)
            if key in existing:
                continue
            existing.add(key)
            self.session.add(AuditEntry(at=record.at, actor=record.actor, action=record.action, target=record.target,
                                        revision=record.revision, detail=record.detail))
            self.report.audit_added += 1
        self.session.flush()  # keep the audit log's insertion order ahead of the import's own entry

    def trajectories(self) -> None:
        for record in self.contents.trajectories:
            if self.session.get(Trajectory, record.id) is None:
                self.session.add(Trajectory(**record.model_dump()))
                self.report.trajectories_added += 1


def _audit_key(at: Any, actor: str, action: str, target: str,
               detail: dict[str, Any]) -> tuple[str, str, str, str, bytes]:
    return (as_utc(at).isoformat(), actor, action, target, canonical_json(detail))
