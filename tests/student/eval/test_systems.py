"""The compared systems: the agent with and without the box, CoT, self-consistency, verified best-of-k."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from student.eval.results import EvalError, TaskResult
from student.eval.systems import (
    AgentSystem,
    BestOfKSystem,
    CotSystem,
    SelfConsistencySystem,
    matched_compute,
    student_agent_factory,
)
from student.eval.voting import verifier_for
from tests.student.eval.support import countdown_task, exact_task, fake_agent_factory, oracle_model, question_answer
from toolbox.llm.base import ChatMessage
from toolbox.settings import Settings
from toolbox.tasks import Task
from toolbox.testing import FunctionModel, ScriptedModel


class PoisonedTask(Task):
    """A task whose hidden answer must never be read by a solver or verifier."""

    def __getattribute__(self, name: str) -> Any:
        if name == "answer":
            raise AssertionError("the hidden answer was read")
        return super().__getattribute__(name)


def box_result(samples: int, tokens: int) -> TaskResult:
    return TaskResult(task_id=f"t{samples}-{tokens}", family="toy", system="box", question="q", answer=None,
                      correct=False, reason="", prompt_tokens=tokens // 2, completion_tokens=tokens - tokens // 2,
                      samples=samples)


def test_matched_compute_gives_at_least_the_box_samples_and_tokens() -> None:
    budget = matched_compute([box_result(3, 1000), box_result(4, 2001)])
    assert budget.k == 4                         # ceil(mean samples 3.5)
    assert budget.box_tokens_per_task == 1500.5
    assert budget.max_tokens_per_sample == 376   # ceil(1500.5 / 4)
    assert budget.tokens_per_task >= budget.box_tokens_per_task
    assert budget.box_system == "box"


def test_matched_compute_never_goes_below_the_box_even_when_k_is_asked_lower() -> None:
    assert matched_compute([box_result(6, 600)], k=2).k == 6
    assert matched_compute([box_result(2, 600)], k=9).k == 9
    assert matched_compute([box_result(1, 10)], min_tokens_per_sample=64).max_tokens_per_sample == 64
    with pytest.raises(EvalError, match="no box results"):
        matched_compute([])


def test_cot_asks_once_and_extracts_the_final_answer() -> None:
    model = ScriptedModel(["Let me see. 6 + 1 = 7.\nFinal answer: 7"])
    output = asyncio.run(CotSystem(model, max_tokens=200).solve(exact_task(0, "7")))
    assert output.answer == "7" and output.samples == 1
    assert model.last_request.max_tokens == 200
    assert output.messages[1] == {"role": "user", "content": "Question 0: what is 7?"}


def test_self_consistency_takes_k_samples_and_votes() -> None:
    replies = iter(["Final answer: 11", "Final answer: 12", "Final answer: 11.0"])
    model = FunctionModel(lambda _m, _k: next(replies))
    output = asyncio.run(SelfConsistencySystem(model, k=3, max_tokens=50).solve(exact_task(1, "11")))
    assert output.answer == "11" and output.detail["votes"] == 2
    assert output.samples == 3 and len(model.requests) == 3
    assert {r.max_tokens for r in model.requests} == {50}
    assert {r.temperature for r in model.requests} == {0.7}


def test_best_of_k_picks_the_answer_the_question_data_verifies_over_the_majority() -> None:
    task = countdown_task(0, [4, 6, 1, 1])
    replies = iter(["Final answer: 4 + 6 + 1 + 1", "Final answer: 4 + 6 + 1 + 1", "Final answer: 4 * 6 * 1 * 1"])
    model = FunctionModel(lambda _m, _k: next(replies))
    output = asyncio.run(BestOfKSystem(model, k=3, max_tokens=50).solve(task))
    assert output.answer == "4 * 6 * 1 * 1"
    assert output.detail["verified"] == 1 and output.detail["verifier"] == "countdown-rules"


def test_best_of_k_verifier_never_reads_the_hidden_answer() -> None:
    poisoned = PoisonedTask(id="p", question="Use [4, 6, 1, 1] to make 24.", scorer="countdown",
                            numbers=[4, 6, 1, 1], target=24, family="game24", answer="4 + 6 + 1 + 1")
    with pytest.raises(AssertionError, match="hidden answer was read"):
        _ = poisoned.answer
    verify = verifier_for(poisoned)
    assert verify is not None
    assert verify("4 * 6 * 1 * 1") is True
    assert verify("4 + 6 + 1 + 1") is False   # the poisoned 'answer' would have said yes
    replies = iter(["Final answer: 4 + 6 + 1 + 1", "Final answer: (4 * 6) * (1 * 1)"])
    output = asyncio.run(BestOfKSystem(FunctionModel(lambda _m, _k: next(replies)), k=2, max_tokens=9)
                         .solve(poisoned))
    assert output.answer == "(4 * 6) * (1 * 1)"


def test_best_of_k_falls_back_to_the_majority_without_a_verifier() -> None:
    task = exact_task(2, "13")
    assert verifier_for(task) is None
    replies = iter(["Final answer: 12", "Final answer: 13", "Final answer: 12"])
    output = asyncio.run(BestOfKSystem(FunctionModel(lambda _m, _k: next(replies)), k=3, max_tokens=9).solve(task))
    assert output.answer == "12" and output.detail["verifier"] is None


def test_the_agent_system_reports_the_run_with_its_samples_and_tools() -> None:
    made: list[dict[str, Any]] = []
    box = object()
    system = AgentSystem("box", oracle_model(), fake_agent_factory(["box.solve24"], made), "code", box)
    output = asyncio.run(system.solve(exact_task(0, "7")))
    assert output.answer == "7" and output.tools_used == ["box.solve24"]
    assert (output.prompt_tokens, output.completion_tokens, output.samples, output.steps) == (100, 50, 2, 2)
    assert [c["step"] for c in output.tool_calls] == [0, 1]
    assert made == [{"box": box, "mode": "code"}]


def test_the_cot_prompt_reaches_the_model_as_the_system_message() -> None:
    model = ScriptedModel(["Final answer: 1"])
    asyncio.run(CotSystem(model, max_tokens=10).solve(exact_task(0, "1")))
    first: ChatMessage = model.last_request.messages[0]
    assert first.role == "system" and "Final answer:" in (first.content or "")


def test_the_real_student_agent_runs_under_the_harness(tmp_path: Path) -> None:
    from student.eval.runner import run_system

    def reply(messages: list[ChatMessage], _kwargs: dict[str, Any]) -> str:
        question = next(m.content or "" for m in messages if m.role == "user")
        return json.dumps({"answer": question_answer(question)})

    system = AgentSystem("json-no-box", FunctionModel(reply), student_agent_factory(Settings(), sag=3), "json")
    tasks = [exact_task(0, "7"), exact_task(1, "11")]
    results = asyncio.run(run_system(system, tasks, tmp_path))
    assert [r.correct for r in results] == [True, True], [(r.answer, r.error, r.detail) for r in results]
    assert all(r.samples == 3 and r.steps == 1 and r.stopped == "answer" for r in results)
