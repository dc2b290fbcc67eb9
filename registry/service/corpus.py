"""Retrieval corpora: passages loaded from JSONL and searched by the builtin ``retrieve`` tool.

``CorpusService.add`` validates every record first (``{"id"?, "title"?, "text"}``; errors name the
line) and writes nothing when any is bad; a ``doc_id`` already in the corpus is replaced. A record
without an ``id`` gets one derived from its title and text, so adding the same file twice changes
nothing. Vectors are computed at add time with the registry's embedder and stored with its name.

``retrieve`` ranks passages the way tool search ranks tools (``registry.service.search``): BM25 over
the title (counted twice) and text, and embedding cosine, fused by reciprocal rank. Each corpus keeps
an in-memory index, rebuilt when the corpus's row count or newest ``created_at`` moves (another
process may have added documents). Writing a corpus does not bump the registry revision: the tool
list does not change.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.db import audit, read_session
from registry.errors import InvalidRequest
from registry.models import CorpusDocument, utcnow
from registry.service.bm25 import BM25Index, tokenize
from registry.service.search import fuse_ranks, top_ranks
from registry.service.vectors import decode_vector, encode_vector, matvec
from toolbox.embeddings import Embedder
from toolbox.logging import get_logger

__all__ = ["DEFAULT_CORPUS", "MAX_PROBLEMS", "CorpusRecord", "CorpusService", "CorpusSummary", "Passage",
           "list_corpora", "parse_jsonl"]

logger = get_logger("registry.corpus")
DEFAULT_CORPUS = "default"
MAX_PROBLEMS = 10
"""The most bad lines one error message lists."""
_MAX_DOC_ID = 128
_MAX_CORPUS = 64
_EMBED_BATCH = 256
_CORPUS_NAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{_MAX_CORPUS}}}")


class Passage(TypedDict):
    """One retrieved passage."""

    doc_id: str
    title: str
    text: str
    score: float


class CorpusSummary(TypedDict):
    """One corpus in ``CorpusService.corpora``."""

    corpus: str
    documents: int
    updated_at: str


@dataclass(frozen=True)
class CorpusRecord:
    """A validated document to add."""

    doc_id: str
    title: str
    text: str


def _derived_id(title: str, text: str) -> str:
    return "sha256:" + hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:16]


def _record(value: Any) -> CorpusRecord | str:
    """The record in ``value``, or what is wrong with it."""
    if not isinstance(value, Mapping):
        return f"expected a JSON object like {{\"id\": ..., \"title\": ..., \"text\": ...}}, got {type(value).__name__}"
    text, title, doc_id = value.get("text"), value.get("title", ""), value.get("id")
    if not isinstance(text, str) or not text.strip():
        return "'text' must be a non-empty string"
    if title is None:
        title = ""
    if not isinstance(title, str):
        return f"'title' must be a string, got {type(title).__name__}"
    if doc_id is None:
        doc_id = _derived_id(title, text)
    elif isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        return "'id' must be a non-empty string or an integer"
    if len(doc_id) > _MAX_DOC_ID:
        return f"'id' is {len(doc_id)} characters long; the limit is {_MAX_DOC_ID}"
    return CorpusRecord(doc_id=doc_id, title=title, text=text)


def _validate(numbered: Iterable[tuple[str, Any]]) -> list[CorpusRecord]:
    """Records of ``(where, value)`` pairs; ``InvalidRequest`` listing every bad one (up to ``MAX_PROBLEMS``)."""
    records: list[CorpusRecord] = []
    problems: list[str] = []
    first_seen: dict[str, str] = {}
    for where, value in numbered:
        record = value if isinstance(value, CorpusRecord) else _record(value)
        if isinstance(record, str):
            problems.append(f"{where}: {record}")
            continue
        earlier = first_seen.setdefault(record.doc_id, where)
        if earlier != where:
            problems.append(f"{where}: id {record.doc_id!r} repeats {earlier}")
            continue
        records.append(record)
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise InvalidRequest(f"{len(problems)} bad record(s), nothing was added: {shown}{more}")
    return records


def parse_jsonl(text: str) -> list[tuple[str, Any]]:
    """``("line N", value)`` of each non-blank line of JSONL ``text``; ``InvalidRequest`` naming bad JSON lines."""
    numbered: list[tuple[str, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            numbered.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise InvalidRequest(f"{len(problems)} bad line(s), nothing was added: {shown}{more}")
    return numbered


def _check_corpus(corpus: str) -> str:
    if not _CORPUS_NAME.fullmatch(corpus):
        raise InvalidRequest(f"corpus name {corpus!r} must be 1-{_MAX_CORPUS} letters, digits, '_', '-' or '.'")
    return corpus


def _bm25_tokens(title: str, text: str) -> list[str]:
    title_tokens = tokenize(title)
    return title_tokens + title_tokens + tokenize(text)


@dataclass
class _Index:
    """The searchable form of one corpus at one fingerprint."""

    fingerprint: tuple[int, datetime | None]
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    bm25: BM25Index
    vectors: NDArray[np.float32]


def list_corpora(engine: Engine) -> list[CorpusSummary]:
    """Every corpus in ``engine``'s registry with its document count and when it last changed, by name."""
    stmt = (select(col(CorpusDocument.corpus), func.count(), func.max(col(CorpusDocument.created_at)))
            .group_by(col(CorpusDocument.corpus)).order_by(col(CorpusDocument.corpus)))
    with read_session(engine) as session:
        rows = session.execute(stmt).all()
    return [CorpusSummary(corpus=str(name), documents=int(cast("int", count)),
                          updated_at=latest.isoformat() if isinstance(latest, datetime) else str(latest))
            for name, count, latest in rows]


