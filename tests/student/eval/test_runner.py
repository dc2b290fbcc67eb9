"""The runner: scoring with toolbox.tasks, resuming after a kill, crashes recorded as results."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from student.eval.results import RESULTS_FILE, EvalError, SystemOutput, load_results
from student.eval.runner import run_system
from tests.student.eval.support import question_answer
from toolbox.tasks import Task


class Killed(BaseException):
    """Stands in for the process being killed mid-run (not an Exception: nothing may catch it)."""


@dataclass
class OracleSystem:
    """Answers every task right; optionally dies on the n-th call or raises for chosen task ids."""

    name: str = "oracle"
    die_after: int | None = None
    crash_on: set[str] = field(default_factory=set)
    solved: list[str] = field(default_factory=list)

    async def solve(self, task: Task) -> SystemOutput:
        if self.die_after is not None and len(self.solved) == self.die_after:
            raise Killed
        if task.id in self.crash_on:
            raise RuntimeError(f"the model endpoint fell over on {task.id}")
        self.solved.append(task.id)
        await asyncio.sleep(0)
        return SystemOutput(answer=question_answer(task.question), prompt_tokens=5, completion_tokens=7)


def test_every_task_is_scored_with_the_task_scorer(tmp_path: Path, tasks: list[Task]) -> None:
    results = asyncio.run(run_system(OracleSystem(), tasks, tmp_path, concurrency=3))
    assert [r.task_id for r in results] == [t.id for t in tasks]
    assert all(r.correct for r in results), [r.reason for r in results]
    assert results[0].reason == "uses each number once and equals 24"
    assert len(load_results(tmp_path / RESULTS_FILE)) == len(tasks)


def test_a_killed_run_resumes_without_redoing_finished_tasks(tmp_path: Path, tasks: list[Task]) -> None:
    with pytest.raises(BaseExceptionGroup) as caught:
        asyncio.run(run_system(OracleSystem(die_after=2), tasks, tmp_path, concurrency=1))
    assert caught.group_contains(Killed)
    assert [r.task_id for r in load_results(tmp_path / RESULTS_FILE)] == [t.id for t in tasks[:2]]

    second = OracleSystem()
    results = asyncio.run(run_system(second, tasks, tmp_path, concurrency=2))
    assert second.solved == [t.id for t in tasks[2:]]
    assert [r.task_id for r in results] == [t.id for t in tasks]
    assert sum(1 for line in (tmp_path / RESULTS_FILE).read_text().splitlines() if line) == len(tasks)


def test_a_crashing_task_is_recorded_and_the_run_goes_on(tmp_path: Path, tasks: list[Task]) -> None:
    system = OracleSystem(crash_on={tasks[1].id})
    results = asyncio.run(run_system(system, tasks, tmp_path, concurrency=2))
    crashed = results[1]
    assert crashed.error == f"RuntimeError: the model endpoint fell over on {tasks[1].id}"
    assert crashed.correct is False and crashed.stopped == "error"
    assert [r.correct for r in results if r.task_id != crashed.task_id] == [True] * (len(tasks) - 1)

    # a rerun retries the errored task only, and its new result replaces the old one
    retry = OracleSystem()
    results = asyncio.run(run_system(retry, tasks, tmp_path))
    assert retry.solved == [tasks[1].id]
    assert all(r.correct and r.error is None for r in results)
    assert {r.task_id: r.error for r in load_results(tmp_path / RESULTS_FILE)}[tasks[1].id] is None


def test_a_torn_last_line_is_dropped_and_its_task_runs_again(tmp_path: Path, tasks: list[Task]) -> None:
    asyncio.run(run_system(OracleSystem(), tasks[:2], tmp_path))
    with (tmp_path / RESULTS_FILE).open("a") as sink:
        sink.write('{"task_id": "toy-0", "fam')
    system = OracleSystem()
    asyncio.run(run_system(system, tasks, tmp_path))
    assert system.solved == [t.id for t in tasks[2:]]
    assert [r.task_id for r in load_results(tmp_path / RESULTS_FILE)] == [t.id for t in tasks]


def test_a_corrupt_line_in_the_middle_is_an_error_that_says_where(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILE
    path.write_text('not json\n{"also": "bad"}\n')
    with pytest.raises(EvalError, match=r"results.jsonl:1: not a result record"):
        load_results(path)
