"""Hybrid tool search: BM25 + embedding cosine, fused by reciprocal rank, lightly weighted by usage.

``SearchIndex(engine, embedder)`` keeps an in-process index of every tool version:

- **BM25** (``registry.service.bm25``, k1=1.2, b=0.75) over the tool name split on ``_`` (counted
  twice: names are the densest signal), the description, and the parameter names and docs of the
  input schema.
- **Embeddings**: the vector the publisher stored in ``ToolVersion.embedding`` (float32 bytes, see
  ``encode_vector``) when ``ToolVersion.embedder`` names this index's embedder; rows embedded by
  another embedder, or without a vector, are embedded from ``embedding_text`` at refresh (in memory
  only: search never writes to the registry). Cosine is exact up to ``exact_limit`` (20k) versions;
  beyond that, the sign bits of every vector (binary quantisation, 48 bytes at 384 dims) pick the
  ``rerank`` (2,000) nearest by Hamming distance and only those are scored exactly, which keeps
  a query at 100k tools to a few milliseconds.
- **Fusion**: weighted reciprocal rank fusion ``sum w / (60 + rank)`` (``bm25_weight`` and
  ``vector_weight``, 1.0 each by default; raise the vector side for a semantic embedder, whose
  ranking is much better than BM25's) over the two rankings (top
  ``max(100, 10k)`` of each; documents with equal scores share a rank), multiplied by
  ``1 + 0.1 * log1p(calls)`` where ``calls`` is the tool's total calls in ``usage_stat`` (all
  versions and days; reloaded at most every ``usage_ttl_s``). A tool called 1,000 times gets x1.69,
  enough to order near ties but not to lift an irrelevant tool over a relevant one.
- **Filters**: namespaces, statuses (default active + deprecated), tags (any of).
- **One hit per tool** by default (``per_tool=True``): the best version; equal scores prefer active
  over deprecated, then the higher semver.

Refresh is incremental: the index remembers the registry revision it has seen and loads only
rows whose ``changed_revision`` (or their tool's) is newer; status changes update metadata in
place. Only the first load reads everything. ``search`` refreshes first when the revision moved.
All methods are thread-safe.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from registry.models import Tool, ToolVersion, UsageStat, VersionStatus
from registry.schemas import SearchHit
from registry.service.bm25 import BM25Index, tokenize
from registry.service.vectors import decode_vector, embedding_text, matvec, parameter_docs
from toolbox.embeddings import Embedder
from toolbox.logging import get_logger

__all__ = ["RRF_K", "USAGE_WEIGHT", "IndexStats", "SearchIndex", "fuse_ranks", "top_ranks"]

logger = get_logger("registry.search")

RRF_K = 60
"""The constant of reciprocal rank fusion."""
USAGE_WEIGHT = 0.1
"""Fused scores are multiplied by ``1 + USAGE_WEIGHT * log1p(calls of the tool)``."""

_STATUS_CODES = {VersionStatus.active: 0, VersionStatus.deprecated: 1, VersionStatus.draft: 2,
                 VersionStatus.yanked: 3}
_STATUS_OF = sorted(_STATUS_CODES, key=_STATUS_CODES.__getitem__)  # code -> status


def _bm25_tokens(name: str, description: str, input_schema: Mapping[str, Any] | None) -> list[str]:
    name_tokens = tokenize(name)
    params = " ".join(f"{p} {doc}" for p, doc in parameter_docs(input_schema))
    return name_tokens + name_tokens + tokenize(description) + tokenize(params)


@dataclass
class IndexStats:
    """Counters that show what refreshes did (tests use them to see that refresh is incremental)."""

    revision: int = 0
    documents: int = 0
    full_loads: int = 0
    incremental_loads: int = 0
    rows_loaded: int = 0
    last_rows_loaded: int = 0
    embedded_at_refresh: int = 0
    usage_loads: int = 0


@dataclass
class _Row:
    id: str
    tool_id: str
    namespace: str
    name: str
    semver: str
    major: int
    minor: int
    patch: int
    status: VersionStatus
    description: str
    input_schema: dict[str, Any]
    tags: list[str]
    embedder: str
    embedding: bytes | None


class _Meta:
    """Per-slot metadata in growable arrays and lists."""

    def __init__(self, dimensions: int) -> None:
        self.n = 0
        self.ids: list[str] = []
        self.rows: list[tuple[str, str, str, str, str]] = []  # tool_id, namespace, name, semver, description
        self.schemas: list[str] = []
        self.status: NDArray[np.int8] = np.zeros(64, dtype=np.int8)
        self.namespace: NDArray[np.int32] = np.zeros(64, dtype=np.int32)
        self.tool: NDArray[np.int32] = np.zeros(64, dtype=np.int32)
        self.order: NDArray[np.int64] = np.zeros(64, dtype=np.int64)  # semver as one sortable number
        self.vectors: NDArray[np.float32] = np.zeros((64, dimensions), dtype=np.float32)
        # sign bits, word-major: row w holds the w-th 64-bit word of every slot's code, so the
        # Hamming distance is a few contiguous passes (a per-row reduction over 6 words is 10x slower)
        self.codes: NDArray[np.uint64] = np.zeros((_code_bytes(dimensions) // 8, 64), dtype=np.uint64)
        self.slot_of: dict[str, int] = {}
        self.namespace_codes: dict[str, int] = {}
        self.tool_codes: dict[str, int] = {}
        self.tag_slots: dict[str, list[int]] = {}

    def ensure(self, size: int) -> None:
        if size <= len(self.status):
            return
        capacity = max(size + size // 8, len(self.status) + len(self.status) // 4)  # headroom: no copy per refresh
        for attr in ("status", "namespace", "tool", "order", "vectors"):
            old = getattr(self, attr)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, attr, new)
        codes = np.zeros((self.codes.shape[0], capacity), dtype=np.uint64)
        codes[:, : self.codes.shape[1]] = self.codes
        self.codes = codes


class SearchIndex:
    """In-process hybrid search over the registry's tool versions (see the module docstring)."""

    def __init__(self, engine: Engine, embedder: Embedder, *, usage_ttl_s: float = 30.0,
                 embed_batch: int = 256, exact_limit: int = 20_000, rerank: int = 2_000,
                 bm25_weight: float = 1.0, vector_weight: float = 1.0) -> None:
        self.engine = engine
        self.bm25_weight = bm25_weight
        self.vector_weight = vector_weight
        self.exact_limit = exact_limit
        self.rerank = rerank
        self.embedder = embedder
        self.usage_ttl_s = usage_ttl_s
        self.embed_batch = embed_batch
        self.stats = IndexStats()
        self._lock = threading.RLock()  # guards the index data
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._bm25 = BM25Index()
        self._meta = _Meta(embedder.dimensions)
        self._loaded = False
        self._revision = 0
        self._tool_calls: dict[str, float] = {}
        self._usage_at = -math.inf

    @property
    def revision(self) -> int:
        """The registry revision the index reflects."""
        return self._revision

    def __len__(self) -> int:
        return self._meta.n

    # -- refresh -------------------------------------------------------------------------------

    def _current_revision(self) -> int:
        with self.engine.connect() as connection:
            value = connection.execute(text("SELECT revision FROM registry_state WHERE id = 1")).scalar()
        return int(value or 0)

    def refresh(self) -> int:
        """Load what changed since the last refresh (everything on the first); returns the revision indexed."""
        with self._refresh_lock:
            revision = self._current_revision()
            if self._loaded and revision == self._revision:
                self._refresh_usage()
                return revision
            since = self._revision if self._loaded else None
            rows = self._load_rows(since)
            prepared = self._prepare(rows)
            with self._lock:
                self._apply(rows, prepared)
                self.stats.revision = revision
                self.stats.documents = self._meta.n
                self.stats.rows_loaded += len(rows)
                self.stats.last_rows_loaded = len(rows)
                if since is None:
                    self.stats.full_loads += 1
                else:
                    self.stats.incremental_loads += 1
                self._revision = revision
                self._loaded = True
            self._refresh_usage(force=since is None)
            logger.debug("search index at revision %d: %d rows loaded, %d documents", revision, len(rows),
                         self._meta.n)
            return revision

    def _load_rows(self, since: int | None) -> list[_Row]:
        stmt = (
            select(col(ToolVersion.id), col(ToolVersion.tool_id), col(Tool.namespace), col(Tool.name),
                   col(ToolVersion.semver), col(ToolVersion.major), col(ToolVersion.minor), col(ToolVersion.patch),
                   col(ToolVersion.status), col(ToolVersion.description), col(ToolVersion.input_schema),
                   col(ToolVersion.tags), col(ToolVersion.embedder), col(ToolVersion.embedding))
            .join(Tool, col(Tool.id) == col(ToolVersion.tool_id))
        )
        # Two indexed queries, not one OR across the join (which SQLite answers with a full scan).
        statements = [stmt] if since is None else [stmt.where(col(ToolVersion.changed_revision) > since),
                                                   stmt.where(col(Tool.changed_revision) > since)]
        rows: dict[str, _Row] = {}
        with Session(self.engine) as session:
            for statement in statements:
                for r in session.execute(statement):
                    rows[r[0]] = _Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], VersionStatus(r[8]), r[9] or "",
                                      r[10] or {}, list(r[11] or []), r[12] or "", r[13])
        return list(rows.values())

    def _prepare(self, rows: list[_Row]) -> dict[str, tuple[list[str], NDArray[np.float32]]]:
        """Tokens and vectors of rows not indexed yet (slow work, done outside the data lock)."""
        with self._lock:
            new = [r for r in rows if r.id not in self._meta.slot_of]
        dims = self.embedder.dimensions
        vectors: dict[str, NDArray[np.float32]] = {}
        missing: list[_Row] = []
        for row in new:
            if row.embedder == self.embedder.name and row.embedding is not None and len(row.embedding) == 4 * dims:
                vectors[row.id] = decode_vector(row.embedding)
            else:
                missing.append(row)
        for start in range(0, len(missing), self.embed_batch):
            batch = missing[start : start + self.embed_batch]
            matrix = self.embedder.embed([embedding_text(r.name, r.description, r.input_schema) for r in batch])
            for row, vector in zip(batch, matrix, strict=True):
                vectors[row.id] = vector
        self.stats.embedded_at_refresh += len(missing)
        return {r.id: (_bm25_tokens(r.name, r.description, r.input_schema), vectors[r.id]) for r in new}

    def _apply(self, rows: list[_Row], prepared: dict[str, tuple[list[str], NDArray[np.float32]]]) -> None:
        meta = self._meta
        documents: list[tuple[int, list[str]]] = []
        meta.ensure(meta.n + len(prepared))
        for row in rows:
            slot = meta.slot_of.get(row.id)
            if slot is None:
                if row.id not in prepared:
                    continue
                tokens, vector = prepared.pop(row.id)
                slot = meta.n
                meta.n += 1
                meta.slot_of[row.id] = slot
                meta.ids.append(row.id)
                meta.rows.append((row.tool_id, row.namespace, row.name, row.semver, row.description))
                meta.schemas.append(json.dumps(row.input_schema, separators=(",", ":")))
                meta.namespace[slot] = meta.namespace_codes.setdefault(row.namespace, len(meta.namespace_codes))
                meta.tool[slot] = meta.tool_codes.setdefault(row.tool_id, len(meta.tool_codes))
                meta.order[slot] = (row.major << 40) + (row.minor << 20) + row.patch
                meta.vectors[slot] = vector
                meta.codes[:, slot] = _sign_code(vector)
                for tag in dict.fromkeys(row.tags):
                    meta.tag_slots.setdefault(tag, []).append(slot)
                documents.append((slot, tokens))
            meta.status[slot] = _STATUS_CODES[row.status]
        self._bm25.add_many(documents)

    def _refresh_usage(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._usage_at < self.usage_ttl_s:
            return
        self._usage_at = now
        stmt = (select(col(ToolVersion.tool_id), func.sum(UsageStat.calls))
                .join(ToolVersion, col(ToolVersion.id) == col(UsageStat.version_id))
                .group_by(col(ToolVersion.tool_id)))
        with Session(self.engine) as session:
            calls = {str(tool_id): float(cast("float | None", total) or 0) for tool_id, total in session.execute(stmt)}
        self._tool_calls = calls
        self.stats.usage_loads += 1

    # -- search --------------------------------------------------------------------------------

    def search(self, query: str, *, k: int = 10, namespaces: Sequence[str] | None = None,
               statuses: Sequence[str | VersionStatus] = (VersionStatus.active, VersionStatus.deprecated),
               tags: Sequence[str] | None = None, per_tool: bool = True) -> list[SearchHit]:
        """The ``k`` best versions for ``query`` (one per tool unless ``per_tool=False``), best first."""
        if k <= 0 or not query.strip():
            return []
        if not self._loaded or self._current_revision() != self._revision:
            self.refresh()
        elif time.monotonic() - self._usage_at >= self.usage_ttl_s:
            self._refresh_usage()
        tokens = tokenize(query)
        query_vector = self.embedder.embed([query])[0]
        with self._lock:
            return self._search(tokens, query_vector, k, namespaces, statuses, tags, per_tool)

    def _mask(self, n: int, namespaces: Sequence[str] | None, statuses: Sequence[str | VersionStatus],
              tags: Sequence[str] | None) -> NDArray[np.bool_]:
        meta = self._meta
        # lookup tables indexed by code: one gather per filter instead of np.isin's sort-based search
        allowed_status = np.zeros(len(_STATUS_CODES), dtype=np.bool_)
        allowed_status[[_STATUS_CODES[VersionStatus(s)] for s in statuses]] = True
        mask: NDArray[np.bool_] = allowed_status[meta.status[:n]]
        if namespaces is not None:
            allowed_ns = np.zeros(len(meta.namespace_codes) + 1, dtype=np.bool_)
            allowed_ns[[meta.namespace_codes[ns] for ns in namespaces if ns in meta.namespace_codes]] = True
            mask &= allowed_ns[meta.namespace[:n]]
        if tags is not None:
            tagged = np.zeros(n, dtype=bool)
            for tag in tags:
                tagged[meta.tag_slots.get(tag, [])] = True
            mask &= tagged
        return mask

    def _search(self, tokens: list[str], query_vector: NDArray[np.float32], k: int,
                namespaces: Sequence[str] | None, statuses: Sequence[str | VersionStatus],
                tags: Sequence[str] | None, per_tool: bool) -> list[SearchHit]:
        meta = self._meta
        n = meta.n
        if n == 0:
            return []
        mask = self._mask(n, namespaces, statuses, tags)
        depth = max(100, 10 * k)
        bm25 = self._bm25.scores(tokens, n)
        bm25[~mask] = 0.0
        bm25_ranks = top_ranks(bm25, depth)
        vector_ranks: dict[int, int] = {}
        if np.any(query_vector):
            slots, similarity = self._similarity(query_vector, mask, max(self.rerank, 20 * k))
            vector_ranks = top_ranks(similarity, depth, slots)
        fused = fuse_ranks([(bm25_ranks, self.bm25_weight), (vector_ranks, self.vector_weight)])
        scored = []
        for slot, score in fused.items():
            calls = self._tool_calls.get(meta.rows[slot][0], 0.0)
            scored.append((score * (1.0 + USAGE_WEIGHT * math.log1p(calls)), slot))
        scored.sort(key=lambda item: (-item[0], int(meta.status[item[1]]), -int(meta.order[item[1]]), item[1]))
        hits: list[SearchHit] = []
        seen: set[int] = set()
        for score, slot in scored:
            tool = int(meta.tool[slot])
            if per_tool and tool in seen:
                continue
            seen.add(tool)
            hits.append(self._hit(slot, score, bm25_ranks.get(slot), vector_ranks.get(slot)))
            if len(hits) >= k:
                break
        return hits

    def _similarity(self, query_vector: NDArray[np.float32], mask: NDArray[np.bool_],
                    rerank: int) -> tuple[NDArray[np.intp] | None, NDArray[np.float32]]:
        """Cosine to the query of the slots the filters let through, as ``(slots, cosines)``.

        Exact up to ``exact_limit`` slots (``slots`` is None: ``cosines`` covers every slot, the
        filtered ones zeroed); beyond, the sign-bit prefilter picks ``rerank`` candidates (ascending)
        and only those are scored, so nothing else of size n is allocated.
        """
        meta = self._meta
        n = len(mask)
        if n <= self.exact_limit:
            exact = matvec(meta.vectors[:n], query_vector)
            exact[~mask] = 0.0
            return None, exact
        distance = _hamming(meta.codes[:, :n], _sign_code(query_vector))
        distance[~mask] = np.iinfo(np.int32).max
        keep = min(n, rerank)
        candidates = np.sort(np.argpartition(distance, keep - 1)[:keep]) if keep < n else np.arange(n)
        candidates = candidates[mask[candidates]]
        similarity = matvec(meta.vectors[candidates], query_vector)
        return candidates, similarity

    def _hit(self, slot: int, score: float, bm25_rank: int | None, vector_rank: int | None) -> SearchHit:
        _tool_id, namespace, name, semver, description = self._meta.rows[slot]
        status = _STATUS_OF[int(self._meta.status[slot])]
        return SearchHit(version_id=self._meta.ids[slot], namespace=namespace, name=name, semver=semver,
                         status=status, description=description, input_schema=json.loads(self._meta.schemas[slot]),
                         score=score, bm25_rank=bm25_rank, vector_rank=vector_rank)


def _code_bytes(dimensions: int) -> int:
    """Bytes of a sign-bit code, rounded up to whole 64-bit words."""
    return 8 * ((dimensions + 63) // 64)


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _sign_code(vector: NDArray[np.float32]) -> NDArray[np.uint64]:
    """The sign bits of ``vector`` as 64-bit words (zero-padded to whole words)."""
    packed = np.packbits(vector > 0)
    padded = np.zeros(_code_bytes(len(vector)), dtype=np.uint8)
    padded[: len(packed)] = packed
    return padded.view(np.uint64)


def _hamming(codes: NDArray[np.uint64], code: NDArray[np.uint64]) -> NDArray[np.int32]:
    """Hamming distance of each column of word-major ``codes`` to ``code``: one pass per word."""
    bitwise_count = getattr(np, "bitwise_count", None)
    distance = np.zeros(codes.shape[1], dtype=np.int32)
    for word in range(codes.shape[0]):
        xor = np.bitwise_xor(codes[word], code[word])
        if bitwise_count is not None:  # numpy >= 2.0
            distance += bitwise_count(xor)
        else:
            distance += _POPCOUNT[xor.view(np.uint8)].reshape(-1, 8).sum(axis=1, dtype=np.int32)
    return distance


def fuse_ranks(rankings: Iterable[tuple[Mapping[int, int], float]]) -> dict[int, float]:
    """Weighted reciprocal rank fusion: ``sum weight / (RRF_K + rank)`` per slot over ``(ranks, weight)`` pairs."""
    fused: dict[int, float] = {}
    for ranks, weight in rankings:
        for slot, rank in ranks.items():
            fused[slot] = fused.get(slot, 0.0) + weight / (RRF_K + rank)
    return fused


def top_ranks(scores: NDArray[np.float32], depth: int, slots: NDArray[np.intp] | None = None) -> dict[int, int]:
    """Ranks (1-based; equal scores share the better rank) of the ``depth`` best positive scores.

    ``scores[i]`` belongs to slot ``slots[i]`` (ascending), or to slot ``i`` when ``slots`` is None.
    """
    positive = np.flatnonzero(scores > 0)
    if positive.size == 0:
        return {}
    if positive.size > depth:
        part = np.argpartition(-scores[positive], depth - 1)[:depth]
        positive = positive[part]
    ordered = positive[np.argsort(-scores[positive], kind="stable")]
    values = -scores[ordered]
    ranks = np.searchsorted(values, values, side="left") + 1
    ids = ordered if slots is None else slots[ordered]
    return dict(zip(ids.tolist(), ranks.tolist(), strict=True))
