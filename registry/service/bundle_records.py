"""What a bundle holds: one strict record type per member, converted to and from the registry's rows.

Members (each a JSON list in a fixed order, so equal boxes give equal bytes)::

    box.json            {"namespace", "include_drafts", "trajectories", "counts"}  (what was exported)
    tools.json          ToolRecord        by (namespace, name)
    versions.json       VersionRecord     by (namespace, name, major, minor, patch)
    links.json          LinkRecord        by id
    aliases.json        AliasRecord       by (tool_id, alias)
    pins.json           PinRecord         by (scope, tool_id)
    audit.json          AuditRecord       by (at, the origin's order)
    trajectories.json   RunRecord         by (created_at, id)   (only with ``--trajectories``)

Records carry the rows' ids, so a bundle imported twice is recognised; the origin's revision
counters (``changed_revision``) and API keys are not part of a box. Times are ISO 8601 UTC with
microseconds; embeddings are base64. Every record refuses unknown fields, and string lengths follow
the columns, so a malformed bundle fails here rather than halfway into the database.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, field_validator

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
from registry.service.bundle_format import BundleError, BundleFile
from toolbox.spec import NAME_PATTERN

__all__ = [
    "MEMBERS",
    "OPTIONAL_MEMBERS",
    "AliasRecord",
    "AuditRecord",
    "BoxRecord",
    "BundleContents",
    "LinkRecord",
    "PinRecord",
    "RunRecord",
    "ToolRecord",
    "VersionRecord",
    "as_utc",
    "parse_contents",
]

_ID = r"^[0-9a-f]{32}$"


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (SQLite hands back naive UTC times)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Moment = Annotated[datetime, PlainSerializer(_iso, return_type=str, when_used="json")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        return as_utc(value) if isinstance(value, datetime) else value


class BoxRecord(_Record):
    """What the export covered."""

    namespace: str | None = None
    include_drafts: bool
    trajectories: bool
    counts: dict[str, int]


class ToolRecord(_Record):
    """A tool (its name; behaviour lives in its versions)."""

    id: str = Field(pattern=_ID)
    namespace: str = Field(pattern=NAME_PATTERN)
    name: str = Field(pattern=NAME_PATTERN)
    created_at: Moment

    @classmethod
    def of(cls, tool: Tool) -> ToolRecord:
        """The record of a stored tool."""
        return cls(id=tool.id, namespace=tool.namespace, name=tool.name, created_at=tool.created_at)


class VersionRecord(_Record):
    """One immutable version with everything it was published with."""

    id: str = Field(pattern=_ID)
    tool_id: str = Field(pattern=_ID)
    semver: str = Field(max_length=32)
    major: int = Field(ge=0)
    minor: int = Field(ge=0)
    patch: int = Field(ge=0)
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    ast_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    entrypoint: str = Field(max_length=128)
    description: str
    source: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    tests: list[dict[str, Any]]
    allowed_imports: list[str] | None
    tags: list[str]
    provenance: dict[str, Any]
    validation_report: dict[str, Any]
    changelog: str
    flagged: bool
    status: VersionStatus
    replacement_id: str | None = Field(pattern=_ID)
    embedder: str = Field(max_length=64)
    embedding: str | None
    fingerprint: str | None = Field(max_length=64)
    created_at: Moment
    created_by: str = Field(max_length=64)

    @field_validator("embedding")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("embedding is not base64") from None
            if len(raw) % 4:
                raise ValueError("embedding is not a float32 vector")
        return value

    @classmethod
    def of(cls, version: ToolVersion) -> VersionRecord:
        """The record of a stored version."""
        data = version.model_dump(exclude={"changed_revision", "embedding"})
        embedding = base64.b64encode(version.embedding).decode() if version.embedding is not None else None
        return cls(**data, embedding=embedding)

    def row(self, *, tool_id: str, revision: int, **changes: Any) -> ToolVersion:
        """A new row for this version under ``tool_id``, stamped with ``revision``."""
        data = self.model_dump(exclude={"embedding", "tool_id"})
        data.update(changes)
        embedding = base64.b64decode(self.embedding) if self.embedding is not None else None
        return ToolVersion(**data, tool_id=tool_id, embedding=embedding, changed_revision=revision)


class LinkRecord(_Record):
    """A relation between two versions (equivalence with merged provenance, consolidation, replacement)."""

    id: str = Field(pattern=_ID)
    version_id: str = Field(pattern=_ID)
    other_id: str = Field(pattern=_ID)
    kind: LinkKind
    detail: dict[str, Any]
    created_at: Moment

    @classmethod
    def of(cls, link: VersionLink) -> LinkRecord:
        """The record of a stored link."""
        return cls(**link.model_dump())


class AliasRecord(_Record):
    """An alias of a tool and the version it names."""

    tool_id: str = Field(pattern=_ID)
    alias: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    version_id: str = Field(pattern=_ID)
    updated_at: Moment

    @classmethod
    def of(cls, alias: ToolAlias) -> AliasRecord:
        """The record of a stored alias."""
        return cls(**alias.model_dump())


class PinRecord(_Record):
    """A scope (an API key id or a toolset name) pinned to one version of a tool."""

    scope: str = Field(min_length=1, max_length=64)
    tool_id: str = Field(pattern=_ID)
    version_id: str = Field(pattern=_ID)
    updated_at: Moment

    @classmethod
    def of(cls, pin: ToolPin) -> PinRecord:
        """The record of a stored pin."""
        return cls(**pin.model_dump())


class AuditRecord(_Record):
    """One audit-log entry of the origin registry (its revision number is the origin's)."""

    at: Moment
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    target: str = Field(max_length=256)
    revision: int | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditRecord:
        """The record of a stored audit entry (without the origin's row id)."""
        return cls(**entry.model_dump(exclude={"id"}))


class RunRecord(_Record):
    """One teacher run, as stored (append-only)."""

    id: str = Field(min_length=1, max_length=128, pattern=r"^[^/?#%\s]+$")
    run_id: str = Field(max_length=128)
    task_id: str = Field(max_length=128)
    family: str = Field(max_length=64)
    question: str
    teacher_model: str = Field(max_length=128)
    prompt_version: str = Field(max_length=64)
    ftp: str | None
    steps: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    final_answer: str | None
    correct: bool | None
    status: str = Field(max_length=16)
    error: str | None
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    seconds: float = Field(ge=0)
    created_at: Moment
    created_by: str = Field(max_length=64)

    @classmethod
    def of(cls, trajectory: Trajectory) -> RunRecord:
        """The record of a stored trajectory."""
        return cls(**trajectory.model_dump())


class BundleContents(BaseModel):
    """Every record of a bundle, parsed and validated."""

    box: BoxRecord
    tools: list[ToolRecord]
    versions: list[VersionRecord]
    links: list[LinkRecord]
    aliases: list[AliasRecord]
    pins: list[PinRecord]
    audit: list[AuditRecord]
    trajectories: list[RunRecord] = Field(default_factory=list)

    def members(self) -> dict[str, Any]:
        """The JSON value of every member, as ``write_bundle`` takes them."""
        data = self.model_dump(mode="json")
        members = {f"{key}.json": data[key] for key in MEMBERS_ORDER}
        if self.box.trajectories:
            members["trajectories.json"] = data["trajectories"]
        return members


MEMBERS_ORDER = ("box", "tools", "versions", "links", "aliases", "pins", "audit")
MEMBERS = frozenset(f"{key}.json" for key in MEMBERS_ORDER)
OPTIONAL_MEMBERS = frozenset({"trajectories.json"})


def parse_contents(bundle: BundleFile) -> BundleContents:
    """The records of a verified bundle file; a ``BundleError`` names the first bad record."""
    data = {path.removesuffix(".json"): bundle.json_member(path) for path in sorted(bundle.members)}
    try:
        contents = BundleContents.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BundleError(f"bundle record {where} is invalid: {first['msg']} ({exc.error_count()} problem(s) in "
                          "all); the file was not written by this Distillery or was tampered with") from None
    if contents.box.trajectories != ("trajectories.json" in bundle.members):
        raise BundleError("bundle box.json and its members disagree about trajectories; it was tampered with")
    return contents
