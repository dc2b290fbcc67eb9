"""Public shapes the registry's services return and its REST API serves."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from registry.models import LinkKind, Role, ToolVersion, VersionStatus
from toolbox.analysis.findings import Finding
from toolbox.sandbox.base import IsolationLevel
from toolbox.spec import ToolSpec
from toolbox.validate import TestReport

__all__ = [
    "VERSION_ID_PATTERN",
    "ChangeKind",
    "FindingKind",
    "LinkSummary",
    "Page",
    "Principal",
    "PublishKind",
    "PublishOutcome",
    "PublishRequest",
    "ResolvedTool",
    "ReviewEntry",
    "ReviewFinding",
    "SchemaChange",
    "SearchHit",
    "ToolDetail",
    "ToolSummary",
    "TrajectoryPage",
    "TrajectoryRecord",
    "TrajectoryStatus",
    "VersionDetail",
    "VersionDiff",
    "VersionIds",
    "VersionSummary",
    "VersionUsage",
]

T = TypeVar("T")
ChangeKind = Literal["major", "minor", "patch", "none"]
PublishKind = Literal["new_tool", "new_version", "duplicate_of", "equivalent_to", "rejected"]
TrajectoryStatus = Literal["solved", "failed", "error"]
FindingKind = Literal["instruction", "hidden_unicode", "confusable", "url", "exfiltration", "encoded_blob",
                      "long_text", "imitation"]
VERSION_ID_PATTERN = r"^[0-9a-f]{32}$"
VersionIds = Annotated[list[Annotated[str, Field(pattern=VERSION_ID_PATTERN)]], Field(max_length=50)]
_MAX_COUNT = 2**31 - 1  # fits a 32-bit INTEGER column on every backend


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back to get the next."""

    items: list[T]
    next_cursor: str | None = None


class VersionSummary(BaseModel):
    """A version as listings show it."""

    id: str
    namespace: str
    name: str
    semver: str
    status: VersionStatus
    content_hash: str
    description: str
    flagged: bool = False
    created_at: datetime
    created_by: str = "system"

    @classmethod
    def of(cls, version: ToolVersion, namespace: str, name: str) -> VersionSummary:
        """Summarise a stored version of ``namespace.name``."""
        return cls(id=version.id, namespace=namespace, name=name, semver=version.semver,
                   status=version.status, content_hash=version.content_hash,
                   description=version.description, flagged=version.flagged,
                   created_at=version.created_at, created_by=version.created_by)


class LinkSummary(BaseModel):
    """A relation from this version to another."""

    kind: LinkKind
    other_id: str
    other: str = Field(description="namespace.name@semver of the other version")
    detail: dict[str, Any] = Field(default_factory=dict)


class VersionDetail(VersionSummary):
    """Everything stored about one version."""

    entrypoint: str
    source: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    tests: list[dict[str, Any]]
    allowed_imports: list[str] | None
    tags: list[str]
    provenance: dict[str, Any]
    validation_report: dict[str, Any]
    changelog: str
    replacement_id: str | None
    links: list[LinkSummary] = Field(default_factory=list)

    @classmethod
    def of_version(cls, version: ToolVersion, namespace: str, name: str,
                   links: list[LinkSummary] | None = None) -> VersionDetail:
        """Detail of a stored version of ``namespace.name``."""
        summary = VersionSummary.of(version, namespace, name).model_dump()
        return cls(**summary, entrypoint=version.entrypoint, source=version.source,
                   input_schema=version.input_schema, output_schema=version.output_schema,
                   tests=version.tests, allowed_imports=version.allowed_imports, tags=version.tags,
                   provenance=version.provenance, validation_report=version.validation_report,
                   changelog=version.changelog, replacement_id=version.replacement_id,
                   links=links or [])


class ToolSummary(BaseModel):
    """A tool as listings show it: its served version and aliases."""

    id: str
    namespace: str
    name: str
    description: str
    latest: VersionSummary | None = Field(description="The version served by default, if any.")
    version_count: int
    aliases: dict[str, str] = Field(default_factory=dict, description="alias -> semver")
    tags: list[str] = Field(default_factory=list)


class ToolDetail(ToolSummary):
    """A tool with all its versions and pins."""

    versions: list[VersionSummary]
    pins: dict[str, str] = Field(default_factory=dict, description="scope -> semver")


class ResolvedTool(BaseModel):
    """The version of a tool that is served to a caller (MCP tools/list and tools/call)."""

    tool_id: str
    namespace: str
    name: str
    version: VersionDetail
    deprecated: bool
    replacement: str | None = Field(default=None, description="namespace.name@semver to use instead")


