"""Accuracy intervals, reuse of the box and the per-run figures."""

from __future__ import annotations

import pytest

from student.eval.metrics import figures, reuse_rate, wilson_interval
from student.eval.results import TaskResult


def result(task_id: str, correct: bool, *, tools: list[str] | None = None, tokens: int = 10,
           seconds: float = 1.0) -> TaskResult:
    return TaskResult(task_id=task_id, family="toy", system="box", question="q", answer="a", correct=correct,
                      reason="", prompt_tokens=tokens, completion_tokens=tokens, seconds=seconds, samples=2,
                      tools_used=tools or [])


@pytest.mark.parametrize(("correct", "n", "low", "high"), [
    (8, 10, 0.4902, 0.9433),     # the textbook example (Wilson 1927; Newcombe 1998)
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (50, 100, 0.4038, 0.5962),
    (81, 263, 0.2553, 0.3662),   # Newcombe 1998, table I
])
def test_wilson_interval_matches_published_values(correct: int, n: int, low: float, high: float) -> None:
    got_low, got_high = wilson_interval(correct, n)
    assert got_low == pytest.approx(low, abs=1e-4)
    assert got_high == pytest.approx(high, abs=1e-4)


def test_wilson_interval_of_nothing_is_zero_and_bad_counts_are_refused() -> None:
    assert wilson_interval(0, 0) == (0.0, 0.0)
    with pytest.raises(ValueError, match="correct <= n"):
        wilson_interval(3, 2)


def test_reuse_rate_is_the_share_of_box_tools_used_at_least_once() -> None:
    results = [result("a", True, tools=["box.add", "box.add"]), result("b", False, tools=["box.mul", "other.x"])]
    assert reuse_rate(results, ["box.add", "box.mul", "box.div", "box.sub"]) == 0.5
    assert reuse_rate(results, None) is None
    assert reuse_rate(results, []) is None


def test_figures_report_accuracy_interval_and_costs_per_task() -> None:
    results = [result("a", True, tokens=10, seconds=1.0), result("b", True, tokens=20, seconds=3.0),
               result("c", False, tokens=30, seconds=2.0)]
    figs = figures(results, ["box.add"])
    assert (figs["n"], figs["correct"]) == (3, 2)
    assert figs["accuracy"] == pytest.approx(2 / 3)
    assert figs["ci95"] == [pytest.approx(v, abs=1e-4) for v in wilson_interval(2, 3)]
    assert figs["tokens_per_task"] == 40.0   # (20 + 40 + 60) / 3, prompt plus completion
    assert figs["seconds_per_task"] == 2.0
    assert figs["reuse_rate"] == 0.0
