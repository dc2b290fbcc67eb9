"""A small incremental Okapi BM25 index over integer document slots.

Text is tokenised into lower-case words (identifiers split on ``_`` and camelCase), a short
English stop-word list is dropped and a light suffix stemmer folds plurals and ``-ing``/``-ed``
forms, so "converting temperatures" meets "convert_temperature". Postings live per term in
growable numpy arrays (slot ids int32, term frequencies float32), so adding documents is
amortised O(terms) and scoring a query touches only the postings of its terms, vectorised:
at 100k documents a query costs well under a millisecond per term.

Scoring is Okapi BM25 with ``k1=1.2``, ``b=0.75`` and the non-negative Lucene idf
``log(1 + (N - df + 0.5) / (df + 0.5))``. Removed slots leave their postings in place (their
document length is zeroed, which hides them) and are never reused; versions are immutable, so
removal is rare.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

__all__ = ["STOP_WORDS", "BM25Index", "stem", "tokenize"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+")

STOP_WORDS = frozenset((
    "a", "an", "and", "any", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for", "from", "get",
    "gets", "given", "has", "have", "how", "i", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or",
    "our", "please", "should", "some", "than", "that", "the", "their", "them", "then", "there", "these",
    "this", "those", "to", "was", "we", "what", "when", "where", "which", "who", "will", "with", "would",
    "you", "your",
))
"""Words too common in queries and descriptions to carry meaning."""
_CACHE_TERMS = 4096
"""Terms whose saturated term frequencies ``BM25Index`` keeps between changes."""


@lru_cache(maxsize=1 << 17)
def stem(word: str) -> str:
    """A light English suffix stemmer: plurals, ``-ing`` and ``-ed`` (symmetric for queries and documents)."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-case, stemmed word tokens of ``text`` without stop words (identifiers split on ``_``/camelCase)."""
    words = (w.lower() for w in _WORD.findall(_CAMEL.sub(" ", text)))
    return [stem(w) for w in words if w not in STOP_WORDS]


class _Postings:
    """Slots and term frequencies of one term, in growable arrays."""

    __slots__ = ("n", "slots", "tfs")

    def __init__(self) -> None:
        self.slots: NDArray[np.int32] = np.empty(4, dtype=np.int32)
        self.tfs: NDArray[np.float32] = np.empty(4, dtype=np.float32)
        self.n = 0

    def extend(self, slots: Sequence[int], tfs: Sequence[float]) -> None:
        need = self.n + len(slots)
        if need > len(self.slots):
            capacity = max(need, 2 * len(self.slots))
            self.slots = np.resize(self.slots, capacity)
            self.tfs = np.resize(self.tfs, capacity)
        self.slots[self.n : need] = slots
        self.tfs[self.n : need] = tfs
        self.n = need


