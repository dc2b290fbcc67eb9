"""The deterministic scorers, table by table."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolbox.tasks import Task, score


def exact_task(answer: str) -> Task:
    """A task scored by normalised string equality."""
    return Task(id="e-1", question="Which day?", scorer="exact", answer=answer, family="manual")


def numeric_task(answer: str) -> Task:
    """A task scored by numeric equivalence."""
    return Task(id="n-1", question="How much?", scorer="numeric", answer=answer, family="manual")


COUNTDOWN_CASES = [
    ("(4 + 8) * (6 - 4)", True, "equals 24"),
    ("(8 + 4) * (6 - 4) = 24", True, "equals 24"),
    ("24 = (8 + 4) * (6 - 4)", True, "equals 24"),
    ("(4 \u00d7 8) \u2212 (6 + 4) + 2", False, "exactly once"),
    ("(8 + 4) \u00d7 (6 \u2212 4)", True, "equals 24"),
    ("`(8 + 4) * (6 - 4)`", True, "equals 24"),
    ("8 * 6 / 4 * 4", False, "equals 48"),
    ("(8 - 4) * 6", False, "unused: [4]"),
    ("(4 + 8) * (6 - 4) * 1", False, "not given or used too often: [1]"),
    ("(4 + 8 + 8) * (6 - 4)", False, "used too often: [8]"),
    ("8 / (4 - 4) + 6", False, "divides by zero"),
    ("4.0 * 6 + 4 - 4 + 8 - 8", False, "whole numbers"),
    ("4 ** 2 + 8 + 4 - 6 + 2", False, "operator Pow"),
    ("__import__('os').system('touch pwned') + 4 + 4 + 6 + 8", False, "function call"),
    ("x + 24", False, "the name 'x'"),
    ("(4 + 8) * (6 - 4", False, "not an arithmetic expression"),
    ("(4 + 8) * (6 - 4) = 25", False, "one expression"),
    ("-4 + 8 * 6 / 4 + 4 * 4", False, "exactly once"),
    ("(-4 + 8) * 6 * (8 / 8)", False, "exactly once"),
    ("", False, "no answer"),
    ("1" * 600, False, "longer than"),
]


@pytest.mark.parametrize(("answer", "correct", "reason"), COUNTDOWN_CASES)
def test_countdown_scorer(game24_task: Task, answer: str, correct: bool, reason: str) -> None:
    result = score(game24_task, answer)
    assert result.correct is correct, result.reason
    assert reason in result.reason


def test_countdown_never_executes_the_answer(game24_task: Task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    monkeypatch.chdir(tmp_path)
    result = score(game24_task, "__import__('pathlib').Path('pwned').touch() or 24")
    assert result.correct is False
    assert not (tmp_path / "pwned").exists()


def test_countdown_is_exact_with_fractions() -> None:
    task = Task(id="c", question="?", scorer="countdown", numbers=[1, 3, 4, 6], target=24, family="game24")
    assert score(task, "6 / (1 - 3 / 4)").correct  # 6 / (1/4): floats would be exact here, fractions always are
    three_eighths = Task(id="d", question="?", scorer="countdown", numbers=[3, 3, 8, 8], target=24, family="game24")
    assert score(three_eighths, "8 / (3 - 8 / 3)").correct


EXACT_CASES = [
    ("Friday", "Friday", True),
    ("Friday", "  friday. ", True),
    ("New   York", "new york", True),
    ("Friday", "Thursday", False),
    ("Friday", "Friday!", False),
]


@pytest.mark.parametrize(("expected", "answer", "correct"), EXACT_CASES)
def test_exact_scorer(expected: str, answer: str, correct: bool) -> None:
    assert score(exact_task(expected), answer).correct is correct


NUMERIC_CASES = [
    ("42", "42", True),
    ("42", "42.0", True),
    ("0.5", "1/2", True),
    ("1,234", "1234", True),
    ("$12.50", "12.5", True),
    ("2*sqrt(2)", "sqrt(8)", True),
    ("x**2 - 1", "(x - 1)*(x + 1)", True),
    ("3.14159265", "3.141592650001", True),
    ("42", "43", False),
    ("42", "forty-two", False),
    ("42", "__import__('os').getcwd()", False),
    ("1", "2^64^64", False),
    ("1", "((2**64)**64)**64", False),
    ("4096", "2**12", True),
    ("1", "1/0", False),
]


@pytest.mark.parametrize(("expected", "answer", "correct"), NUMERIC_CASES)
def test_numeric_scorer(expected: str, answer: str, correct: bool) -> None:
    result = score(numeric_task(expected), answer)
    assert result.correct is correct, result.reason


def test_a_task_answer_that_is_not_numeric_is_reported() -> None:
    result = score(numeric_task("blue sky"), "3")
    assert result.correct is False
    assert "not numeric" in result.reason


def test_missing_answer_is_incorrect(game24_task: Task) -> None:
    assert score(game24_task, None).reason == "no answer was given"
    assert score(exact_task("a"), "   ").correct is False