class SchemaChange(BaseModel):
    """One difference between two versions' schemas and how it classifies."""

    kind: ChangeKind
    path: str = Field(description="e.g. input.properties.x or output")
    message: str


class VersionDiff(BaseModel):
    """Source diff plus schema diff of two versions, with the semver classification."""

    base: VersionSummary
    head: VersionSummary
    source_diff: str
    schema_changes: list[SchemaChange]
    classification: ChangeKind


class ReviewFinding(BaseModel):
    """One sign of tool-description poisoning in a text an LLM will read (``registry.service.poisoning``)."""

    kind: FindingKind
    where: str = Field(description="e.g. 'description', 'name', 'input.properties.x.default'")
    excerpt: str = Field(description="The offending text, shortened, invisible characters escaped.")
    message: str


class PublishTestReport(TestReport):
    """The tests a publish ran in the sandbox, and under which isolation."""

    executed: Literal[True] = True
    isolation: IsolationLevel


class PublishOutcome(BaseModel):
    """What publishing a spec did, and why."""

    kind: PublishKind
    version: VersionSummary | None = None
    semver: str | None = None
    change: ChangeKind | None = None
    reasons: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list, description="static-analysis findings")
    review_findings: list[ReviewFinding] = Field(
        default_factory=list, description="Poisoning-scan findings of a stored version: any puts it in the review "
                                          "queue as a flagged draft, not served until a curator approves it.")
    test_report: PublishTestReport | None = None


class ReviewEntry(BaseModel):
    """A version waiting in the review queue: a draft, flagged or not, with why it waits."""

    version: VersionSummary
    why: list[str] = Field(description="'poisoning' (findings below), 'no_tests' and/or 'draft' (not activated)")
    findings: list[ReviewFinding] = Field(default_factory=list)


class PublishRequest(ToolSpec):
    """The JSON body of ``POST /tools``: a ``ToolSpec``, plus the version ids it consolidates."""

    supersedes: VersionIds = Field(
        default_factory=list,
        description="Version ids this version consolidates: each is linked and deprecated with it as replacement.")

    def spec(self) -> ToolSpec:
        """The tool spec without ``supersedes``."""
        return ToolSpec.model_validate(self.model_dump(exclude={"supersedes"}))


class SearchHit(BaseModel):
    """One search result, with the fused score and its parts."""

    version_id: str
    namespace: str
    name: str
    semver: str
    status: VersionStatus
    description: str
    input_schema: dict[str, Any]
    score: float
    bm25_rank: int | None = None
    vector_rank: int | None = None


class VersionUsage(BaseModel):
    """Usage of one version, summed over days."""

    version_id: str
    semver: str
    calls: int
    errors: int
    mean_latency_ms: float | None
    max_latency_ms: float | None
    last_called_at: datetime | None


class Principal(BaseModel):
    """Who is calling: an API key's identity, role and namespaces (empty = all)."""

    key_id: str
    name: str
    role: Role
    namespaces: list[str] = Field(default_factory=list)

    def can_see(self, namespace: str) -> bool:
        """Whether this caller may read or call tools in ``namespace``."""
        return not self.namespaces or namespace in self.namespaces


class TrajectoryRecord(BaseModel):
    """One teacher run on one task, as the teacher records it and ``GET /trajectories`` serves it.

    ``ftp`` says how a first-thought prefix was injected (None: no prefix); ``correct`` is None
    when the task has no known answer; ``created_at`` is set by the registry when not given.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=r"^[^/?#%\s]+$",
                    description="Unique; no '/', '?', '#', '%' or whitespace (it appears in URLs).")
    run_id: str = Field(min_length=1, max_length=128)
    task_id: str = Field(min_length=1, max_length=128)
    family: str = Field(default="", max_length=64)
    question: str = Field(default="", max_length=65536)
    teacher_model: str = Field(default="", max_length=128)
    prompt_version: str = Field(default="", max_length=64)
    ftp: str | None = Field(default=None, max_length=65536)
    steps: list[dict[str, Any]] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    final_answer: str | None = Field(default=None, max_length=65536)
    correct: bool | None = None
    status: TrajectoryStatus
    error: str | None = Field(default=None, max_length=65536)
    prompt_tokens: int = Field(default=0, ge=0, le=_MAX_COUNT)
    completion_tokens: int = Field(default=0, ge=0, le=_MAX_COUNT)
    seconds: float = Field(default=0.0, ge=0.0, le=1e9, allow_inf_nan=False)
    created_at: datetime | None = None


class TrajectoryPage(BaseModel):
    """One page of trajectories, oldest first; ``next_offset`` is None on the last page."""

    items: list[TrajectoryRecord]
    limit: int
    offset: int
    next_offset: int | None = None
