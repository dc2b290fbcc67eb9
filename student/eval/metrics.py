"""The figures of an evaluation: accuracy with a Wilson interval, cost per task, reuse of the box."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from student.eval.results import TaskResult

__all__ = ["figures", "reuse_rate", "wilson_interval"]

Z_95 = 1.959963984540054


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for ``correct`` successes out of ``n`` (``(0.0, 0.0)`` when n is 0)."""
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return 0.0, 0.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def reuse_rate(results: Sequence[TaskResult], box_tools: Sequence[str] | None) -> float | None:
    """Share of the box's tools used at least once over ``results`` (None without a box or with an empty one)."""
    if not box_tools:
        return None
    offered = set(box_tools)
    used = {name for result in results for name in result.tools_used} & offered
    return len(used) / len(offered)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def figures(results: Sequence[TaskResult], box_tools: Sequence[str] | None = None) -> dict[str, Any]:
    """n, correct, accuracy, ci95, errors, tokens/seconds/samples per task and reuse_rate of ``results``."""
    n = len(results)
    correct = sum(r.correct for r in results)
    low, high = wilson_interval(correct, n)
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else 0.0,
        "ci95": [round(low, 4), round(high, 4)],
        "errors": sum(r.error is not None for r in results),
        "tokens_per_task": round(_mean([r.tokens for r in results]), 2),
        "seconds_per_task": round(_mean([r.seconds for r in results]), 3),
        "samples_per_task": round(_mean([r.samples for r in results]), 3),
        "reuse_rate": reuse_rate(results, box_tools),
    }
