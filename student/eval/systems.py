"""The systems an evaluation compares: the student with the box and the baselines without it.

- ``box``: the student agent with the box's tools.
- ``code-no-box``: the same agent in ``code`` mode with no box; it may write its own solver.
- ``cot``: one chain-of-thought answer.
- ``self-consistency``: k chain-of-thought samples, majority vote over normalised answers.
- ``best-of-k-verified``: k samples checked by a verifier that reads only the question's data
  (countdown-style tasks), falling back to the majority.
The sampling baselines get matched compute: see :func:`matched_compute`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from student.eval.results import EvalError, SystemOutput, TaskResult
from student.eval.voting import majority, verifier_for
from student.trace import AgentRun
from toolbox.llm.base import ChatMessage, ChatModel
from toolbox.settings import Settings
from toolbox.tasks import Task, extract_final_answer

__all__ = [
    "SYSTEM_NAMES",
    "AgentFactory",
    "AgentSystem",
    "BestOfKSystem",
    "ComputeBudget",
    "CotSystem",
    "Mode",
    "SelfConsistencySystem",
    "matched_compute",
    "student_agent_factory",
]

SYSTEM_NAMES = ("box", "code-no-box", "cot", "self-consistency", "best-of-k-verified")
Mode = Literal["tools", "json", "code"]

COT_PROMPT = (
    "Solve the problem. Think step by step, briefly. End with one line of the form\n"
    "Final answer: <answer>\n"
    "For a puzzle that asks for an expression, the answer is the expression alone."
)


class AgentLike(Protocol):
    """The student agent as the harness drives it (``student.agent.StudentAgent``)."""

    async def run(self, question: str, *, system: str | None = None) -> AgentRun:
        """Answer one question."""
        ...


AgentFactory = Callable[[ChatModel, Any, Mode], AgentLike]
"""(model, box connection or None, mode) -> a fresh agent for one task."""


def student_agent_factory(settings: Settings, *, sag: int = 1) -> AgentFactory:
    """Build ``student.agent.StudentAgent`` with the student settings (``sag`` candidates per step)."""
    from student.agent import StudentAgent

    student = settings.student.model_copy(update={"sag_n": sag})

    def make(model: ChatModel, box: Any, mode: Mode) -> AgentLike:
        return StudentAgent(model, box, mode=mode, settings=student, sandbox_settings=settings.sandbox)

    return make


OBSERVATION_CHARS = 500  # how much of each observation results.jsonl keeps beside the full messages


def _tool_calls(run: AgentRun) -> list[dict[str, Any]]:
    """The actions the agent took, one per step, with a short observation."""
    return [{"step": step.index, "action": step.action.model_dump(mode="json") if step.action else None,
             "ok": step.ok, "observation": step.observation[:OBSERVATION_CHARS], "candidates": len(step.candidates)}
            for step in run.steps]


@dataclass
class AgentSystem:
    """The student agent, with the box (``box``) or without it (``code-no-box``)."""

    name: str
    model: ChatModel
    make_agent: AgentFactory
    mode: Mode
    box: Any = None

    async def solve(self, task: Task) -> SystemOutput:
        """Run a fresh agent on the question; its trace becomes the output."""
        run = await self.make_agent(self.model, self.box, self.mode).run(task.question)
        samples = sum(max(1, len(step.candidates)) for step in run.steps)
        return SystemOutput(
            answer=run.answer, prompt_tokens=run.prompt_tokens, completion_tokens=run.completion_tokens,
            samples=max(1, samples), tools_used=list(run.tools_used), messages=list(run.messages),
            tool_calls=_tool_calls(run), steps=len(run.steps), stopped=run.stopped,
            detail={"error": run.error} if run.error else {})


@dataclass
class _Sample:
    text: str
    answer: str | None
    prompt_tokens: int
    completion_tokens: int


async def _sample(model: ChatModel, task: Task, *, max_tokens: int, temperature: float,
                  top_p: float | None) -> _Sample:
    messages = [ChatMessage.system(COT_PROMPT), ChatMessage.user(task.question)]
    response = await model.chat(messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p)
    text = response.content or ""
    return _Sample(text, extract_final_answer(text), response.usage.prompt_tokens, response.usage.completion_tokens)


def _sampled_output(task: Task, samples: Sequence[_Sample], answer: str | None,
                    detail: dict[str, Any]) -> SystemOutput:
    messages = [{"role": "system", "content": COT_PROMPT}, {"role": "user", "content": task.question}]
    messages += [{"role": "assistant", "content": s.text} for s in samples]
    return SystemOutput(
        answer=answer, prompt_tokens=sum(s.prompt_tokens for s in samples),
        completion_tokens=sum(s.completion_tokens for s in samples), samples=len(samples), messages=messages,
        steps=len(samples), stopped="answer" if answer is not None else "no_answer",
        detail={"answers": [s.answer for s in samples], **detail})


@dataclass
class CotSystem:
    """No box: one chain-of-thought completion at the student's temperature."""

    model: ChatModel
    max_tokens: int
    temperature: float = 0.0
    name: str = "cot"

    async def solve(self, task: Task) -> SystemOutput:
        """One sample; its final answer line is the answer."""
        sample = await _sample(self.model, task, max_tokens=self.max_tokens, temperature=self.temperature,
                               top_p=None)
        return _sampled_output(task, [sample], sample.answer, {})


