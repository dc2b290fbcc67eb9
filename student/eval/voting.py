"""Answer normalisation, majority vote and the question-only verifier of the sampling baselines."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fractions import Fraction

from toolbox.tasks import Task, score

__all__ = ["Verifier", "majority", "normalise_answer", "public_view", "verifier_for"]

Verifier = Callable[[str], bool]


def normalise_answer(answer: str) -> str:
    """A comparison key: case, spacing, a trailing period, ``$``/``\\boxed`` wrappers and number forms ignored."""
    text = answer.strip().strip("$").strip()
    boxed = re.fullmatch(r"\\boxed\{(.*)\}", text)
    if boxed:
        text = boxed.group(1)
    text = re.sub(r"\s+", "", text.casefold()).rstrip(".")
    try:
        return str(Fraction(text.replace(",", "")))
    except (ValueError, ZeroDivisionError):
        return text


def majority(answers: Sequence[str | None]) -> tuple[str | None, int]:
    """The most common answer by normalised form (ties: the earliest) and how many samples gave it."""
    groups: dict[str, list[str]] = {}
    for answer in answers:
        if answer is not None and answer.strip():
            groups.setdefault(normalise_answer(answer), []).append(answer)
    if not groups:
        return None, 0
    winner = max(groups.values(), key=len)  # max keeps the first of equal groups: insertion order = sample order
    return winner[0], len(winner)


def public_view(task: Task) -> Task:
    """The task as a solver sees it: the question and the data stated in it, never the hidden answer."""
    return Task(id=task.id, question=task.question, scorer=task.scorer, numbers=task.numbers, target=task.target,
                family=task.family)


def verifier_for(task: Task) -> Verifier | None:
    """A check that uses only the question's own data, or None when the family has none.

    Countdown-style tasks (game24, countdown) state their numbers and target in the question, so an
    answer can be checked with the scorer's own rules on a copy of the task without its answer.
    """
    if task.scorer != "countdown" or task.numbers is None or task.target is None:
        return None
    public = public_view(task)
    return lambda answer: score(public, answer).correct
