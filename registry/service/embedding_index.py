"""The embedding index over live versions: cosine nearest neighbours for near-duplicate candidates."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import col

from registry.models import ToolVersion, VersionStatus
from registry.service.vectors import decode_vector, matvec

__all__ = ["EmbeddingIndex"]


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