class BM25Index:
    """Okapi BM25 over documents identified by dense integer slots (0, 1, 2, ...).

    Not thread-safe by itself: ``registry.service.search.SearchIndex`` guards it with its lock.
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, _Postings] = {}
        self._df: Counter[str] = Counter()
        self._lengths: NDArray[np.float32] = np.zeros(16, dtype=np.float32)
        self._terms: dict[int, tuple[str, ...]] = {}
        self._retired: set[int] = set()
        self._total_length = 0.0
        self._size = 0  # slots allocated (max slot + 1)
        self._docs = 0  # live documents
        # per-term (live slots, saturated tf) for the current contents; emptied by every change
        self._term_cache: dict[str, tuple[NDArray[np.int32], NDArray[np.float32]]] = {}

    @property
    def documents(self) -> int:
        """Number of live documents."""
        return self._docs

    @property
    def vocabulary(self) -> int:
        """Number of distinct terms ever indexed."""
        return len(self._postings)

    def __contains__(self, slot: object) -> bool:
        return slot in self._terms

    def add(self, slot: int, tokens: Sequence[str]) -> None:
        """Index one document (see ``add_many``)."""
        self.add_many([(slot, tokens)])

    def add_many(self, documents: Iterable[tuple[int, Sequence[str]]]) -> None:
        """Index documents given as ``(slot, tokens)``; every slot must be new (never indexed before)."""
        self._term_cache.clear()
        grouped: dict[str, tuple[list[int], list[float]]] = {}
        for slot, tokens in documents:
            if slot in self._terms or slot in self._retired or slot < 0:
                raise ValueError(f"slot {slot} was already used: give every document a fresh slot")
            counts = Counter(tokens)
            self._ensure(slot + 1)
            self._lengths[slot] = len(tokens)
            self._total_length += len(tokens)
            self._terms[slot] = tuple(counts)
            self._docs += 1
            for term, tf in counts.items():
                entry = grouped.get(term)
                if entry is None:
                    entry = grouped[term] = ([], [])
                entry[0].append(slot)
                entry[1].append(float(tf))
        for term, (slots, tfs) in grouped.items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = _Postings()
            postings.extend(slots, tfs)
            self._df[term] += len(slots)

    def remove(self, slot: int) -> None:
        """Forget a document (its postings stay but no longer count or score)."""
        terms = self._terms.pop(slot, None)
        if terms is None:
            return
        self._term_cache.clear()
        self._total_length -= float(self._lengths[slot])
        self._lengths[slot] = 0.0
        self._docs -= 1
        for term in terms:
            self._df[term] -= 1
        self._retired.add(slot)

    def _ensure(self, size: int) -> None:
        if size > len(self._lengths):
            grown = np.zeros(max(size, 2 * len(self._lengths)), dtype=np.float32)
            grown[: len(self._lengths)] = self._lengths
            self._lengths = grown
        self._size = max(self._size, size)

    def idf(self, term: str) -> float:
        """Inverse document frequency of an already tokenised ``term`` (0.0 when no document has it)."""
        df = self._df.get(term, 0)
        if df <= 0:
            return 0.0
        return math.log(1.0 + (self._docs - df + 0.5) / (df + 0.5))

    def scores(self, query_tokens: Sequence[str], size: int | None = None) -> NDArray[np.float32]:
        """BM25 score of every slot (length ``size``, default all slots) for the tokenised query."""
        out = np.zeros(size if size is not None else self._size, dtype=np.float32)
        if self._docs == 0:
            return out
        for term in dict.fromkeys(query_tokens):
            weight = self.idf(term)
            if weight <= 0.0:
                continue
            cached = self._saturated(term)
            if cached is None:
                continue
            slots, saturated = cached
            if len(out) < self._size:
                keep = slots < len(out)
                slots, saturated = slots[keep], saturated[keep]
            out[slots] += np.float32(weight) * saturated
        return out

    def _saturated(self, term: str) -> tuple[NDArray[np.int32], NDArray[np.float32]] | None:
        """Live slots of ``term`` and ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avgdl))``, cached.

        The per-posting part of BM25 depends only on the index contents, so it is computed once per
        term and reused by every query until the next ``add_many``/``remove``: the long postings of
        common terms then cost one multiply-add per query instead of a gather and five passes.
        """
        cached = self._term_cache.get(term)
        if cached is not None:
            return cached
        postings = self._postings.get(term)
        if postings is None:
            return None
        avgdl = self._total_length / self._docs if self._total_length > 0 else 1.0
        slots = postings.slots[: postings.n]
        tfs = postings.tfs[: postings.n]
        lengths = self._lengths[slots]
        live = lengths > 0
        if not live.all():
            slots, tfs, lengths = slots[live], tfs[live], lengths[live]
        norm = self.k1 * (1.0 - self.b + self.b * lengths / avgdl)
        saturated = (tfs * (self.k1 + 1.0) / (tfs + norm)).astype(np.float32)
        if len(self._term_cache) >= _CACHE_TERMS:
            self._term_cache.pop(next(iter(self._term_cache)))
        self._term_cache[term] = (slots, saturated)
        return slots, saturated

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` best ``(slot, score)`` pairs for a raw query string (score > 0), best first."""
        scores = self.scores(tokenize(query))
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0 or k <= 0:
            return []
        top = positive[np.argsort(-scores[positive], kind="stable")[:k]]
        return [(int(slot), float(scores[slot])) for slot in top]
