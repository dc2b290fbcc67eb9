"""What one teacher solve produced: its steps, the whole conversation, the answer and its cost."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.schemas import TrajectoryRecord
from toolbox.tasks import Task

__all__ = ["FtpMode", "TeacherStep", "TeacherTrajectory", "TrajectoryStatus", "trajectory_id"]

TrajectoryStatus = Literal["solved", "failed", "error"]
FtpMode = Literal["prefill", "prompt"]
_MAX_TEXT = 65536  # the registry's limit on stored answer and error text


def trajectory_id(run_id: str, task_id: str) -> str:
    """A stable id for the trajectory of ``task_id`` in run ``run_id`` (a rerun records the same id)."""
    return "traj-" + hashlib.sha256(f"{run_id}\0{task_id}".encode()).hexdigest()[:24]


def _capped(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    return text[: _MAX_TEXT - 20] + " ...[truncated]"


class TeacherStep(BaseModel):
    """One CodeAct step: the model's thought, the code it ran and what the session answered."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    thought: str
    code: str | None = Field(description="The first ```python block of the reply; None when there was none.")
    observation: str = Field(description="What the model was told after this step.")
    ok: bool = Field(description="The code parsed and ran without raising or timing out.")
    final_answer: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: list[dict[str, Any]] = Field(default_factory=list, description="Box functions the cell called.")


class TeacherTrajectory(BaseModel):
    """A whole solve of one task by the teacher; ``to_record`` gives the registry's stored shape."""

    model_config = ConfigDict(extra="forbid")

    id: str
    run_id: str
    task: Task
    steps: list[TeacherStep] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list, description="OpenAI-style conversation.")
    final_answer: str | None = None
    correct: bool | None = Field(default=None, description="None when the task cannot be scored.")
    status: TrajectoryStatus
    error: str | None = Field(default=None, description="Why the solve failed or errored, in words.")
    prompt_version: str
    teacher_model: str
    ftp: FtpMode | None = Field(default=None, description="How the first thought was injected, if at all.")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def successful_code(self) -> list[str]:
        """The code of every step that ran cleanly, in order (what extraction mines for tools)."""
        return [step.code for step in self.steps if step.ok and step.code is not None]

    def to_record(self) -> TrajectoryRecord:
        """This trajectory as the registry stores it (``services.trajectories.record(...)``)."""
        return TrajectoryRecord.model_validate({
            "id": self.id,
            "run_id": self.run_id,
            "task_id": self.task.id,
            "family": self.task.family,
            "question": self.task.question,
            "teacher_model": self.teacher_model,
            "prompt_version": self.prompt_version,
            "ftp": self.ftp,
            "steps": [step.model_dump(mode="json") for step in self.steps],
            "messages": [dict(message) for message in self.messages],
            "final_answer": _capped(self.final_answer),
            "correct": self.correct,
            "status": self.status,
            "error": _capped(self.error),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": self.seconds,
        })
