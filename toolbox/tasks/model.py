"""The task model shared by the teacher and the evaluation harness."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from toolbox.errors import ToolboxError

__all__ = ["Score", "ScorerName", "Task", "TaskError"]

ScorerName = Literal["countdown", "exact", "numeric", "reasoning_gym"]


class TaskError(ToolboxError):
    """A task file, family or task that cannot be used (the message says where and what to do)."""


class Task(BaseModel):
    """One question with what its deterministic scorer needs to judge an answer."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    scorer: ScorerName
    answer: str | None = None
    numbers: list[int] | None = None
    target: int | None = None
    family: str = Field(min_length=1)
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _scorer_fields_present(self) -> Task:
        if self.scorer == "countdown" and (not self.numbers or self.target is None):
            raise ValueError("the countdown scorer needs 'numbers' (a non-empty list) and 'target'")
        if self.scorer in ("exact", "numeric") and self.answer is None:
            raise ValueError(f"the {self.scorer} scorer needs 'answer'")
        if self.scorer == "reasoning_gym" and "rg_dataset" not in self.meta:
            raise ValueError("the reasoning_gym scorer needs meta.rg_dataset (the reasoning-gym dataset name)")
        return self


class Score(BaseModel):
    """A scorer's verdict on one answer, with the reason in words."""

    correct: bool
    reason: str
