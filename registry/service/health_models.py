"""What the health report says: figures per tool version, findings, and the curation each one suggests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from registry.models import VersionStatus

__all__ = ["Finding", "FindingKind", "HealthReport", "HealthThresholds", "HealthTotals", "Suggestion",
           "SuggestionKind", "VersionHealth"]


class FindingKind(StrEnum):
    """What is wrong with a tool version."""

    unused = "unused"  # no call of any version of the tool in the window
    superseded_still_called = "superseded_still_called"  # a newer active version or a replacement exists
    error_rate_jump = "error_rate_jump"  # this version fails much more often than the one before it


class SuggestionKind(StrEnum):
    """A curation a finding suggests; ``registry.service.health_actions`` carries it out."""

    deprecate_unused = "deprecate_unused"  # deprecate ref
    deprecate_superseded = "deprecate_superseded"  # deprecate ref with replacement
    roll_back = "roll_back"  # serve the previous version again: restore it if needed, deprecate ref in its favour


class HealthThresholds(BaseModel):
    """When a finding is raised."""

    min_calls: int = Field(default=10, ge=1, description="Calls each side needs before error rates are compared.")
    jump_points: float = Field(default=0.10, gt=0, le=1,
                               description="How much higher (absolute) the newer version's error rate must be.")
    jump_ratio: float = Field(default=2.0, ge=1, description="... and how many times the older one's it must be.")


class Suggestion(BaseModel):
    """One curation a curator can apply with one click (console) or by hand (CLI, REST)."""

    kind: SuggestionKind
    namespace: str
    name: str
    ref: str = Field(description="The semver of the version the action applies to.")
    replacement: str | None = Field(default=None, description="'ns.name@semver' that takes over, if any.")
    label: str = Field(description="What the action does, in a few words.")
    reason: str = Field(description="The reason recorded in the audit log.")


class Finding(BaseModel):
    """Something a curator should look at, and what to do about it."""

    kind: FindingKind
    namespace: str
    name: str
    semver: str
    message: str
    suggestion: Suggestion | None = None


class VersionHealth(BaseModel):
    """The usage of one version in the report's window."""

    version_id: str
    namespace: str
    name: str
    semver: str
    status: VersionStatus
    calls: int
    errors: int
    error_rate: float | None = Field(description="errors / calls; None without calls.")
    p50_ms: float | None = Field(description="Median latency, from the histogram buckets.")
    p95_ms: float | None
    max_latency_ms: float | None
    search_calls: int = Field(description="Calls a search_tools result had just led the same caller to.")
    search_share: float | None = Field(description="search_calls / calls; None without calls.")
    last_called_at: datetime | None = Field(description="The last call ever recorded, inside the window or not.")
    daily_calls: list[int] = Field(description="Calls per UTC day of the window, oldest first.")
    daily_errors: list[int]

    @property
    def qualified(self) -> str:
        """``ns.name@semver``."""
        return f"{self.namespace}.{self.name}@{self.semver}"


class HealthTotals(BaseModel):
    """The whole window, every visible version together."""

    calls: int
    errors: int
    error_rate: float | None
    search_calls: int
    search_share: float | None
    p50_ms: float | None
    p95_ms: float | None
    versions_called: int
    tools: int


class HealthReport(BaseModel):
    """The health report of the box (``registry.service.health.health_report``)."""

    generated_at: datetime
    days: int
    window: list[str] = Field(description="The UTC days covered, oldest first.")
    thresholds: HealthThresholds
    totals: HealthTotals
    versions: list[VersionHealth] = Field(description="Versions served or called in the window, most called first.")
    findings: list[Finding]
