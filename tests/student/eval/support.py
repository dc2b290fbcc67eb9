"""Helpers of the evaluation-harness tests: small tasks, a fake agent, a question-aware fake model."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from student.trace import AgentRun, AgentStep, CandidateTrace
from toolbox.llm.base import ChatMessage, ChatModel
from toolbox.tasks import Task
from toolbox.testing import FunctionModel


def countdown_task(index: int, numbers: list[int], target: int = 24, answer: str | None = None) -> Task:
    """A game24-style task whose numbers and target are stated in the question."""
    question = f"Use the numbers {numbers} once each with + - * / to make {target}."
    return Task(id=f"g24-{index}", question=question, scorer="countdown", numbers=numbers, target=target,
                family="game24", answer=answer)


def exact_task(index: int, answer: str, family: str = "toy") -> Task:
    """An exact-match task: 'What is N?' with answer N."""
    return Task(id=f"{family}-{index}", question=f"Question {index}: what is {answer}?", scorer="exact",
                answer=answer, family=family)


def mixed_tasks() -> list[Task]:
    """Two families, five tasks: two game24 puzzles, three exact questions."""
    return [countdown_task(0, [4, 6, 1, 1]), countdown_task(1, [3, 3, 8, 8]),
            exact_task(0, "7"), exact_task(1, "11"), exact_task(2, "13")]


def question_answer(question: str) -> str:
    """What a perfect solver answers to the questions of :func:`exact_task` (countdown: a fixed one)."""
    match = re.search(r"what is (\w+)\?", question)
    if match:
        return match.group(1)
    numbers = re.search(r"\[.*?\]", question)
    solutions = {"[4, 6, 1, 1]": "4 * 6 * 1 * 1", "[3, 3, 8, 8]": "8 / (3 - 8 / 3)"}
    return solutions.get(numbers.group(0) if numbers else "", "1 + 1")


def oracle_model(wrong_every: int = 0) -> FunctionModel:
    """A fake model that answers each question in the 'Final answer:' form (every n-th reply wrong)."""
    count = {"n": 0}

    def reply(messages: list[ChatMessage], _kwargs: dict[str, Any]) -> str:
        count["n"] += 1
        question = next(m.content or "" for m in messages if m.role == "user")
        if wrong_every and count["n"] % wrong_every == 0:
            return "I think so.\nFinal answer: 999"
        return f"Let me think.\nFinal answer: {question_answer(question)}"

    return FunctionModel(reply, model="oracle")


@dataclass
class FakeAgent:
    """Stands in for ``StudentAgent``: answers through the model, 'uses' tools from a fixed plan."""

    model: ChatModel
    box: Any
    mode: str
    tools: list[str] = field(default_factory=list)
    calls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    steps: int = 2

    async def run(self, question: str, *, system: str | None = None) -> AgentRun:
        for name, arguments in self.calls.items():  # through the real box connection, when there is one
            observation = await self.box.call_tool(name, arguments)
            assert observation.ok, observation.text
        response = await self.model.chat([ChatMessage.user(question)])
        answer = (response.content or "").rsplit("Final answer:", 1)[-1].strip()
        steps = [AgentStep(index=i, candidates=[CandidateTrace(index=0, raw="x")], action=None,
                           observation="ok", ok=True) for i in range(self.steps)]
        return AgentRun(question=question, mode=self.mode, answer=answer, stopped="answer", steps=steps,
                        messages=[{"role": "user", "content": question}], prompt_tokens=100,
                        completion_tokens=50, tools_used=list(self.tools) if self.box is not None else [])


def fake_agent_factory(tools: list[str] | None = None, made: list[dict[str, Any]] | None = None,
                       calls: Mapping[str, Mapping[str, Any]] | None = None,
                       ) -> Callable[[ChatModel, Any, Any], FakeAgent]:
    """An ``AgentFactory`` of :class:`FakeAgent`; each creation is recorded in ``made``."""
    def make(model: ChatModel, box: Any, mode: Any) -> FakeAgent:
        if made is not None:
            made.append({"box": box, "mode": mode})
        return FakeAgent(model, box, mode, tools=list(tools or []), calls=dict(calls or {}) if box else {})

    return make
