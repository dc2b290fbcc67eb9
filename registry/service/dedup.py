"""Deduplication helpers: provenance merging, the embedding index and the differential test.

Exact duplicates (same normalised-AST hash) and behavioural equivalents are *not* stored as new
versions. Versions are immutable, so the newcomer's provenance is recorded as a
``VersionLink(kind=equivalent)`` from the existing version **to itself**, with
``detail = {"relation": "duplicate" | "equivalent", "provenance": {...}, ...}``;
``effective_provenance`` folds those links into the version's own provenance.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.models import LinkKind, ToolVersion, VersionLink, VersionStatus
from registry.service.search import decode_vector
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.spec import CompareMode, ToolSpec, ToolTest
from toolbox.validate import compare

__all__ = [
    "DifferentialResult",
    "EmbeddingIndex",
    "differential_test",
    "effective_provenance",
    "merge_provenance",
    "provenance_adds",
    "spec_of_version",
]

_LIST_KEYS = ("task_ids", "parent_version_ids", "teacher_models", "trajectory_ids")


def _normalise(provenance: dict[str, Any]) -> dict[str, list[str]]:
    """Provenance as lists of strings (single teacher/trajectory become one-element lists)."""
    out: dict[str, list[str]] = {key: [str(v) for v in provenance.get(key) or []] for key in _LIST_KEYS}
    if provenance.get("teacher_model"):
        out["teacher_models"].insert(0, str(provenance["teacher_model"]))
    if provenance.get("trajectory_id"):
        out["trajectory_ids"].insert(0, str(provenance["trajectory_id"]))
    return out


def merge_provenance(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The union of two provenance records, order-preserving and without repeats.

    The result keeps ``base``'s ``teacher_model``/``trajectory_id`` and lists every teacher,
    trajectory, task id and parent version either side mentions.
    """
    merged: dict[str, Any] = dict(base)
    left, right = _normalise(base), _normalise(extra)
    for key in _LIST_KEYS:
        merged[key] = list(dict.fromkeys(left[key] + right[key]))
    merged.setdefault("teacher_model", extra.get("teacher_model"))
    merged.setdefault("trajectory_id", extra.get("trajectory_id"))
    return merged


def provenance_adds(base: dict[str, Any], extra: dict[str, Any]) -> bool:
    """Whether ``extra`` mentions anything (task, teacher, trajectory, parent) ``base`` lacks."""
    left, right = _normalise(base), _normalise(extra)
    return any(set(right[key]) - set(left[key]) for key in _LIST_KEYS)


def effective_provenance(session: Session, version: ToolVersion) -> dict[str, Any]:
    """``version.provenance`` merged with the provenance of every duplicate/equivalent recorded for it."""
    merged = dict(version.provenance)
    links = session.exec(
        select(VersionLink).where(VersionLink.version_id == version.id, VersionLink.kind == LinkKind.equivalent)
        .order_by(col(VersionLink.created_at))
    ).all()
    for link in links:
        extra = link.detail.get("provenance")
        if isinstance(extra, dict):
            merged = merge_provenance(merged, extra)
    return merged


def spec_of_version(version: ToolVersion, namespace: str, name: str) -> ToolSpec:
    """A stored version as a ``ToolSpec`` the sandbox can run."""
    return ToolSpec(namespace=namespace, name=name, description=version.description, source=version.source,
                    entrypoint=version.entrypoint, input_schema=version.input_schema,
                    output_schema=version.output_schema, tests=[ToolTest(**t) for t in version.tests],
                    allowed_imports=version.allowed_imports, tags=version.tags)


@dataclass
class _Entry:
    tool_id: str
    vector: np.ndarray[Any, np.dtype[np.float32]]


class EmbeddingIndex:
    """Stored embeddings of active and draft versions, kept in memory and refreshed incrementally.

    Every visible change stamps ``changed_revision`` and writers commit in revision order, so
    reading rows with ``changed_revision`` above the last one seen never misses a change.
    Thread-safe.
    """

    def __init__(self, engine: Engine, embedder_name: str) -> None:
        """Index the versions embedded by ``embedder_name`` (vectors of other embedders do not compare)."""
        self._engine = engine
        self._embedder = embedder_name
        self._entries: dict[str, _Entry] = {}
        self._seen = 0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the versions changed since the last refresh."""
        with self._lock, Session(self._engine) as session:
            rows = session.execute(
                sa_select(col(ToolVersion.id), col(ToolVersion.tool_id), col(ToolVersion.status),
                          col(ToolVersion.embedder), col(ToolVersion.embedding), col(ToolVersion.changed_revision))
                .where(col(ToolVersion.changed_revision) > self._seen)
            ).all()
            for version_id, tool_id, status, embedder, blob, changed in rows:
                self._seen = max(self._seen, changed)
                live = status in (VersionStatus.active, VersionStatus.draft)
                if live and embedder == self._embedder and blob is not None:
                    self._entries[version_id] = _Entry(tool_id, decode_vector(blob))
                else:
                    self._entries.pop(version_id, None)

    def nearest(self, vector: np.ndarray[Any, Any], *, threshold: float, k: int,
                exclude_tool_id: str | None = None) -> list[tuple[str, float]]:
        """Up to ``k`` (version id, cosine) pairs at or above ``threshold``, most similar first."""
        self.refresh()
        with self._lock:
            items = [(vid, e) for vid, e in self._entries.items() if e.tool_id != exclude_tool_id]
        if not items:
            return []
        matrix = np.stack([e.vector for _, e in items])
        if matrix.shape[1] != vector.shape[0]:
            return []
        scores = matrix @ vector.astype(np.float32)
        order = np.argsort(-scores)[:k]
        return [(items[i][0], float(scores[i])) for i in order if scores[i] >= threshold]


@dataclass
class DifferentialResult:
    """Both tools run on the union of their test inputs: equivalent iff every output matched."""

    equivalent: bool
    inputs: int
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for validation reports and link details."""
        return {"equivalent": self.equivalent, "inputs": self.inputs, "mismatches": self.mismatches}


def differential_test(sandbox: Sandbox, new: ToolSpec, old: ToolSpec,
                      limits: Limits | None = None) -> DifferentialResult:
    """Run ``new`` and ``old`` on each other's test inputs (and their own); stop at the first difference.

    An error on either side counts as a difference (a parameter-name mismatch shows up that way),
    floats compare approximately, and tools with no test inputs at all are never equivalent.
    """
    inputs: dict[str, dict[str, Any]] = {}
    for test in (*new.tests, *old.tests):
        inputs.setdefault(json.dumps(test.args, sort_keys=True, default=str), test.args)
    if not inputs:
        return DifferentialResult(False, 0, [{"reason": "neither tool has test inputs to compare on"}])
    for args in inputs.values():
        ours, theirs = sandbox.run(new, args, limits), sandbox.run(old, args, limits)
        if not (ours.ok and theirs.ok):
            failure = ours.error if not ours.ok else theirs.error
            side = "new" if not ours.ok else "existing"
            detail = f"{failure.type}: {failure.message}" if failure else "failed"
            return DifferentialResult(False, len(inputs), [{"args": args, "reason": f"{side} tool failed: {detail}"}])
        if not compare(theirs.value, ours.value, CompareMode.approx):
            return DifferentialResult(False, len(inputs), [{"args": args, "new": ours.value, "existing": theirs.value,
                                                            "reason": "outputs differ"}])
    return DifferentialResult(True, len(inputs))
