"""Deterministic scorers: each judges one answer to one task, never with an LLM."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable

from toolbox.tasks.arithmetic import ExpressionError, countdown_value, normalise_operators, sympy_value
from toolbox.tasks.model import Score, ScorerName, Task

__all__ = ["normalise_text", "score"]

RELATIVE_TOLERANCE = 1e-6


def score(task: Task, answer: str | None) -> Score:
    """Judge ``answer`` against ``task`` with the task's own scorer; a missing answer is incorrect."""
    if answer is None or not answer.strip():
        return Score(correct=False, reason="no answer was given")
    return _SCORERS[task.scorer](task, answer)


def _countdown(task: Task, answer: str) -> Score:
    assert task.numbers is not None and task.target is not None  # guaranteed by Task's validator
    expression = _strip_equals_target(normalise_operators(answer), task.target)
    if "=" in expression:
        return Score(correct=False, reason=f"write one expression (optionally followed by '= {task.target}')")
    try:
        reading = countdown_value(expression)
    except ZeroDivisionError:
        return Score(correct=False, reason="the expression divides by zero")
    except ExpressionError as exc:
        return Score(correct=False, reason=str(exc))
    wanted, used = Counter(task.numbers), Counter(reading.numbers)
    if used != wanted:
        missing, extra = sorted((wanted - used).elements()), sorted((used - wanted).elements())
        parts = [f"unused: {missing}" if missing else "", f"not given or used too often: {extra}" if extra else ""]
        detail = "; ".join(part for part in parts if part)
        return Score(correct=False, reason=f"each of {sorted(task.numbers)} must be used exactly once ({detail})")
    if reading.value != task.target:
        return Score(correct=False, reason=f"the expression equals {reading.value}, not {task.target}")
    return Score(correct=True, reason=f"uses each number once and equals {task.target}")


def _strip_equals_target(expression: str, target: int) -> str:
    """``"expr = 24"`` -> ``"expr"`` (also ``"24 = expr"``); anything else is returned unchanged."""
    sides = [side.strip() for side in expression.split("=")]
    if len(sides) == 2:
        if sides[1] == str(target):
            return sides[0]
        if sides[0] == str(target):
            return sides[1]
    return expression


def normalise_text(text: str) -> str:
    """Strip, casefold, collapse whitespace and drop one trailing period: the ``exact`` comparison form."""
    text = re.sub(r"\s+", " ", text.strip().casefold())
    return text[:-1].rstrip() if text.endswith(".") else text


def _exact(task: Task, answer: str) -> Score:
    assert task.answer is not None
    if normalise_text(answer) == normalise_text(task.answer):
        return Score(correct=True, reason="matches the expected answer")
    return Score(correct=False, reason=f"expected {task.answer!r}")


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def _numeric_text(text: str) -> str:
    return _THOUSANDS.sub("", text.strip().removeprefix("$").rstrip(".").strip())


def _numeric(task: Task, answer: str) -> Score:
    assert task.answer is not None
    try:
        expected = sympy_value(_numeric_text(task.answer))
    except ExpressionError as exc:
        return Score(correct=False, reason=f"the task's answer {task.answer!r} is not numeric ({exc})")
    try:
        given = sympy_value(_numeric_text(answer))
    except ExpressionError as exc:
        return Score(correct=False, reason=f"not a number or expression: {exc}")
    if _equivalent(given, expected):
        return Score(correct=True, reason="equals the expected answer")
    return Score(correct=False, reason=f"expected {task.answer}")


def _equivalent(given: object, expected: object) -> bool:
    import sympy

    difference = sympy.simplify(sympy.sympify(given) - sympy.sympify(expected))
    if difference == 0:
        return True
    if getattr(given, "is_number", False) and getattr(expected, "is_number", False):
        try:
            a, b = complex(sympy.N(given)), complex(sympy.N(expected))
        except (TypeError, ValueError):
            return False
        return math.isclose(a.real, b.real, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12) and math.isclose(
            a.imag, b.imag, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
    return False


def _reasoning_gym(task: Task, answer: str) -> Score:
    from toolbox.tasks.families.gym import score_with_reasoning_gym

    return score_with_reasoning_gym(task, answer)


_SCORERS: dict[ScorerName, Callable[[Task, str], Score]] = {
    "countdown": _countdown,
    "exact": _exact,
    "numeric": _numeric,
    "reasoning_gym": _reasoning_gym,
}
