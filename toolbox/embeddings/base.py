"""The ``Embedder`` protocol and small vector helpers shared by every backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Embedder", "Matrix", "cosine", "l2_normalize"]

Matrix = NDArray[np.float32]
"""A float32 matrix of shape (n, dimensions)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (a zero row for empty text). Sync and thread-safe."""

    @property
    def name(self) -> str:
        """Stable identity of the vector space (e.g. "hashing-384"); vectors from different names never mix."""
        ...

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts`` into an array of shape ``(len(texts), dimensions)``."""
        ...


def l2_normalize(matrix: NDArray[np.floating[Any]] | Sequence[Sequence[float]]) -> Matrix:
    """Scale each row to unit length (all-zero rows stay zero); returns float32."""
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    safe = np.where(norms > 0.0, norms, 1.0)
    return (array / safe).astype(np.float32)


def cosine(a: NDArray[np.floating[Any]], b: NDArray[np.floating[Any]]) -> float:
    """Cosine similarity of two vectors (0.0 when either is zero)."""
    na = float(np.linalg.norm(a))
    nb = float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
