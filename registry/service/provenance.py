"""Provenance of a version: which teachers, tasks, trajectories and parents it came from.

Exact duplicates (same normalised-AST hash) and behavioural equivalents are *not* stored as new
versions. Versions are immutable, so the newcomer's provenance is recorded as a
``VersionLink(kind=equivalent)`` from the existing version **to itself**, with
``detail = {"relation": "duplicate" | "equivalent", "provenance": {...}, ...}``;
``effective_provenance`` folds those links into the version's own provenance.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from registry.models import LinkKind, ToolVersion, VersionLink
from toolbox.spec import ToolSpec, ToolTest

__all__ = ["effective_provenance", "merge_provenance", "provenance_adds", "spec_of_version"]

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
