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
from numpy.typing import NDArray
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.models import LinkKind, ToolVersion, VersionLink, VersionStatus
from registry.service.vectors import decode_vector, matvec
from toolbox.fingerprint import parameter_names, signature_shape
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


_PRUNE_MIN = 8192
"""Below this many slots ``nearest`` scores every vector; from here on it prunes with a bound first."""
_HEAD = 32
"""Dimensions of the principal subspace the pruning bound is computed in."""
_BOUND_SLACK = 1e-3
"""Added to the bound so float32 rounding can never prune a qualifying vector."""


@dataclass
class _Matrix:
    """Growable storage of the indexed vectors: one row (slot) per version ever seen live.

    ``heads`` holds each vector projected on ``basis`` (orthonormal rows spanning the main
    principal directions of the indexed vectors) and ``tails`` the norm of what the projection
    misses, so ``heads @ (basis @ q) + |q_tail| * tails`` bounds every cosine from above
    (Cauchy-Schwarz on the orthogonal complement) at a twelfth of the memory traffic.
    """

    dimensions: int
    vectors: NDArray[np.float32]
    tools: NDArray[np.int32]  # tool code of each slot
    live: NDArray[np.bool_]  # slot currently indexed (active or draft, this embedder)
    heads: NDArray[np.float32]
    tails: NDArray[np.float32]
    basis: NDArray[np.float32] | None = None
    basis_rows: int = 0  # slots when the basis was computed (recomputed when they double)
    n: int = 0

    @classmethod
    def empty(cls, dimensions: int, capacity: int = 64) -> _Matrix:
        """Storage for ``dimensions``-dimensional vectors."""
        return cls(dimensions, np.zeros((capacity, dimensions), dtype=np.float32),
                   np.zeros(capacity, dtype=np.int32), np.zeros(capacity, dtype=np.bool_),
                   np.zeros((capacity, _HEAD), dtype=np.float32), np.zeros(capacity, dtype=np.float32))

    def reserve(self, size: int) -> None:
        """Grow (amortised doubling) so that ``size`` slots fit."""
        if size <= len(self.live):
            return
        capacity = max(size, 2 * len(self.live))
        for attr in ("vectors", "tools", "live", "heads", "tails"):
            old = getattr(self, attr)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, attr, new)

    def project(self, slots: slice | NDArray[np.intp]) -> None:
        """Recompute ``heads`` and ``tails`` of ``slots`` from the current basis."""
        if self.basis is None:
            return
        vectors = self.vectors[slots]
        heads = vectors @ self.basis.T
        self.heads[slots] = heads
        rest = np.einsum("ij,ij->i", vectors, vectors) - np.einsum("ij,ij->i", heads, heads)
        self.tails[slots] = np.sqrt(np.maximum(rest, 0.0))

    def rebase(self) -> None:
        """Compute the basis when the index gets large enough to prune, and again each time it doubles."""
        if self.n < _PRUNE_MIN or self.dimensions <= _HEAD or (self.basis is not None and self.n < 2 * self.basis_rows):
            return
        sample = self.vectors[np.linspace(0, self.n - 1, num=min(self.n, 4096), dtype=np.intp)]
        _, _, right = np.linalg.svd(sample.astype(np.float64), full_matrices=False)
        self.basis = np.ascontiguousarray(right[:_HEAD], dtype=np.float32)
        self.basis_rows = self.n
        self.project(slice(0, self.n))

    def scores(self, vector: NDArray[np.float32], threshold: float) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
        """Live slots whose cosine with ``vector`` may reach ``threshold``, and their exact cosines."""
        n = self.n
        if self.basis is None:
            return np.arange(n), matvec(self.vectors[:n], vector)
        head = matvec(self.basis, vector)
        tail = float(np.sqrt(max(float(vector @ vector) - float(head @ head), 0.0)))
        bound = matvec(self.heads[:n], head) + tail * self.tails[:n]
        candidates = np.flatnonzero((bound >= threshold - _BOUND_SLACK) & self.live[:n])
        if candidates.size > n // 4:  # the bound prunes too little: one pass over everything is cheaper
            return np.arange(n), matvec(self.vectors[:n], vector)
        return candidates, matvec(self.vectors[candidates], vector)


