"""The families: deterministic, disjoint splits, and answers their own scorers accept."""

from __future__ import annotations

import io

import pytest

from toolbox.tasks import Task, TaskError, dump_tasks, families, make_tasks, score
from toolbox.tasks.families import gym
from toolbox.tasks.families.game24 import SPLIT_RANKS

GYM = [name for name in families() if name != "game24"]
WRONG_ANSWER = "certainly not this"


def test_the_families_named_by_the_interface() -> None:
    assert families() == ["game24", "countdown", "calendar_arithmetic", "time_intervals", "base_conversion",
                          "prime_factorization", "gsm_symbolic"]


def test_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(TaskError, match="unknown task family 'chess'; choose one of: game24, countdown"):
        make_tasks("chess", "train", 1)


@pytest.mark.parametrize("family", families())
def test_splits_are_disjoint(family: str) -> None:
    train = {task.question for task in make_tasks(family, "train", 200)}
    test = [task.question for task in make_tasks(family, "test", 100)]
    holdout = [task.question for task in make_tasks(family, "holdout", 50)]
    assert len(test) == 100 and len(holdout) == 50
    assert not train & set(test)
    assert not (train | set(test)) & set(holdout)
    assert len(set(test)) == len(test)


@pytest.mark.parametrize("family", ["game24", "base_conversion", "prime_factorization"])
def test_make_tasks_is_deterministic(family: str) -> None:
    first = make_tasks(family, "test", 20)
    gym._ENTRIES.clear()  # regenerate rather than reuse the memo
    second = make_tasks(family, "test", 20)
    assert first == second
    assert [task.id for task in first] == [f"{family}-test-{i}" for i in range(20)] or family == "game24"
    other_seed = make_tasks(family, "test", 20, seed=7)
    assert other_seed != first
    assert other_seed == make_tasks(family, "test", 20, seed=7)


def test_test_questions_in_the_train_window_are_dropped() -> None:
    train_seed = gym.split_seed("prime_factorization", "train")
    window = {entry["question"] for entry in gym._entries("prime_factorization", train_seed, 2000)}
    reused = make_tasks("prime_factorization", "test", 30, seed=train_seed)  # the train generator itself
    assert len(reused) == 30
    assert not window & {task.question for task in reused}
    assert reused[0].meta["index"] == 0 and reused[0].id == f"prime_factorization-test-s{train_seed}-0"


def test_game24_splits_follow_the_ranks() -> None:
    test = make_tasks("game24", "test", 100)
    assert [task.meta["rank"] for task in test] == list(SPLIT_RANKS["test"])
    assert test[0].id == "game24-test-901" and test[0].target == 24 and test[0].answer is None
    assert test[0].question.startswith(f"Use the numbers {' '.join(map(str, test[0].numbers or []))} and")
    assert len(make_tasks("game24", "holdout", 362)) == 362
    with pytest.raises(TaskError, match="game24 has 900 train puzzles"):
        make_tasks("game24", "train", 901)


def test_game24_first_puzzle_is_solvable_by_the_scorer() -> None:
    first = make_tasks("game24", "train", 1)[0]
    assert first.numbers == [1, 1, 4, 6]
    assert score(first, "(1 + 1) * (6 + 4) + 4").correct is False
    assert score(first, "(1 + 1 + 4) * 6 - 1 - 1 + 1 + 1").correct is False
    assert score(first, "6 * 4 * 1 * 1").correct


def _through_json(task: Task) -> Task:
    buffer = io.StringIO()
    dump_tasks([task], buffer)
    return Task.model_validate_json(buffer.getvalue())


@pytest.mark.parametrize("family", GYM)
def test_reasoning_gym_answers_round_trip(family: str) -> None:
    tasks = [_through_json(task) for task in make_tasks(family, "train", 5)]
    for task in tasks:
        assert task.answer is not None
        assert score(task, task.answer).correct, (task.id, score(task, task.answer).reason)
        assert not score(task, WRONG_ANSWER).correct
    expected = "countdown" if family == "countdown" else "reasoning_gym"
    assert {task.scorer for task in tasks} == {expected}


def test_countdown_tasks_carry_numbers_and_target() -> None:
    task = make_tasks("countdown", "train", 1)[0]
    assert task.numbers and task.target is not None
    assert task.numbers == task.meta["rg_metadata"]["numbers"]
    assert not score(task, f"{task.target}").correct
