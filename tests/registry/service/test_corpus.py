"""The retrieval corpus: all-or-nothing adds with line-numbered errors, replacement by id, hybrid retrieval."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.errors import InvalidRequest
from registry.models import AuditEntry, CorpusDocument
from registry.service.corpus import CorpusService
from toolbox.embeddings import HashingEmbedder

DOCS = [
    {"id": "paris", "title": "Paris", "text": "Paris is the capital and largest city of France, on the Seine."},
    {"id": "photosynthesis", "title": "Photosynthesis",
     "text": "Plants turn sunlight, water and carbon dioxide into glucose and oxygen."},
    {"id": "everest", "title": "Mount Everest", "text": "Everest is the highest mountain above sea level, 8,849 m."},
]


def _jsonl(records: list[dict[str, object]]) -> str:
    return "\n".join(json.dumps(record) for record in records) + "\n"


@pytest.fixture
def corpus(engine: Engine) -> CorpusService:
    """A corpus service on the test database with the deterministic hashing embedder."""
    return CorpusService(engine, HashingEmbedder())


def _rows(engine: Engine) -> list[CorpusDocument]:
    with Session(engine) as session:
        return list(session.exec(select(CorpusDocument)).all())


def test_add_stores_documents_with_vectors_and_audits(corpus: CorpusService, engine: Engine) -> None:
    assert corpus.add_jsonl(_jsonl(DOCS), actor="tester") == 3
    rows = {row.doc_id: row for row in _rows(engine)}
    assert set(rows) == {"paris", "photosynthesis", "everest"}
    assert rows["paris"].corpus == "default" and rows["paris"].title == "Paris"
    assert rows["paris"].embedder == corpus.embedder.name
    assert rows["paris"].embedding is not None and len(rows["paris"].embedding) == 4 * corpus.embedder.dimensions
    assert corpus.corpora()[0]["corpus"] == "default" and corpus.corpora()[0]["documents"] == 3
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "corpus.add")).one()
    assert entry.actor == "tester" and entry.detail == {"documents": 3}


def test_readding_an_id_replaces_it_and_ids_default_to_the_content(corpus: CorpusService, engine: Engine) -> None:
    corpus.add(DOCS)
    corpus.add([{"id": "paris", "text": "Paris hosted the 2024 Summer Olympics."}, {"text": "No id here."}])
    corpus.add([{"text": "No id here."}])  # the same content: the same derived id
    rows = {row.doc_id: row for row in _rows(engine)}
    assert len(rows) == 4
    assert rows["paris"].text == "Paris hosted the 2024 Summer Olympics." and rows["paris"].title == ""
    assert any(doc_id.startswith("sha256:") for doc_id in rows)
    assert corpus.retrieve("Olympics", k=1)[0]["doc_id"] == "paris"  # the index saw the replacement


def test_a_bad_line_writes_nothing_and_names_every_bad_line(corpus: CorpusService, engine: Engine) -> None:
    text = _jsonl(DOCS[:1]) + "{not json\n\n" + json.dumps({"title": "no text"}) + "\n" + json.dumps([1]) + "\n"
    with pytest.raises(InvalidRequest, match="line 2: not valid JSON"):
        corpus.add_jsonl(text)
    good_json = _jsonl([*DOCS, {"id": "x", "text": ""}, {"id": ["list"], "text": "t"}, {"id": "paris", "text": "t"}])
    with pytest.raises(InvalidRequest) as caught:
        corpus.add_jsonl(good_json)
    message = str(caught.value)
    assert "nothing was added" in message
    assert "line 4: 'text' must be a non-empty string" in message
    assert "line 5: 'id' must be" in message
    assert "line 6: id 'paris' repeats line 1" in message
    assert _rows(engine) == []


def test_bad_corpus_name_is_refused(corpus: CorpusService) -> None:
    with pytest.raises(InvalidRequest, match="corpus name"):
        corpus.add(DOCS, corpus="no spaces allowed")


def test_retrieve_ranks_the_relevant_document_first(corpus: CorpusService) -> None:
    corpus.add(DOCS)
    corpus.add([{"id": "other", "text": "Mountains of Europe: the Alps."}], corpus="geo")
    hits = corpus.retrieve("What is the capital of France?", k=2)
    assert [hit["doc_id"] for hit in hits][:1] == ["paris"]
    assert len(hits) == 2 and hits[0]["score"] >= hits[1]["score"] > 0
    assert hits[0]["title"] == "Paris" and "Seine" in hits[0]["text"]
    assert corpus.retrieve("highest mountain", k=1)[0]["doc_id"] == "everest"
    assert [hit["doc_id"] for hit in corpus.retrieve("mountains", k=5, corpus="geo")] == ["other"]
    assert corpus.retrieve("   ", k=3) == []
    assert corpus.retrieve("anything", corpus="empty") == []


def test_a_second_service_sees_documents_added_elsewhere(corpus: CorpusService, engine: Engine) -> None:
    reader = CorpusService(engine, HashingEmbedder())
    assert reader.retrieve("France") == []
    corpus.add(DOCS)
    assert reader.retrieve("France", k=1)[0]["doc_id"] == "paris"