class EmbeddingIndex:
    """Stored embeddings of active and draft versions, kept in memory and refreshed incrementally.

    Every visible change stamps ``changed_revision`` and writers commit in revision order, so
    reading rows with ``changed_revision`` above the last one seen never misses a change.
    Vectors live in one contiguous float32 matrix (a slot per version, kept when a version stops
    being live so a restore reuses it), so ``nearest`` never rebuilds anything per query. From
    ``_PRUNE_MIN`` slots on, an exact upper bound on the cosine computed in a 32-dimensional
    principal subspace discards the vectors that cannot reach the threshold before the exact
    scoring, so the answer is the same as scoring everything. Thread-safe.
    """

    def __init__(self, engine: Engine, embedder_name: str) -> None:
        """Index the versions embedded by ``embedder_name`` (vectors of other embedders do not compare)."""
        self._engine = engine
        self._embedder = embedder_name
        self._ids: list[str] = []
        self._slots: dict[str, int] = {}
        self._tool_codes: dict[str, int] = {}
        self._matrix: _Matrix | None = None
        self._seen = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Number of versions currently indexed."""
        with self._lock:
            return 0 if self._matrix is None else int(self._matrix.live[: self._matrix.n].sum())

    def refresh(self) -> None:
        """Read the versions changed since the last refresh."""
        with self._lock, self._engine.connect() as connection:
            rows = connection.execute(
                sa_select(col(ToolVersion.id), col(ToolVersion.tool_id), col(ToolVersion.status),
                          col(ToolVersion.embedder), col(ToolVersion.embedding), col(ToolVersion.changed_revision))
                .where(col(ToolVersion.changed_revision) > self._seen)
            ).all()
            added: list[int] = []
            for version_id, tool_id, status, embedder, blob, changed in rows:
                self._seen = max(self._seen, changed)
                live = status in (VersionStatus.active, VersionStatus.draft)
                slot = self._put(version_id, tool_id, decode_vector(blob)) if (
                    live and embedder == self._embedder and blob is not None) else None
                if slot is None:
                    self._drop(version_id)
                else:
                    added.append(slot)
            if self._matrix is not None and added:
                basis = self._matrix.basis
                self._matrix.rebase()
                if basis is self._matrix.basis:  # not recomputed: project the new rows only
                    self._matrix.project(np.asarray(added, dtype=np.intp))

    def _put(self, version_id: str, tool_id: str, vector: NDArray[np.float32]) -> int | None:
        if self._matrix is None:
            self._matrix = _Matrix.empty(vector.shape[0])
        matrix = self._matrix
        if vector.shape[0] != matrix.dimensions:  # cannot compare with the others: not a candidate
            return None
        slot = self._slots.get(version_id)
        if slot is None:
            slot = matrix.n
            matrix.reserve(slot + 1)
            matrix.n += 1
            self._slots[version_id] = slot
            self._ids.append(version_id)
        matrix.vectors[slot] = vector
        matrix.tools[slot] = self._tool_codes.setdefault(tool_id, len(self._tool_codes))
        matrix.live[slot] = True
        return slot

    def _drop(self, version_id: str) -> None:
        slot = self._slots.get(version_id)
        if slot is not None and self._matrix is not None:
            self._matrix.live[slot] = False

    def nearest(self, vector: NDArray[Any], *, threshold: float, k: int,
                exclude_tool_id: str | None = None) -> list[tuple[str, float]]:
        """Up to ``k`` (version id, cosine) pairs at or above ``threshold``, most similar first."""
        self.refresh()
        with self._lock:
            matrix = self._matrix
            if matrix is None or matrix.n == 0 or k <= 0 or matrix.dimensions != vector.shape[0]:
                return []
            slots, scores = matrix.scores(np.asarray(vector, dtype=np.float32), threshold)
            eligible = matrix.live[slots] & (scores >= threshold)
            excluded = self._tool_codes.get(exclude_tool_id) if exclude_tool_id is not None else None
            if excluded is not None:
                eligible &= matrix.tools[slots] != excluded
            chosen = np.flatnonzero(eligible)
            if chosen.size > k:
                chosen = chosen[np.argpartition(-scores[chosen], k - 1)[:k]]
            chosen = chosen[np.lexsort((slots[chosen], -scores[chosen]))]
            return [(self._ids[int(slots[i])], float(scores[i])) for i in chosen]


@dataclass
class DifferentialResult:
    """Both tools run on the union of their test inputs: equivalent iff every output matched."""

    equivalent: bool
    inputs: int
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for validation reports and link details."""
        return {"equivalent": self.equivalent, "inputs": self.inputs, "mismatches": self.mismatches}


