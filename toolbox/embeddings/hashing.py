"""A deterministic, dependency-free embedder: signed feature hashing of word and character n-grams.

Features of the lower-cased text (identifiers are split on ``_`` and camelCase first):
word unigrams, word bigrams and character 3-5-grams of each word padded with spaces. Each
feature is hashed with BLAKE2b (stable across processes and machines, unlike ``hash()``) to a
bucket and a sign; counts get sublinear weighting ``1 + log(tf)``, scaled per feature family,
and each row is L2-normalised.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from hashlib import blake2b
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from toolbox.embeddings.base import Matrix, l2_normalize

__all__ = ["HashingEmbedder", "features"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+")
_PERSON = b"distillery-hash1"  # changing it changes every vector: bump the name too

# Relative weight of each feature family (words carry most meaning; char n-grams catch morphology).
_WEIGHTS = {"w": 1.0, "b": 0.7, "c": 0.35}
_CHAR_N = (3, 4, 5)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(_CAMEL.sub(" ", text))]


def features(text: str) -> Counter[str]:
    """The n-gram features of ``text`` with their counts, each prefixed by its family ("w:", "b:", "c:")."""
    words = _words(text)
    counts: Counter[str] = Counter()
    counts.update(f"w:{w}" for w in words)
    counts.update(f"b:{a} {b}" for a, b in pairwise(words))
    for word in words:
        padded = f" {word} "
        for n in _CHAR_N:
            counts.update(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    return counts


@lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = int.from_bytes(blake2b(feature.encode("utf-8"), digest_size=8, person=_PERSON).digest(), "little")
    return digest % dimensions, (1.0 if (digest >> 63) & 1 else -1.0)


class HashingEmbedder:
    """Deterministic signed-hashing embedder; ``name`` is ``"hashing-<dimensions>"``."""

    def __init__(self, dimensions: int = 384) -> None:
        if dimensions < 8:
            raise ValueError(f"dimensions must be >= 8, got {dimensions}")
        self._dimensions = dimensions

    @property
    def name(self) -> str:
        """Stable identity of this vector space."""
        return f"hashing-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        return self._dimensions

    def __repr__(self) -> str:
        return f"HashingEmbedder(dimensions={self._dimensions})"

    def _row(self, counts: Iterable[tuple[str, int]], out: NDArray[np.float64]) -> None:
        for feature, tf in counts:
            index, sign = _bucket(feature, self._dimensions)
            out[index] += sign * _WEIGHTS[feature[0]] * (1.0 + math.log(tf))

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts`` into float32 rows of unit length (zero rows for texts without words)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        matrix = np.zeros((len(texts), self._dimensions), dtype=np.float64)
        for row, text in enumerate(texts):
            self._row(features(text).items(), matrix[row])
        return l2_normalize(matrix)
