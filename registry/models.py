"""SQLModel tables of the registry.

Content columns of ``ToolVersion`` never change after insert (versions are immutable); only the
lifecycle columns (``status``, ``replacement_id``, ``changed_revision``) do. Every visible change
happens inside ``registry.db.write_transaction``, which bumps ``RegistryState.revision`` first and
stamps ``changed_revision`` on the rows it touches, so readers can refresh incrementally.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "ApiKey",
    "AuditEntry",
    "CorpusDocument",
    "LinkKind",
    "RegistryState",
    "Role",
    "Tool",
    "ToolAlias",
    "ToolPin",
    "ToolVersion",
    "Trajectory",
    "UsageLatency",
    "UsageStat",
    "VersionLink",
    "VersionStatus",
    "new_id",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random identifier (32 hex characters)."""
    return uuid.uuid4().hex


class VersionStatus(StrEnum):
    """Lifecycle of a version: draft → active → deprecated → yanked (restore goes back)."""

    draft = "draft"
    active = "active"
    deprecated = "deprecated"
    yanked = "yanked"


class Role(StrEnum):
    """What an API key may do: read; curate (publish and lifecycle); administer keys."""

    reader = "reader"
    curator = "curator"
    admin = "admin"


class LinkKind(StrEnum):
    """How two versions are related."""

    equivalent = "equivalent"  # differential test showed equal behaviour
    consolidates = "consolidates"  # this version generalises the other
    replaces = "replaces"  # deprecation pointer


class RegistryState(SQLModel, table=True):
    """One row: the registry revision, bumped in the same transaction as every visible change."""

    __tablename__ = "registry_state"

    id: int = Field(default=1, primary_key=True)
    revision: int = Field(default=0)


