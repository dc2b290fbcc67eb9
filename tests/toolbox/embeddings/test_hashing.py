"""The deterministic hashing embedder used by default and in every search test."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from toolbox.embeddings import Embedder, HashingEmbedder, cosine, create_embedder, l2_normalize
from toolbox.embeddings.hashing import features
from toolbox.settings import EmbeddingSettings

REPO = Path(__file__).resolve().parents[3]

TOOLS = {
    "c2f": "celsius_to_fahrenheit: Convert a temperature from degrees Celsius to degrees Fahrenheit.",
    "c2f_near": "convertCelsiusToFahrenheit: Converts temperatures given in Celsius into Fahrenheit degrees.",
    "gcd": "gcd: Compute the greatest common divisor of two integers with Euclid's algorithm.",
    "gcd_near": "greatest_common_divisor: Return the greatest common divisor of two integers a and b.",
    "game24": "solve_24: Find an arithmetic expression using four numbers and + - * / that evaluates to 24.",
    "csv": "parse_csv_rows: Parse CSV text into a list of row dictionaries keyed by the header.",
}


def digest(matrix: NDArray[np.float32]) -> str:
    return hashlib.sha256(matrix.tobytes()).hexdigest()


def test_shape_dtype_and_unit_norms() -> None:
    embedder = HashingEmbedder(256)
    vectors = embedder.embed(list(TOOLS.values()))
    assert vectors.shape == (len(TOOLS), 256)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.dimensions) == ("hashing-256", 256)


def test_empty_text_gives_a_zero_row_and_empty_input_an_empty_matrix() -> None:
    embedder = HashingEmbedder()
    vectors = embedder.embed(["", "   ", "?!", "add"])
    assert not vectors[:3].any()
    assert np.linalg.norm(vectors[3]) == pytest.approx(1.0)
    empty = embedder.embed([])
    assert empty.shape == (0, 384)
    assert empty.dtype == np.float32


def test_deterministic_within_and_across_processes() -> None:
    texts = list(TOOLS.values())
    here = HashingEmbedder().embed(texts)
    np.testing.assert_array_equal(here, HashingEmbedder().embed(texts))
    np.testing.assert_array_equal(here[2], HashingEmbedder().embed([texts[2]])[0])  # batch-independent
    script = (
        "import hashlib, sys; from toolbox.embeddings.hashing import HashingEmbedder; "
        "texts = sys.stdin.read().split('\\n'); "
        "print(hashlib.sha256(HashingEmbedder().embed(texts).tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input="\n".join(texts),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == digest(here)


def test_near_duplicate_descriptions_score_higher_than_unrelated_ones() -> None:
    names = list(TOOLS)
    vectors = dict(zip(names, HashingEmbedder().embed(list(TOOLS.values())), strict=True))
    for tool, near in (("c2f", "c2f_near"), ("gcd", "gcd_near")):
        close = cosine(vectors[tool], vectors[near])
        unrelated = [cosine(vectors[tool], vectors[other]) for other in names if other not in {tool, near}]
        assert close > 0.3
        assert close > max(unrelated) + 0.2, (tool, close, unrelated)


def test_identifiers_are_split_into_words() -> None:
    counts = features("parseCSVRows snake_case_name")
    for word in ("parse", "csv", "rows", "snake", "case", "name"):
        assert counts[f"w:{word}"] == 1
    assert counts["b:parse csv"] == 1
    assert counts["c: pa"] == 1  # char 3-grams are padded with word boundaries
    assert counts["c:rows "] == 1
    camel, snake = HashingEmbedder().embed(["parseCsvRows", "parse_csv_rows"])
    assert cosine(camel, snake) == pytest.approx(1.0)


def test_repetition_is_sublinear() -> None:
    embedder = HashingEmbedder()
    once, many, other = embedder.embed(["sort a list", "sort sort sort sort sort a list", "reverse a string"])
    assert cosine(once, many) > cosine(once, other)
    assert cosine(once, many) < 1.0


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="dimensions"):
        HashingEmbedder(4)
    with pytest.raises(TypeError, match="sequence of texts"):
        HashingEmbedder().embed("not a list")


def test_helpers() -> None:
    normalised = l2_normalize([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalised, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert normalised.dtype == np.float32
    assert cosine(np.zeros(3), np.ones(3)) == 0.0
    with pytest.raises(ValueError, match="2-D"):
        l2_normalize([1.0, 2.0])  # type: ignore[list-item]


def test_create_embedder_hashing() -> None:
    embedder = create_embedder(EmbeddingSettings(backend="hashing", dimensions=64))
    assert isinstance(embedder, HashingEmbedder)
    assert embedder.dimensions == 64
