"""Embeddings from any OpenAI-compatible ``/embeddings`` endpoint through an injected ``openai.OpenAI``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openai

from toolbox.embeddings.base import Matrix, l2_normalize
from toolbox.errors import EmbeddingError

__all__ = ["KNOWN_DIMENSIONS", "OpenAIEmbedder"]

KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
"""Native sizes of OpenAI's models; other models are probed with one request when first asked."""


class OpenAIEmbedder:
    """An :class:`~toolbox.embeddings.base.Embedder` over ``client.embeddings.create``.

    Texts go in batches of at most ``batch_size`` (256); rows come back in input order and
    L2-normalised. Empty texts are not sent: they get zero rows. Failures raise ``EmbeddingError``.
    For a model whose size is unknown (not in ``KNOWN_DIMENSIONS`` and ``dimensions`` not given),
    the first read of ``dimensions`` sends one probe request; on Python 3.11 ``isinstance(x, Embedder)``
    reads it too.
    """

    def __init__(self, client: openai.OpenAI, model: str, dimensions: int | None = None, *, batch_size: int = 256):
        if not 1 <= batch_size <= 2048:
            raise ValueError(f"batch_size must be in 1..2048, got {batch_size}")
        self.client = client
        self.model = model
        self.batch_size = batch_size
        self._requested = dimensions
        self._dimensions = dimensions or KNOWN_DIMENSIONS.get(model)

    @property
    def name(self) -> str:
        """``openai:<model>`` plus ``-<dimensions>`` when a size was requested."""
        return f"openai:{self.model}" + (f"-{self._requested}" if self._requested else "")

    @property
    def dimensions(self) -> int:
        """Length of every vector (one probe request for an unknown model's native size)."""
        if self._dimensions is None:
            self._dimensions = int(self._request(["dimension probe"]).shape[1])
        return self._dimensions

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, dimensions={self._dimensions})"

    def _request(self, batch: Sequence[str]) -> Matrix:
        try:
            response = self.client.embeddings.create(
                model=self.model,
                input=list(batch),
                dimensions=self._requested if self._requested is not None else openai.omit,
                encoding_format="float",
            )
        except openai.APIStatusError as error:
            raise EmbeddingError(
                f"embedding model {self.model!r} at {self.client.base_url} answered HTTP {error.status_code}: "
                f"{error.message}"
            ) from error
        except openai.OpenAIError as error:
            raise EmbeddingError(f"embedding model {self.model!r} at {self.client.base_url} failed: {error}") from error
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(batch))):
            raise EmbeddingError(f"embedding model {self.model!r} returned {len(data)} rows for {len(batch)} texts")
        try:
            matrix = np.asarray([item.embedding for item in data], dtype=np.float64)
        except ValueError as error:
            raise EmbeddingError(f"embedding model {self.model!r} returned ragged vectors") from error
        return l2_normalize(matrix)

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts`` (shape ``(len(texts), dimensions)``, float32, unit rows; zero rows for empty text)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        wanted = [i for i, text in enumerate(texts) if text.strip()]
        rows: list[tuple[list[int], Matrix]] = []
        for start in range(0, len(wanted), self.batch_size):
            indices = wanted[start : start + self.batch_size]
            vectors = self._request([texts[i] for i in indices])
            if self._dimensions is None:
                self._dimensions = int(vectors.shape[1])
            if vectors.shape[1] != self._dimensions:
                raise EmbeddingError(
                    f"embedding model {self.model!r} returned {vectors.shape[1]}-dimensional vectors, "
                    f"expected {self._dimensions}"
                )
            rows.append((indices, vectors))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for indices, vectors in rows:
            out[indices] = vectors
        return out