@dataclass
class SelfConsistencySystem:
    """No box: k chain-of-thought samples, majority vote over the normalised answers."""

    model: ChatModel
    k: int
    max_tokens: int
    temperature: float = 0.7
    top_p: float = 0.95
    name: str = "self-consistency"

    async def _samples(self, task: Task) -> list[_Sample]:
        return [await _sample(self.model, task, max_tokens=self.max_tokens, temperature=self.temperature,
                              top_p=self.top_p) for _ in range(self.k)]

    async def solve(self, task: Task) -> SystemOutput:
        """k samples (one after another), then the vote."""
        samples = await self._samples(task)
        answer, votes = majority([s.answer for s in samples])
        return _sampled_output(task, samples, answer, {"votes": votes})


@dataclass
class BestOfKSystem(SelfConsistencySystem):
    """k samples; the majority among the answers a question-only verifier accepts, else among all."""

    name: str = "best-of-k-verified"

    async def solve(self, task: Task) -> SystemOutput:
        """k samples; verified answers (majority among them) beat unverified ones."""
        samples = await self._samples(task)
        answers = [s.answer for s in samples]
        verify = verifier_for(task)
        if verify is None:
            answer, votes = majority(answers)
            return _sampled_output(task, samples, answer, {"verifier": None, "votes": votes})
        accepted = [a for a in answers if a is not None and verify(a)]
        answer, votes = majority(accepted) if accepted else majority(answers)
        return _sampled_output(task, samples, answer, {"verifier": "countdown-rules", "verified": len(accepted),
                                                 "votes": votes})


class ComputeBudget(BaseModel):
    """The baselines' compute, matched to the box run it was computed from (recorded in settings)."""

    k: int
    tokens_per_task: int
    max_tokens_per_sample: int
    box_tokens_per_task: float
    box_samples_per_task: float
    box_system: str


def matched_compute(box_results: Sequence[TaskResult], *, min_k: int = 1, min_tokens_per_sample: int = 64,
                    k: int | None = None) -> ComputeBudget:
    """k >= the box's mean samples per task; k samples together may spend >= its mean tokens per task.

    Error results count with what they recorded; an empty box run cannot set a budget.
    """
    if not box_results:
        raise EvalError("no box results to match compute to; run the box system first")
    n = len(box_results)
    mean_tokens = sum(r.tokens for r in box_results) / n
    mean_samples = sum(r.samples for r in box_results) / n
    chosen_k = max(k or 0, min_k, math.ceil(mean_samples))
    per_sample = max(min_tokens_per_sample, math.ceil(mean_tokens / chosen_k))
    return ComputeBudget(k=chosen_k, tokens_per_task=per_sample * chosen_k, max_tokens_per_sample=per_sample,
                         box_tokens_per_task=round(mean_tokens, 2), box_samples_per_task=round(mean_samples, 3),
                         box_system=box_results[0].system)
