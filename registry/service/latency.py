"""Latency histograms: fixed log-spaced bucket bounds, and percentiles estimated from bucket counts.

The bounds follow the 1-2-5 series from 1 ms to 60 s (equal ratios within each decade). Bucket ``i``
counts calls with ``BOUNDS_MS[i-1] < latency <= BOUNDS_MS[i]`` (bucket 0 starts at 0 ms); the last
bucket, ``len(BOUNDS_MS)``, holds everything slower than the last bound. The bounds are part of the
stored data (``UsageLatency.bucket`` indexes them): changing them needs a migration that rebuckets.

A percentile is interpolated linearly inside the bucket that holds its rank, as Prometheus'
``histogram_quantile`` does, and capped at the slowest call seen (which also bounds the open last
bucket). The estimate is exact to within the width of that bucket.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["BOUNDS_MS", "BUCKETS", "bucket_index", "bucket_label", "percentile"]

BOUNDS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 60_000)
BUCKETS = len(BOUNDS_MS) + 1


def bucket_index(latency_ms: float) -> int:
    """The bucket a call of ``latency_ms`` falls in (0 … ``BUCKETS - 1``); O(log buckets), no allocation."""
    return bisect_left(BOUNDS_MS, latency_ms)


def bucket_label(index: int) -> str:
    """A reader's name for bucket ``index``: ``"≤ 5 ms"``, or ``"> 60000 ms"`` for the last one."""
    if not 0 <= index < BUCKETS:
        raise ValueError(f"bucket {index} does not exist; buckets are 0 to {BUCKETS - 1}")
    if index == len(BOUNDS_MS):
        return f"> {BOUNDS_MS[-1]:g} ms"
    return f"≤ {BOUNDS_MS[index]:g} ms"


def percentile(counts: Sequence[int], q: float, *, max_ms: float | None = None) -> float | None:
    """The ``q``-quantile (0 < q ≤ 1) of the calls counted in ``counts`` (one count per bucket).

    None when nothing was counted. ``max_ms``, the slowest call seen, caps the estimate; without it
    a rank in the open last bucket is reported as the last bound.
    """
    if not 0 < q <= 1:
        raise ValueError(f"a percentile needs 0 < q <= 1, got {q}")
    if len(counts) != BUCKETS:
        raise ValueError(f"expected {BUCKETS} bucket counts, got {len(counts)}")
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count <= 0:
            continue
        if seen + count >= rank:
            lower = BOUNDS_MS[index - 1] if index > 0 else 0.0
            if index == len(BOUNDS_MS):
                estimate = max_ms if max_ms is not None else float(lower)
            else:
                estimate = lower + (BOUNDS_MS[index] - lower) * (rank - seen) / count
            return float(min(estimate, max_ms)) if max_ms is not None else float(estimate)
        seen += count
    raise AssertionError("unreachable: the rank is within the total")  # pragma: no cover
