"""Game of 24 from the ranked puzzle list (``data/game24.csv``): countdown with target 24.

The 1,362 puzzles are ranked by human solve time. Splits by rank: train 1-900, test 901-1000 (the
customary test set of Tree-of-Thoughts and AgentDistill), holdout 1001-1362.
"""

from __future__ import annotations

import csv
import functools
import io
import random
from importlib import resources

from toolbox.tasks.model import Task, TaskError

__all__ = ["SPLIT_RANKS", "game24_tasks"]

FAMILY = "game24"
TARGET = 24
SPLIT_RANKS: dict[str, range] = {"train": range(1, 901), "test": range(901, 1001), "holdout": range(1001, 1363)}


@functools.cache
def _puzzles() -> dict[int, tuple[int, ...]]:
    """Rank -> the four numbers, read once from the packaged CSV."""
    text = resources.files("toolbox.tasks").joinpath("data/game24.csv").read_text(encoding="utf-8")
    return {int(row["Rank"]): tuple(int(part) for part in row["Puzzles"].split())
            for row in csv.DictReader(io.StringIO(text))}


def _question(numbers: tuple[int, ...]) -> str:
    shown = " ".join(str(number) for number in numbers)
    return (f"Use the numbers {shown} and + - * / with parentheses to make {TARGET}. "
            "Use each number exactly once.")


def game24_tasks(split: str, n: int, seed: int | None = None) -> list[Task]:
    """The first ``n`` puzzles of ``split`` in rank order, or a seeded random sample of them.

    Ids are ``game24-{split}-{rank}``, so one puzzle keeps its id whatever the seed.
    """
    ranks = list(SPLIT_RANKS[split])
    if n > len(ranks):
        raise TaskError(f"game24 has {len(ranks)} {split} puzzles, {n} were asked for; ask for at most {len(ranks)}")
    if seed is not None:
        ranks = random.Random(seed).sample(ranks, n)
    puzzles = _puzzles()
    return [
        Task(id=f"{FAMILY}-{split}-{rank}", question=_question(puzzles[rank]), scorer="countdown", answer=None,
             numbers=list(puzzles[rank]), target=TARGET, family=FAMILY, meta={"rank": rank})
        for rank in ranks[:n]
    ]