def _renaming(source: ToolSpec, target: ToolSpec) -> dict[str, str] | None:
    """``source``'s parameter names to ``target``'s, by position, when the two have the same shape."""
    source_names, target_names = parameter_names(source.input_schema), parameter_names(target.input_schema)
    if source_names == target_names or signature_shape(source.input_schema) != signature_shape(target.input_schema):
        return None
    return dict(zip(source_names, target_names, strict=True))


def _as_args_of(args: dict[str, Any], renaming: dict[str, str] | None, target: ToolSpec) -> dict[str, Any]:
    """``args`` written for one tool, as the other (``target``) takes them."""
    if renaming is None or set(args) <= set(parameter_names(target.input_schema)):
        return args  # same names (or names the target shares): keyword arguments carry over
    return {renaming.get(name, name): value for name, value in args.items()}


def differential_test(sandbox: Sandbox, new: ToolSpec, old: ToolSpec,
                      limits: Limits | None = None) -> DifferentialResult:
    """Run ``new`` and ``old`` on each other's test inputs (and their own); stop at the first difference.

    When the parameter names differ but the signatures have the same shape (types by position,
    ``toolbox.fingerprint.signature_shape``), arguments are aligned by position: ``mean(values)``'s
    tests call ``average(numbers)`` with ``numbers``. Otherwise an error on either side counts as a
    difference (a parameter-name mismatch shows up that way). Floats compare approximately, and
    tools with no test inputs at all are never equivalent.
    """
    to_old, to_new = _renaming(new, old), _renaming(old, new)
    inputs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for test in new.tests:
        pair = (test.args, _as_args_of(test.args, to_old, old))
        inputs.setdefault(json.dumps(pair[0], sort_keys=True, default=str), pair)
    for test in old.tests:
        pair = (_as_args_of(test.args, to_new, new), test.args)
        inputs.setdefault(json.dumps(pair[0], sort_keys=True, default=str), pair)
    if not inputs:
        return DifferentialResult(False, 0, [{"reason": "neither tool has test inputs to compare on"}])
    for new_args, old_args in inputs.values():
        ours, theirs = sandbox.run(new, new_args, limits), sandbox.run(old, old_args, limits)
        if not (ours.ok and theirs.ok):
            failure = ours.error if not ours.ok else theirs.error
            side = "new" if not ours.ok else "existing"
            detail = f"{failure.type}: {failure.message}" if failure else "failed"
            return DifferentialResult(False, len(inputs), [{"args": new_args,
                                                            "reason": f"{side} tool failed: {detail}"}])
        if not compare(theirs.value, ours.value, CompareMode.approx):
            return DifferentialResult(False, len(inputs), [{"args": new_args, "new": ours.value,
                                                            "existing": theirs.value, "reason": "outputs differ"}])
    return DifferentialResult(True, len(inputs))
