"""Hybrid search over registry rows inserted directly (no publisher, no sandbox)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, update

from registry.db import write_transaction
from registry.models import ToolVersion, UsageStat, VersionStatus
from registry.service.search import SearchIndex
from registry.service.vectors import decode_vector, embedding_text, encode_vector
from tests.registry.factories import make_spec
from tests.registry.service.rows import add_version
from toolbox.embeddings import HashingEmbedder

CATALOG: list[tuple[str, str, str, dict[str, str]]] = [
    ("math", "add_numbers", "Return the sum of two numbers.", {"a": "first addend", "b": "second addend"}),
    ("math", "is_prime", "Check whether an integer is a prime number.", {"n": "integer to test"}),
    ("math", "solve_game_of_24", "Find an arithmetic expression that uses four numbers once each to make 24.",
     {"numbers": "four integers"}),
    ("units", "celsius_to_fahrenheit", "Convert a temperature from degrees Celsius to Fahrenheit.",
     {"celsius": "temperature in C"}),
    ("dates", "days_between_dates", "Number of days between two ISO calendar dates.",
     {"start": "first date", "end": "second date"}),
    ("text", "reverse_string", "Reverse the characters of a string.", {"text": "input text"}),
    ("text", "count_words", "Count the words in a text.", {"text": "input text"}),
]


def schema(params: dict[str, str]) -> dict[str, Any]:
    """An input schema with documented number parameters."""
    return {"type": "object", "properties": {p: {"type": "number", "description": d} for p, d in params.items()}}


def add_tool(engine: Engine, namespace: str, name: str, description: str, params: dict[str, str], *,
             semver: str = "1.0.0", status: str = "active", embedder: HashingEmbedder | None = None,
             **fields: Any) -> ToolVersion:
    """Insert one version; with ``embedder`` its vector is stored as the publisher would."""
    if embedder is not None:
        vector = embedder.embed([embedding_text(name, description, schema(params))])[0]
        fields |= {"embedder": embedder.name, "embedding": encode_vector(vector)}
    return add_version(engine, namespace, name, semver=semver, status=status, description=description,
                       input_schema=schema(params), **fields)


def fill(engine: Engine, embedder: HashingEmbedder | None = None) -> None:
    """The whole catalogue, one active version per tool."""
    for namespace, name, description, params in CATALOG:
        add_tool(engine, namespace, name, description, params, embedder=embedder)


@pytest.fixture
def embedder() -> HashingEmbedder:
    """The deterministic embedder."""
    return HashingEmbedder(128)


@pytest.mark.parametrize(("query", "expected"), [
    ("total of two values added together", "add_numbers"),
    ("is 97 a prime", "is_prime"),
    ("make twenty-four from 4 7 8 8 using arithmetic", "solve_game_of_24"),
    ("turn 30 degrees C into Fahrenheit", "celsius_to_fahrenheit"),
    ("how many days from one date to another", "days_between_dates"),
    ("put the characters of a word in reverse order", "reverse_string"),
])
def test_paraphrased_query_ranks_relevant_tool_first(engine: Engine, embedder: HashingEmbedder, query: str,
                                                     expected: str) -> None:
    fill(engine, embedder)
    hits = SearchIndex(engine, embedder).search(query, k=3)
    assert hits[0].name == expected
    assert hits[0].score > (hits[1].score if len(hits) > 1 else 0.0)


def test_hits_carry_version_fields_and_both_ranks(engine: Engine, embedder: HashingEmbedder) -> None:
    fill(engine, embedder)
    hit = SearchIndex(engine, embedder).search("reverse the characters of a string", k=1)[0]
    assert (hit.namespace, hit.name, hit.semver, hit.status) == ("text", "reverse_string", "1.0.0",
                                                                 VersionStatus.active)
    assert hit.input_schema == schema({"text": "input text"})
    assert hit.bm25_rank == 1 and hit.vector_rank == 1


def test_rows_without_or_with_foreign_vectors_are_embedded_at_refresh(engine: Engine,
                                                                      embedder: HashingEmbedder) -> None:
    fill(engine)  # no stored vectors at all
    add_tool(engine, "misc", "shout", "Upper-case a text.", {"text": "input"}, embedder=HashingEmbedder(64))
    index = SearchIndex(engine, embedder)
    index.refresh()
    assert index.stats.embedded_at_refresh == len(CATALOG) + 1
    assert index.search("convert celsius", k=1)[0].name == "celsius_to_fahrenheit"


def test_filters_namespace_status_and_tags(engine: Engine, embedder: HashingEmbedder) -> None:
    fill(engine, embedder)
    add_tool(engine, "text", "count_letters", "Count the letters in a text.", {"text": "input"},
             embedder=embedder, tags=["strings", "counting"])
    add_tool(engine, "text", "count_vowels", "Count the vowels in a text.", {"text": "input"},
             status="draft", embedder=embedder)
    index = SearchIndex(engine, embedder)
    assert {h.namespace for h in index.search("count", k=10, namespaces=["text"])} == {"text"}
    assert index.search("count words", k=10, namespaces=["nowhere"]) == []
    assert "count_vowels" not in {h.name for h in index.search("count vowels", k=10)}
    drafts = index.search("count vowels", k=10, statuses=["draft"])
    assert [h.name for h in drafts] == ["count_vowels"]
    assert [h.name for h in index.search("count", k=10, tags=["counting"])] == ["count_letters"]


def test_one_hit_per_tool_prefers_active_then_newer(engine: Engine, embedder: HashingEmbedder) -> None:
    fill(engine, embedder)
    description, params = "Reverse the characters of a string.", {"text": "input text"}
    add_tool(engine, "text", "reverse_string", description, params, semver="1.1.0", embedder=embedder)
    add_tool(engine, "text", "reverse_string", description, params, semver="2.0.0", status="deprecated",
             embedder=embedder)
    index = SearchIndex(engine, embedder)
    per_tool = index.search("reverse a string", k=5)
    assert [h.semver for h in per_tool if h.name == "reverse_string"] == ["1.1.0"]
    every = index.search("reverse a string", k=5, per_tool=False)
    assert sorted(h.semver for h in every if h.name == "reverse_string") == ["1.0.0", "1.1.0", "2.0.0"]


def test_refresh_is_incremental_and_sees_new_versions_and_status_changes(engine: Engine,
                                                                         embedder: HashingEmbedder) -> None:
    fill(engine, embedder)
    index = SearchIndex(engine, embedder)
    first = index.refresh()
    assert index.stats.full_loads == 1 and index.stats.last_rows_loaded == len(CATALOG)

    add_tool(engine, "geometry", "circle_area", "Area of a circle from its radius.", {"radius": "radius"},
             embedder=embedder)
    hits = index.search("area of a round disk", k=1)
    assert hits[0].name == "circle_area"
    assert index.stats.full_loads == 1 and index.stats.incremental_loads == 1
    assert index.stats.last_rows_loaded == 1
    assert index.revision > first

    with write_transaction(engine) as (session, revision):
        session.execute(update(ToolVersion).where(col(ToolVersion.id) == hits[0].version_id)
                        .values(status=VersionStatus.yanked, changed_revision=revision))
    assert "circle_area" not in {h.name for h in index.search("area of a round disk", k=5)}
    assert index.stats.full_loads == 1 and index.stats.last_rows_loaded == 1
    assert len(index) == len(CATALOG) + 1
    assert index.refresh() == index.revision  # nothing moved: no reload
    assert index.stats.incremental_loads == 2


def test_usage_lifts_a_tool_among_near_ties(sqlite_engine: Engine, embedder: HashingEmbedder) -> None:
    params = {"text": "input text"}
    quiet = add_tool(sqlite_engine, "a", "word_counter", "Count the words in a text.", params, embedder=embedder)
    busy = add_tool(sqlite_engine, "b", "word_counter", "Count the words in a text.", params, embedder=embedder)
    with write_transaction(sqlite_engine) as (session, _):
        session.add(UsageStat(version_id=busy.id, day="2026-01-01", calls=500))
    hits = SearchIndex(sqlite_engine, embedder).search("count words", k=2)
    assert [h.version_id for h in hits] == [busy.id, quiet.id]
    assert hits[0].score > hits[1].score


def test_empty_query_and_empty_registry(engine: Engine, embedder: HashingEmbedder) -> None:
    index = SearchIndex(engine, embedder)
    assert index.search("anything", k=5) == []
    fill(engine, embedder)
    assert index.search("   ", k=5) == []
    assert index.search("add numbers", k=0) == []


def test_concurrent_searches_during_refreshes(sqlite_engine: Engine, embedder: HashingEmbedder) -> None:
    fill(sqlite_engine, embedder)
    index = SearchIndex(sqlite_engine, embedder)
    errors: list[BaseException] = []
    found: list[str] = []

    def searcher() -> None:
        try:
            for _ in range(30):
                hits = index.search("reverse the characters of a string", k=3)
                found.append(hits[0].name)
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for i in range(10):
        add_tool(sqlite_engine, "bulk", f"helper_{i}", f"Helper number {i} for spreadsheets.", {"x": "value"},
                 embedder=embedder)
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert set(found) == {"reverse_string"} and len(found) == 120
    assert len(index.search("helper for spreadsheets", k=20, namespaces=["bulk"])) == 10
    assert index.stats.full_loads == 1


def test_embedding_text_and_vector_round_trip() -> None:
    spec = make_spec("add_numbers", description="Add two integers.")
    text = embedding_text(spec)
    assert text == embedding_text(spec.name, spec.description, spec.input_schema)
    assert text.startswith("add numbers. Add two integers.")
    vector = np.array([0.5, -0.25, 1.0], dtype=np.float32)
    blob = encode_vector(vector)
    assert len(blob) == 12
    assert decode_vector(blob).tolist() == vector.tolist()
    assert decode_vector(blob, 3).dtype == np.float32
    with pytest.raises(ValueError, match="3-dimensional"):
        decode_vector(encode_vector(np.zeros(4)), 3)


def test_sign_bit_prefilter_with_full_rerank_matches_exact_scoring(engine: Engine, embedder: HashingEmbedder) -> None:
    fill(engine, embedder)
    exact = SearchIndex(engine, embedder)
    prefiltered = SearchIndex(engine, embedder, exact_limit=0, rerank=len(CATALOG))
    for query in ("convert a temperature", "count words of a text", "days between two dates"):
        for namespaces in (None, ["math", "text"]):
            want = [(h.version_id, h.vector_rank) for h in exact.search(query, k=5, namespaces=namespaces)]
            got = [(h.version_id, h.vector_rank) for h in prefiltered.search(query, k=5, namespaces=namespaces)]
            assert got == want and want
