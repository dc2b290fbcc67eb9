"""OpenAIEmbedder against a real ``openai.OpenAI`` over an ``httpx2.MockTransport``; ``create_embedder``."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import httpx2
import numpy as np
import openai
import pytest
from pydantic import SecretStr

from toolbox.embeddings import Embedder, HashingEmbedder, OpenAIEmbedder, create_embedder
from toolbox.errors import ConfigError, EmbeddingError
from toolbox.settings import EmbeddingSettings


def vector_for(text: str, dims: int) -> list[float]:
    """A deterministic, un-normalised fake embedding (so normalisation is observable)."""
    rng = np.random.default_rng(sum(map(ord, text)))
    return [float(x) for x in rng.normal(size=dims) * 10]


class FakeEmbeddingsAPI:
    """Answers /embeddings like OpenAI, but lists the rows in reverse order; records each request."""

    def __init__(self, dims: int = 8, status: int = 200, drop_one: bool = False) -> None:
        self.dims, self.status, self.drop_one = dims, status, drop_one
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if self.status != 200:
            return httpx2.Response(self.status, json={"error": {"message": "model not found", "type": "x"}})
        dims = body.get("dimensions", self.dims)
        data = [
            {"object": "embedding", "index": i, "embedding": vector_for(text, dims)}
            for i, text in enumerate(body["input"])
        ]
        if self.drop_one:
            data = data[1:]
        return httpx2.Response(
            200,
            json={
                "object": "list",
                "model": body["model"],
                "data": data[::-1],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )


def make_embedder(api: FakeEmbeddingsAPI, model: str = "embed-test", dimensions: int | None = None) -> OpenAIEmbedder:
    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://embed.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(api)),
    )
    return OpenAIEmbedder(client, model, dimensions)


def test_batches_preserve_order_and_normalise() -> None:
    api = FakeEmbeddingsAPI(dims=8)
    embedder = make_embedder(api)
    texts = [f"tool number {i}" for i in range(300)]
    vectors = embedder.embed(texts)
    assert [len(b["input"]) for b in api.bodies] == [256, 44]
    assert all(b["encoding_format"] == "float" and "dimensions" not in b for b in api.bodies)
    assert vectors.shape == (300, 8)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    expected = np.asarray(vector_for(texts[123], 8))
    np.testing.assert_allclose(vectors[123], expected / np.linalg.norm(expected), rtol=1e-5)
    assert embedder.dimensions == 8
    assert isinstance(embedder, Embedder)


def test_empty_texts_get_zero_rows_and_are_not_sent() -> None:
    api = FakeEmbeddingsAPI(dims=4)
    embedder = make_embedder(api, dimensions=4)
    vectors = embedder.embed(["", "add two numbers", "  "])
    assert api.bodies == [
        {"model": "embed-test", "input": ["add two numbers"], "dimensions": 4, "encoding_format": "float"}
    ]
    assert not vectors[0].any() and not vectors[2].any()
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0)
    assert embedder.embed([]).shape == (0, 4)
    assert len(api.bodies) == 1
    assert embedder.name == "openai:embed-test-4"


def test_known_models_need_no_probe_and_unknown_ones_probe_once() -> None:
    api = FakeEmbeddingsAPI(dims=16)
    assert make_embedder(api, model="text-embedding-3-small").dimensions == 1536
    assert api.bodies == []
    unknown = make_embedder(api, model="nomic-embed-text")
    assert unknown.dimensions == 16
    assert unknown.dimensions == 16
    assert len(api.bodies) == 1
    assert unknown.name == "openai:nomic-embed-text"


def test_http_errors_become_embedding_errors() -> None:
    with pytest.raises(EmbeddingError, match=r"'embed-test'.*HTTP 404.*model not found") as info:
        make_embedder(FakeEmbeddingsAPI(status=404)).embed(["x"])
    assert isinstance(info.value.__cause__, openai.NotFoundError)


def test_connection_errors_become_embedding_errors() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused")

    client = openai.OpenAI(
        api_key="k",
        base_url="http://embed.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(refuse)),
    )
    with pytest.raises(EmbeddingError, match="failed: Connection error"):
        OpenAIEmbedder(client, "m", 4).embed(["x"])


def test_missing_rows_are_an_error() -> None:
    with pytest.raises(EmbeddingError, match="returned 1 rows for 2 texts"):
        make_embedder(FakeEmbeddingsAPI(drop_one=True)).embed(["a", "b"])


def test_wrong_size_is_an_error() -> None:
    with pytest.raises(EmbeddingError, match="returned 8-dimensional vectors, expected 1536"):
        make_embedder(FakeEmbeddingsAPI(dims=8), model="text-embedding-3-small").embed(["a"])


def test_create_embedder_openai_uses_settings() -> None:
    settings = EmbeddingSettings(
        backend="openai", model="text-embedding-3-large", base_url="http://127.0.0.1:9/v1", api_key=SecretStr("sk-x")
    )
    embedder = create_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert str(embedder.client.base_url) == "http://127.0.0.1:9/v1/"
    assert embedder.client.api_key == "sk-x"
    assert embedder.dimensions == 3072  # the hashing default (384) is not forced on the API
    sized = create_embedder(settings.model_copy(update={"dimensions": 256}))
    assert sized.dimensions == 256  # an explicitly set size is passed through
    explicit = create_embedder(EmbeddingSettings(backend="openai", dimensions=256, base_url="http://127.0.0.1:9/v1"))
    assert explicit.dimensions == 256


def test_create_embedder_openai_without_key_or_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DISTILLERY_EMBEDDINGS__API_KEY"):
        create_embedder(EmbeddingSettings(backend="openai"))


@pytest.mark.parametrize("backend", ["model2vec", "onnx-minilm"])
def test_semantic_backends_say_what_to_install(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setitem(sys.modules, "toolbox.embeddings.semantic", None)  # importing it raises ImportError
    hint = rf"{backend!r} needs optional packages: pip install 'distillery\[semantic\]'"
    with pytest.raises(EmbeddingError, match=hint):
        create_embedder(EmbeddingSettings(backend=backend))


def test_semantic_backends_come_from_the_semantic_module(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[EmbeddingSettings] = []

    def create_semantic_embedder(settings: EmbeddingSettings) -> Embedder:
        seen.append(settings)
        return HashingEmbedder(32)

    fake = types.ModuleType("toolbox.embeddings.semantic")
    fake.create_semantic_embedder = create_semantic_embedder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "toolbox.embeddings.semantic", fake)
    settings = EmbeddingSettings(backend="model2vec")
    assert create_embedder(settings).dimensions == 32
    assert seen == [settings]