class CorpusService:
    """Adds, lists and searches the retrieval corpora in the registry behind ``engine``."""

    def __init__(self, engine: Engine, embedder: Embedder, *, bm25_weight: float = 1.0,
                 vector_weight: float = 1.0) -> None:
        """Store corpora in ``engine``'s database, embedded by ``embedder``."""
        self.engine = engine
        self.embedder = embedder
        self.bm25_weight = bm25_weight
        self.vector_weight = vector_weight
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.Lock()

    # -- writing -------------------------------------------------------------------------------

    def add_jsonl(self, text: str, *, corpus: str = DEFAULT_CORPUS, actor: str = "system") -> int:
        """Add the JSONL documents in ``text`` (errors name the line); returns how many were written."""
        return self.add(parse_jsonl(text), corpus=corpus, actor=actor)

    def add(self, records: Iterable[Mapping[str, Any] | CorpusRecord | tuple[str, Any]], *,
            corpus: str = DEFAULT_CORPUS, actor: str = "system") -> int:
        """Add documents (mappings, ``CorpusRecord``s or ``(where, value)`` pairs); all or nothing.

        A ``doc_id`` already in ``corpus`` is replaced. Returns the number of documents written;
        ``InvalidRequest`` (nothing written) when any record is bad.
        """
        _check_corpus(corpus)
        numbered = [item if isinstance(item, tuple) else (f"record {number}", item)
                    for number, item in enumerate(records, start=1)]
        valid = _validate(numbered)
        if not valid:
            return 0
        vectors = self._embed([f"{r.title}\n{r.text}" if r.title else r.text for r in valid])
        now = utcnow()
        rows = [CorpusDocument(corpus=corpus, doc_id=r.doc_id, title=r.title, text=r.text,
                               embedder=self.embedder.name, embedding=encode_vector(vector), created_at=now)
                for r, vector in zip(valid, vectors, strict=True)]
        doc_ids = [r.doc_id for r in valid]
        with Session(self.engine) as session:
            for start in range(0, len(doc_ids), 500):
                session.execute(delete(CorpusDocument).where(
                    col(CorpusDocument.corpus) == corpus, col(CorpusDocument.doc_id).in_(doc_ids[start:start + 500])))
            session.add_all(rows)
            audit(session, actor=actor, action="corpus.add", target=corpus, documents=len(rows))
            session.commit()
        logger.info("added %d document(s) to corpus %s", len(rows), corpus)
        return len(rows)

    def _embed(self, texts: Sequence[str]) -> list[NDArray[np.float32]]:
        vectors: list[NDArray[np.float32]] = []
        for start in range(0, len(texts), _EMBED_BATCH):
            vectors.extend(self.embedder.embed(texts[start:start + _EMBED_BATCH]))
        return vectors

    # -- reading -------------------------------------------------------------------------------

    def corpora(self) -> list[CorpusSummary]:
        """Every corpus with its document count and when it last changed, by name."""
        return list_corpora(self.engine)

    def retrieve(self, query: str, k: int = 3, *, corpus: str = DEFAULT_CORPUS) -> list[Passage]:
        """The ``k`` passages of ``corpus`` that best match ``query``, best first (empty for an empty query)."""
        if k <= 0 or not query.strip():
            return []
        index = self._index(corpus)
        n = len(index.doc_ids)
        if n == 0:
            return []
        depth = max(100, 10 * k)
        bm25_ranks = top_ranks(index.bm25.scores(tokenize(query), n), depth)
        query_vector = self.embedder.embed([query])[0]
        vector_ranks = top_ranks(matvec(index.vectors, query_vector), depth) if np.any(query_vector) else {}
        fused = fuse_ranks([(bm25_ranks, self.bm25_weight), (vector_ranks, self.vector_weight)])
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [Passage(doc_id=index.doc_ids[slot], title=index.titles[slot], text=index.texts[slot], score=score)
                for slot, score in best]

    def _fingerprint(self, corpus: str) -> tuple[int, datetime | None]:
        stmt = (select(func.count(), func.max(col(CorpusDocument.created_at)))
                .where(col(CorpusDocument.corpus) == corpus))
        with read_session(self.engine) as session:
            count, latest = session.execute(stmt).one()
        return int(cast("int", count)), latest if isinstance(latest, datetime) else None

    def _index(self, corpus: str) -> _Index:
        fingerprint = self._fingerprint(corpus)
        with self._lock:
            cached = self._indexes.get(corpus)
            if cached is not None and cached.fingerprint == fingerprint:
                return cached
            index = self._build(corpus, fingerprint)
            self._indexes[corpus] = index
            return index

    def _build(self, corpus: str, fingerprint: tuple[int, datetime | None]) -> _Index:
        stmt = (select(CorpusDocument).where(col(CorpusDocument.corpus) == corpus)
                .order_by(col(CorpusDocument.doc_id)))
        with read_session(self.engine) as session:
            rows = list(session.exec(stmt).all())
        dims = self.embedder.dimensions
        vectors = np.zeros((len(rows), dims), dtype=np.float32)
        stale: list[int] = []
        for i, row in enumerate(rows):
            if row.embedder == self.embedder.name and row.embedding is not None and len(row.embedding) == 4 * dims:
                vectors[i] = decode_vector(row.embedding)
            else:
                stale.append(i)
        if stale:  # embedded by another embedder: embed again, in memory only
            fresh = self._embed([f"{rows[i].title}\n{rows[i].text}" if rows[i].title else rows[i].text for i in stale])
            for i, vector in zip(stale, fresh, strict=True):
                vectors[i] = vector
        bm25 = BM25Index()
        bm25.add_many((slot, _bm25_tokens(row.title, row.text)) for slot, row in enumerate(rows))
        logger.debug("indexed corpus %s: %d documents (%d embedded again)", corpus, len(rows), len(stale))
        return _Index(fingerprint=fingerprint, doc_ids=[r.doc_id for r in rows], titles=[r.title for r in rows],
                      texts=[r.text for r in rows], bm25=bm25, vectors=vectors)
