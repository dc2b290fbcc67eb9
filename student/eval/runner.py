"""Run one system over tasks, concurrently and resumably, appending each result to ``results.jsonl``.

A rerun into the same folder skips the tasks that already have a result without an error; a task
whose system raises is recorded as an error result and the run goes on.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from student.eval.results import RESULTS_FILE, System, SystemOutput, TaskResult, load_results
from toolbox.logging import get_logger
from toolbox.tasks import Task, score

__all__ = ["run_system", "score_output"]

logger = get_logger("student.eval")


def score_output(system: str, task: Task, output: SystemOutput, seconds: float) -> TaskResult:
    """The result line for ``task``: the system's output scored by ``toolbox.tasks.score``."""
    verdict = score(task, output.answer)
    return TaskResult(
        task_id=task.id, family=task.family, system=system, question=task.question, answer=output.answer,
        correct=verdict.correct, reason=verdict.reason, prompt_tokens=output.prompt_tokens,
        completion_tokens=output.completion_tokens, samples=output.samples, seconds=seconds,
        tools_used=sorted(set(output.tools_used)), steps=output.steps, stopped=output.stopped,
        messages=output.messages, tool_calls=output.tool_calls, detail=output.detail)


def _error_result(system: str, task: Task, exc: Exception, seconds: float) -> TaskResult:
    return TaskResult(
        task_id=task.id, family=task.family, system=system, question=task.question, answer=None, correct=False,
        reason="the system raised an error", error=f"{type(exc).__name__}: {exc}", seconds=seconds,
        stopped="error", detail={"traceback": traceback.format_exception(exc)[-5:]})


async def _run_one(system: System, task: Task, clock: Callable[[], float]) -> TaskResult:
    started = clock()
    try:
        output = await system.solve(task)
    except Exception as exc:  # one task's crash is its result, never the run's end
        logger.warning("task %s crashed in %s: %s", task.id, system.name, exc)
        return _error_result(system.name, task, exc, clock() - started)
    seconds = clock() - started
    try:
        return score_output(system.name, task, output, seconds)
    except Exception as exc:  # a scorer failing on odd output is that task's error too
        return _error_result(system.name, task, exc, seconds)


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line left unfinished by a killed run, so new results start on a line of their own."""
    if not path.exists():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    try:
        TaskResult.model_validate_json(data[start:])
    except ValueError:
        path.write_bytes(data[:start])
    else:
        path.write_bytes(data + b"\n")  # complete but for its newline: keep it


async def run_system(
    system: System,
    tasks: Sequence[Task],
    out_dir: Path,
    *,
    concurrency: int = 1,
    show_progress: bool = False,
    console: Console | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[TaskResult]:
    """Run ``system`` on every task not finished in ``out_dir``; all results of these tasks, in task order."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS_FILE
    wanted = {task.id for task in tasks}
    done = {r.task_id: r for r in load_results(path) if r.error is None and r.task_id in wanted}
    _drop_torn_tail(path)
    todo = [task for task in tasks if task.id not in done]
    if done:
        logger.info("%s: %d of %d tasks already done in %s", system.name, len(done), len(tasks), path)
    semaphore = asyncio.Semaphore(concurrency)
    write_lock = asyncio.Lock()
    fresh: dict[str, TaskResult] = {}
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[score]}"), console=console or Console(stderr=True),
                        disable=not show_progress)

    with progress, path.open("a", encoding="utf-8") as sink:
        bar = progress.add_task(system.name, total=len(tasks), completed=len(done), score="")

        async def worker(task: Task) -> None:
            async with semaphore:
                result = await _run_one(system, task, clock)
            async with write_lock:
                sink.write(result.model_dump_json() + "\n")
                sink.flush()
                fresh[task.id] = result
                finished = [*done.values(), *fresh.values()]
                right = sum(r.correct for r in finished)
                progress.update(bar, advance=1, score=f"{right}/{len(finished)} correct")

        async with asyncio.TaskGroup() as group:
            for task in todo:
                group.create_task(worker(task))
    results = {**done, **fresh}
    return [results[task.id] for task in tasks]
