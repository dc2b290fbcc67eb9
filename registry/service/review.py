"""The review queue: versions that are stored but not served until a curator decides.

Every ``draft`` version waits here: one flagged at publish (the poisoning scan found something, or
it has no tests) and one simply published without ``activate``. ``Curator.approve`` lets it out
(draft → active) and ``Curator.reject`` turns it down (draft → yanked); both are audited with the
findings. ``review_queue`` is what the REST route, the CLI and a console page show.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import col, false, select

from registry.db import read_session
from registry.errors import InvalidRequest
from registry.models import Tool, ToolVersion, VersionStatus
from registry.schemas import ReviewEntry, ReviewFinding, VersionSummary

__all__ = ["MAX_QUEUE", "findings_of", "review_queue"]

MAX_QUEUE = 500


def findings_of(version: ToolVersion) -> list[ReviewFinding]:
    """The poisoning findings recorded when ``version`` was published (none for older versions)."""
    review = version.validation_report.get("review") or {}
    return [ReviewFinding.model_validate(item) for item in review.get("findings") or []]


def _why(version: ToolVersion, findings: list[ReviewFinding]) -> list[str]:
    why = ["poisoning"] if findings else []
    if not version.tests:
        why.append("no_tests")
    return why or ["draft"]


def review_queue(engine: Engine, *, namespace: str | None = None, visible_namespaces: Sequence[str] | None = None,
                 flagged_only: bool = False, limit: int = 100) -> list[ReviewEntry]:
    """The draft versions waiting for a decision, flagged ones first, then newest first.

    ``namespace`` keeps one namespace, ``visible_namespaces`` those a caller may see (None: all, an
    empty sequence: none); ``flagged_only`` leaves out drafts that were merely not activated.
    """
    if not 1 <= limit <= MAX_QUEUE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_QUEUE}, got {limit}")
    query = (select(ToolVersion, Tool).join(Tool, col(ToolVersion.tool_id) == col(Tool.id))
             .where(ToolVersion.status == VersionStatus.draft)
             .order_by(col(ToolVersion.flagged).desc(), col(ToolVersion.created_at).desc(), col(ToolVersion.id))
             .limit(limit))
    if namespace is not None:
        query = query.where(Tool.namespace == namespace)
    if visible_namespaces is not None:
        visible = list(visible_namespaces)
        query = query.where(col(Tool.namespace).in_(visible) if visible else false())
    if flagged_only:
        query = query.where(col(ToolVersion.flagged).is_(True))
    with read_session(engine) as session:
        rows = session.exec(query).all()
    entries = []
    for version, tool in rows:
        findings = findings_of(version)
        entries.append(ReviewEntry(version=VersionSummary.of(version, tool.namespace, tool.name),
                                   why=_why(version, findings), findings=findings))
    return entries
