"""The task families: Game of 24 from the packaged CSV and reasoning-gym generators."""

from __future__ import annotations

from typing import Literal

from toolbox.tasks.model import Task, TaskError

__all__ = ["Split", "families", "make_tasks"]

Split = Literal["train", "test", "holdout"]
SPLITS: tuple[Split, ...] = ("train", "test", "holdout")
_GYM_NAMES = ("countdown", "calendar_arithmetic", "time_intervals", "base_conversion", "prime_factorization",
              "gsm_symbolic")


def families() -> list[str]:
    """The names ``make_tasks`` accepts."""
    return ["game24", *_GYM_NAMES]


def make_tasks(family: str, split: Split, n: int, seed: int | None = None) -> list[Task]:
    """``n`` deterministic tasks of ``family``'s ``split``; the same arguments always give the same tasks.

    Train, test and holdout are disjoint; holdout holds fresh instances for the teacher's held-out gate.
    ``seed`` picks another deterministic sample (game24) or generator seed (reasoning-gym).
    """
    if family not in families():
        raise TaskError(f"unknown task family {family!r}; choose one of: {', '.join(families())}")
    if split not in SPLITS:
        raise TaskError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if n < 0:
        raise TaskError(f"n must be zero or more, got {n}")
    if family == "game24":
        from toolbox.tasks.families.game24 import game24_tasks

        return game24_tasks(split, n, seed)
    from toolbox.tasks.families.gym import gym_tasks

    return gym_tasks(family, split, n, seed)
