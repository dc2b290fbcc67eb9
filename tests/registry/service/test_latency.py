"""Latency buckets and the percentiles estimated from them."""

from __future__ import annotations

from itertools import pairwise

import pytest

from registry.service.latency import BOUNDS_MS, BUCKETS, bucket_index, bucket_label, percentile


def counts(**by_bucket: int) -> list[int]:
    out = [0] * BUCKETS
    for key, value in by_bucket.items():
        out[int(key.removeprefix("b"))] = value
    return out


def test_bounds_are_log_spaced_and_inclusive_above() -> None:
    ratios = {round(b / a, 1) for a, b in pairwise(BOUNDS_MS)}
    assert ratios <= {2.0, 2.5, 3.0} and len(BOUNDS_MS) + 1 == BUCKETS
    assert [bucket_index(x) for x in (0, 1, 1.0001, 2, 4.9, 5, 60_000, 60_000.5, 1e9)] == [0, 0, 1, 1, 2, 2, 14, 15,
                                                                                             15]
    assert bucket_label(0) == "≤ 1 ms" and bucket_label(15) == "> 60000 ms"
    with pytest.raises(ValueError, match="buckets are 0 to 15"):
        bucket_label(16)


def test_percentiles_interpolate_inside_the_bucket_and_never_pass_the_slowest_call() -> None:
    histogram = counts(b2=10, b5=9, b9=1)  # 10 calls in (2, 5], 9 in (20, 50], 1 in (500, 1000]
    assert percentile(histogram, 0.5) == 5.0
    assert percentile(histogram, 0.95) == 50.0
    assert percentile(histogram, 1.0) == 1000.0
    assert percentile(histogram, 1.0, max_ms=700.0) == 700.0
    assert percentile(counts(b3=20), 0.5) == 7.5 and percentile(counts(b3=20), 0.5, max_ms=7.0) == 7.0
    assert percentile(counts(b15=4), 0.5) == 60_000.0 and percentile(counts(b15=4), 0.5, max_ms=90_000.0) == 90_000.0
    assert percentile([0] * BUCKETS, 0.5) is None


def test_bad_arguments_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="0 < q <= 1"):
        percentile(counts(b1=1), 0)
    with pytest.raises(ValueError, match="expected 16 bucket counts, got 3"):
        percentile([1, 2, 3], 0.5)