class Tool(SQLModel, table=True):
    """A named tool; its behaviour lives in its versions."""

    __tablename__ = "tool"
    __table_args__ = (UniqueConstraint("namespace", "name", name="uq_tool_namespace_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    namespace: str = Field(index=True, max_length=64)
    name: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    changed_revision: int = Field(default=0, index=True)


class ToolVersion(SQLModel, table=True):
    """One immutable, content-addressed version of a tool."""

    __tablename__ = "tool_version"
    __table_args__ = (
        UniqueConstraint("tool_id", "semver", name="uq_version_semver"),
        UniqueConstraint("tool_id", "content_hash", name="uq_version_content"),
        Index("ix_version_tool_order", "tool_id", "major", "minor", "patch"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tool_id: str = Field(foreign_key="tool.id", index=True, max_length=32)
    semver: str = Field(max_length=32)
    major: int
    minor: int
    patch: int
    content_hash: str = Field(index=True, max_length=64)
    ast_hash: str = Field(index=True, max_length=64)
    entrypoint: str = Field(max_length=128)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))
    input_schema: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    output_schema: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    tests: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    allowed_imports: list[str] | None = Field(default=None, sa_column=Column(JSON))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    provenance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    validation_report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    changelog: str = Field(default="", sa_column=Column(Text, nullable=False))
    flagged: bool = Field(default=False, description="Published without tests: a draft until reviewed.")
    status: VersionStatus = Field(default=VersionStatus.draft, index=True)
    replacement_id: str | None = Field(default=None, max_length=32)
    embedder: str = Field(default="", max_length=64)
    embedding: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    fingerprint: str | None = Field(default=None, index=True, max_length=64,
                                    description="Behavioural fingerprint digest (toolbox.fingerprint); None when "
                                                "the version could not be probed.")
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="system", max_length=64)
    changed_revision: int = Field(default=0, index=True)


class ToolAlias(SQLModel, table=True):
    """A movable name for one version of a tool (``stable``, ``candidate``, ...)."""

    __tablename__ = "tool_alias"

    tool_id: str = Field(foreign_key="tool.id", primary_key=True, max_length=32)
    alias: str = Field(primary_key=True, max_length=64)
    version_id: str = Field(foreign_key="tool_version.id", max_length=32)
    updated_at: datetime = Field(default_factory=utcnow)


class ToolPin(SQLModel, table=True):
    """A scope (an API key id or a toolset name) pinned to one version of a tool."""

    __tablename__ = "tool_pin"

    scope: str = Field(primary_key=True, max_length=64)
    tool_id: str = Field(foreign_key="tool.id", primary_key=True, max_length=32)
    version_id: str = Field(foreign_key="tool_version.id", max_length=32)
    updated_at: datetime = Field(default_factory=utcnow)


class VersionLink(SQLModel, table=True):
    """A relation between two versions (equivalence, consolidation, replacement)."""

    __tablename__ = "version_link"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    version_id: str = Field(foreign_key="tool_version.id", index=True, max_length=32)
    other_id: str = Field(foreign_key="tool_version.id", index=True, max_length=32)
    kind: LinkKind
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class UsageStat(SQLModel, table=True):
    """Calls, errors and latency of one version per UTC day, written in batches."""

    __tablename__ = "usage_stat"

    version_id: str = Field(foreign_key="tool_version.id", primary_key=True, max_length=32)
    day: str = Field(primary_key=True, max_length=10)
    calls: int = 0
    errors: int = 0
    total_latency_ms: float = 0.0
    max_latency_ms: float = 0.0
    last_called_at: datetime | None = None
    search_calls: int = Field(default=0, description="Calls of a version a search_tools call had just returned "
                                                     "to the same caller (server.search_memory).")


class UsageLatency(SQLModel, table=True):
    """How many calls of one version on one UTC day fell in one latency bucket (``registry.service.latency``)."""

    __tablename__ = "usage_latency"

    version_id: str = Field(foreign_key="tool_version.id", primary_key=True, max_length=32)
    day: str = Field(primary_key=True, max_length=10)
    bucket: int = Field(primary_key=True, description="Index into registry.service.latency.BOUNDS_MS.")
    calls: int = 0


class ApiKey(SQLModel, table=True):
    """An API key; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=128)
    prefix: str = Field(max_length=16, description="The first characters, to recognise a key.")
    key_hash: str = Field(unique=True, max_length=64)
    role: Role
    namespaces: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """One write: who did what to which object."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=256)
    revision: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Trajectory(SQLModel, table=True):
    """One teacher run on one task: its steps, messages, answer, correctness and cost (append-only)."""

    __tablename__ = "trajectory"

    id: str = Field(primary_key=True, max_length=128)
    run_id: str = Field(index=True, max_length=128)
    task_id: str = Field(index=True, max_length=128)
    family: str = Field(default="", max_length=64)
    question: str = Field(default="", sa_column=Column(Text, nullable=False))
    teacher_model: str = Field(default="", max_length=128)
    prompt_version: str = Field(default="", max_length=64)
    ftp: str | None = Field(default=None, sa_column=Column(Text))
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    messages: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    final_answer: str | None = Field(default=None, sa_column=Column(Text))
    correct: bool | None = None
    status: str = Field(max_length=16)
    error: str | None = Field(default=None, sa_column=Column(Text))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, index=True)
    created_by: str = Field(default="system", max_length=64)


class CorpusDocument(SQLModel, table=True):
    """One passage of a retrieval corpus (``distillery corpus add``), served by the builtin ``retrieve`` tool.

    ``doc_id`` comes from the file (or is derived from the content); re-adding it replaces the row.
    Corpus documents are not part of the tool box: writing them does not bump the registry revision.
    """

    __tablename__ = "corpus_document"
    __table_args__ = (UniqueConstraint("corpus", "doc_id", name="uq_corpus_doc"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    corpus: str = Field(default="default", index=True, max_length=64)
    doc_id: str = Field(max_length=128)
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    embedder: str = Field(default="", max_length=64)
    embedding: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    created_at: datetime = Field(default_factory=utcnow)
