"""One ``distillery eval`` invocation: resolve the tasks, run the systems, write the reports.

Without ``baselines`` the one system writes into ``config.out``; with them each system gets
``config.out/<system>/`` and ``config.out`` gets the comparison table. The sampling baselines'
k and token budget come from the primary (box) run of the same invocation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from student.eval.box import BoxInfo
from student.eval.config import EvalConfig
from student.eval.report import summarise, write_comparison, write_summary
from student.eval.results import EvalError, System, TaskResult
from student.eval.runner import run_system
from student.eval.systems import (
    AgentFactory,
    AgentSystem,
    BestOfKSystem,
    ComputeBudget,
    CotSystem,
    Mode,
    SelfConsistencySystem,
    matched_compute,
)
from student.probe import resolve_mode
from toolbox.llm.base import ChatModel
from toolbox.settings import Settings
from toolbox.tasks import Task, families, load_tasks, make_tasks

__all__ = ["DEFAULT_FAMILY_TASKS", "EvalOutcome", "check_config", "evaluate", "resolve_tasks"]

DEFAULT_FAMILY_TASKS = 100  # game24's customary test split (ranks 901-1000) has 100 puzzles


@dataclass
class EvalOutcome:
    """What an evaluation wrote: a summary per system, the matched budget, the comparison table."""

    summaries: dict[str, dict[str, Any]]
    budget: ComputeBudget | None = None
    comparison: Path | None = None
    out_dirs: dict[str, Path] = field(default_factory=dict)


def check_config(config: EvalConfig) -> None:
    """Refuse settings that make a run meaningless or dishonest, saying what to pass instead."""
    if config.no_box and (config.box or config.server):
        raise EvalError("--no-box cannot be combined with --server or --box; drop one")
    if not config.no_box and not (config.box or config.server):
        raise EvalError("say which box to evaluate: --server URL (a running Distillery), --box NAMESPACE "
                        "(started here), or --no-box")
    if not config.no_box and config.split == "train" and not config.allow_train:
        raise EvalError("the box is distilled from the train split, so a box run on --split train measures "
                        "memorisation; use --split test (or pass --allow-train to do it anyway)")


def resolve_tasks(config: EvalConfig) -> list[Task]:
    """The tasks of ``config.tasks``: a JSONL file, or ``n`` tasks of a family's split (``--limit`` or 100)."""
    path = Path(config.tasks)
    if path.is_file():
        tasks = load_tasks(path)
    elif config.tasks in families():
        tasks = make_tasks(config.tasks, config.split, config.limit or DEFAULT_FAMILY_TASKS, seed=config.seed)
    else:
        raise EvalError(f"{config.tasks!r} is neither a tasks file nor a family; families: {', '.join(families())}")
    if not tasks:
        raise EvalError(f"{config.tasks}: no tasks to evaluate")
    return tasks[: config.limit] if config.limit else tasks


def _task_record(config: EvalConfig, tasks: Sequence[Task]) -> dict[str, Any]:
    return {"source": config.tasks, "split": config.split, "n": len(tasks),
            "families": sorted({task.family for task in tasks})}


RUN_FILE = "run.json"
# what must not change between a run and its resumption (concurrency, limit and the like may)
_IDENTITY = {"eval": ("tasks", "split", "seed", "mode", "sag", "box", "no_box", "builtin"),
             "model": ("name", "base_url")}


def _identity(system: str, record: dict[str, Any]) -> dict[str, Any]:
    identity: dict[str, Any] = {"system": system}
    for group, keys in _IDENTITY.items():
        identity.update({f"{group}.{key}": (record.get(group) or {}).get(key) for key in keys})
    return identity


def _check_resumable(out_dir: Path, system: str, record: dict[str, Any]) -> None:
    """Refuse to resume into a folder whose results came from other settings; note these settings there."""
    identity = _identity(system, record)
    path = out_dir / RUN_FILE
    if path.exists():
        before = json.loads(path.read_text())
        changed = {key: (before.get(key), value) for key, value in identity.items() if before.get(key) != value}
        if changed:
            raise EvalError(f"{out_dir} holds results of other settings ({changed}); pass another --out "
                            "or delete the folder to start again")
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(identity, indent=2) + "\n")


@dataclass
class _Run:
    """Shared state of one invocation's system runs."""

    config: EvalConfig
    settings: Settings
    tasks: list[Task]
    base_record: dict[str, Any]
    box_tools: list[str] | None
    show_progress: bool
    console: Console | None
    outcome: EvalOutcome

    def out_dir(self, name: str) -> Path:
        return self.config.out / name if self.config.baselines else self.config.out

    async def run(self, system: System, extra: dict[str, Any] | None = None) -> list[TaskResult]:
        out_dir = self.out_dir(system.name)
        _check_resumable(out_dir, system.name, self.base_record)
        results = await run_system(system, self.tasks, out_dir, concurrency=self.config.concurrency,
                                   show_progress=self.show_progress, console=self.console)
        record = {**self.base_record, "system": system.name, **(extra or {})}
        summary = summarise(results, record, self.box_tools)
        write_summary(out_dir, summary)
        self.outcome.summaries[system.name] = summary
        self.outcome.out_dirs[system.name] = out_dir
        return results


async def evaluate(
    config: EvalConfig,
    settings: Settings,
    *,
    model: ChatModel,
    model_record: dict[str, Any],
    box: BoxInfo | None,
    agent_factory: AgentFactory,
    show_progress: bool = False,
    console: Console | None = None,
) -> EvalOutcome:
    """Run the primary system (the box, or the agent without one) and, when asked, every baseline."""
    check_config(config)
    tasks = resolve_tasks(config)
    if config.mode == "auto":
        config = config.model_copy(update={"mode": await resolve_mode("auto", model), "mode_probed": True})
    mode: Mode = "code" if config.mode == "auto" else config.mode  # resolved just above
    if (box is None) != config.no_box:
        raise EvalError("a box run needs a connected box and a --no-box run none (this is a harness bug)")
    student = settings.student.model_dump(mode="json")
    base_record = {"eval": config.recorded(), "model": model_record, "box": box.recorded() if box else None,
                   "student": {**student, "sag_n": config.sag}, "tasks": _task_record(config, tasks)}
    run = _Run(config, settings, tasks, base_record, box.tools if box else None, show_progress, console,
               EvalOutcome(summaries={}))
    if box is not None:
        primary = AgentSystem("box", model, agent_factory, mode, box.connection)
    else:
        name = "code-no-box" if mode == "code" else f"{mode}-no-box"
        primary = AgentSystem(name, model, agent_factory, mode)
    primary_results = await run.run(primary)
    if not config.baselines:
        return run.outcome

    if primary.name != "code-no-box":
        await run.run(AgentSystem("code-no-box", model, agent_factory, "code"))
    await run.run(CotSystem(model, max_tokens=settings.student.max_tokens, temperature=settings.student.temperature))
    finished = [r for r in primary_results if r.error is None]  # a crashed task spent nothing worth matching
    budget = matched_compute(finished or primary_results, k=config.k)
    matched = {"matched_compute": budget.model_dump()}
    common: dict[str, Any] = {"k": budget.k, "max_tokens": budget.max_tokens_per_sample,
                              "temperature": settings.student.sag_temperature, "top_p": settings.student.sag_top_p}
    await run.run(SelfConsistencySystem(model, **common), matched)
    await run.run(BestOfKSystem(model, **common), matched)
    run.outcome.budget = budget
    run.outcome.comparison = write_comparison(config.out, run.outcome.summaries, matched)
    return run.outcome
