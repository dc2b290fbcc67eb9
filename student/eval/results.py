"""Per-task records of an evaluation run and the ``results.jsonl`` file that holds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolbox.errors import ToolboxError
from toolbox.tasks import Task

__all__ = ["RESULTS_FILE", "EvalError", "System", "SystemOutput", "TaskResult", "load_results"]

RESULTS_FILE = "results.jsonl"


class EvalError(ToolboxError):
    """An evaluation cannot run as asked (bad settings, unreadable results, no box)."""


class SystemOutput(BaseModel):
    """What a system produced for one task, before scoring."""

    model_config = ConfigDict(extra="forbid")

    answer: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    samples: int = Field(default=1, description="Model completions drawn (agent steps x SAG candidates, or k).")
    tools_used: list[str] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    steps: int = 0
    stopped: str = "answer"
    detail: dict[str, Any] = Field(default_factory=dict, description="System-specific extras (votes, verifier).")


class TaskResult(BaseModel):
    """One line of ``results.jsonl``: the task, what the system answered, its score and its cost."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    family: str
    system: str
    question: str
    answer: str | None
    correct: bool
    reason: str
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    samples: int = 0
    seconds: float = 0.0
    tools_used: list[str] = Field(default_factory=list)
    steps: int = 0
    stopped: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens spent on this task."""
        return self.prompt_tokens + self.completion_tokens


class System(Protocol):
    """Something that answers tasks: the student with the box, or a baseline."""

    name: str

    async def solve(self, task: Task) -> SystemOutput:
        """Answer one task; may raise (the runner records the error as the task's result)."""
        ...


def load_results(path: Path) -> list[TaskResult]:
    """The results in ``path`` (missing file: none); a rerun's line for a task replaces an earlier one."""
    if not path.exists():
        return []
    by_id: dict[str, TaskResult] = {}
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            result = TaskResult.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            if number == len(lines):
                continue  # a run killed mid-write leaves a torn last line; that task simply runs again
            raise EvalError(f"{path}:{number}: not a result record ({exc}); delete the line or the file") from exc
        by_id.pop(result.task_id, None)
        by_id[result.task_id] = result
    return list(by_id.values())
