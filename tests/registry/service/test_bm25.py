"""BM25 index: tokenising, idf, ranking sanity and edge cases."""

from __future__ import annotations

import math

import pytest

from registry.service.bm25 import BM25Index, stem, tokenize


def build(*docs: str) -> BM25Index:
    """An index with ``docs`` at slots 0, 1, 2, ..."""
    index = BM25Index()
    index.add_many((slot, tokenize(text)) for slot, text in enumerate(docs))
    return index


def test_tokenize_splits_identifiers_drops_stop_words_and_stems() -> None:
    assert tokenize("convert_temperature toCelsius")[:2] == [stem("convert"), stem("temperature")]
    tokens = tokenize("Converting the Temperatures of convert_temperature and daysBetween")
    assert "the" not in tokens and "of" not in tokens
    assert tokens.count(stem("temperature")) == 2
    assert stem("converting") == stem("convert")
    assert "day" in tokens and "between" in tokens


def test_stem_folds_plurals_consistently() -> None:
    assert stem("numbers") == stem("number")
    assert stem("matrices") != ""
    assert stem("factories") == "factory"
    assert stem("bus") == "bus"


def test_idf_is_higher_for_rarer_terms() -> None:
    index = build("add two numbers", "multiply two numbers", "reverse a string")
    assert index.idf(stem("reverse")) > index.idf(stem("numbers")) > 0
    assert index.idf("absent") == 0.0
    n, df = 3, 1
    assert index.idf(stem("reverse")) == pytest.approx(math.log(1 + (n - df + 0.5) / (df + 0.5)))


def test_ranking_prefers_matching_and_shorter_documents() -> None:
    index = build(
        "sum of two numbers",
        "reverse the characters of a string",
        "sum of the values in a long list of many numbers with extra words padding the description",
    )
    hits = index.search("sum numbers", k=3)
    assert [slot for slot, _ in hits] == [0, 2]
    assert hits[0][1] > hits[1][1] > 0


def test_term_frequency_saturates() -> None:
    index = build("prime prime prime prime prime test", "prime test", "other words here")
    scores = index.scores(tokenize("prime"))
    assert scores[0] > scores[1]
    assert scores[0] < 3 * scores[1]  # k1 saturation, not linear in tf


def test_empty_and_unknown_queries_return_nothing() -> None:
    index = build("add two numbers")
    assert index.search("", k=5) == []
    assert index.search("the of and", k=5) == []
    assert index.search("zebra", k=5) == []
    assert BM25Index().search("anything") == []


def test_remove_hides_document_and_updates_statistics() -> None:
    index = build("add two numbers", "add a list")
    before = index.idf(stem("add"))
    index.remove(0)
    assert index.documents == 1
    assert [slot for slot, _ in index.search("add numbers")] == [1]
    assert index.idf(stem("add")) != before
    with pytest.raises(ValueError, match="fresh slot"):
        index.add(0, tokenize("reuse"))


def test_incremental_add_scores_like_bulk_build() -> None:
    texts = ["add two numbers", "convert celsius to fahrenheit", "days between dates"]
    bulk = build(*texts)
    incremental = BM25Index()
    for slot, text in enumerate(texts):
        incremental.add(slot, tokenize(text))
    query = tokenize("convert dates")
    assert bulk.scores(query).tolist() == pytest.approx(incremental.scores(query).tolist())


def test_scores_follow_changes_made_after_a_query() -> None:
    texts = ["add two numbers", "add a list of numbers", "convert numbers to text"]
    index = build(*texts[:2])
    query = tokenize("add numbers")
    index.scores(query)  # computed once and reused until the index changes
    index.add(2, tokenize(texts[2]))
    assert index.scores(query).tolist() == pytest.approx(build(*texts).scores(query).tolist())
    index.remove(0)
    after = index.scores(query)
    assert after[0] == 0.0 and after[1] > 0.0
    assert index.scores(query, size=2).tolist() == pytest.approx(after[:2].tolist())
