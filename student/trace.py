"""What a student run leaves behind: every step with all its candidates, messages and costs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from student.actions import Action

__all__ = ["AgentRun", "AgentStep", "CandidateTrace", "Mode", "StopReason"]

Mode = Literal["tools", "json", "code"]
StopReason = Literal["answer", "max_steps", "budget", "error"]


class CandidateTrace(BaseModel):
    """One candidate action of a step, as sampled, validated, executed and voted on."""

    index: int
    raw: str
    action: Action | None = None
    problem: str | None = None
    observation: str | None = None
    ok: bool | None = None
    group: int | None = Field(default=None, description="Vote group index; None when the candidate was dropped.")
    chosen: bool = False


class AgentStep(BaseModel):
    """One step: the candidates, the chosen action (None when no candidate was usable) and its observation."""

    index: int
    candidates: list[CandidateTrace]
    action: Action | None
    observation: str
    ok: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0


class AgentRun(BaseModel):
    """A finished run of the student on one question."""

    question: str
    mode: Mode
    answer: str | None = None
    stopped: StopReason
    error: str | None = None
    steps: list[AgentStep] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    tools_used: list[str] = Field(default_factory=list, description="Box tools called (MCP names), in first-use order.")
    model: str = ""
    prompt_version: str = ""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens of every model call."""
        return self.prompt_tokens + self.completion_tokens
