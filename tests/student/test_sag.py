"""Self-consistent action generation against the real box: voting, the call cache, final answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from student.actions import Candidate, FinalAnswer, ToolAction
from student.connection import BoxConnection, Observation
from student.sag import normalise_answer, vote
from tests.student.conftest import ADD, SAFE_DIV, MakeAgent
from toolbox.testing import ScriptedModel

pytestmark = pytest.mark.anyio


def action(tool: str, **arguments: Any) -> str:
    """A json-mode reply calling ``tool``."""
    return json.dumps({"tool": tool, "arguments": arguments})


def final(answer: str) -> str:
    """A json-mode final answer."""
    return action("final_answer", answer=answer)


async def test_the_largest_group_wins_and_each_call_runs_once(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([
        action(ADD, numbers=[10]), action(ADD, numbers=[1, 2]), action(ADD, numbers=[1, 2]),   # step 1
        final("7"), final("8"), final(" 8. "),                                                  # step 2
    ])
    agent = make_agent(model, "json", sag_n=3, sag_temperature=0.4, sag_top_p=0.8)
    run = await agent.run("Add one and two.")
    first, second = run.steps
    assert first.action == ToolAction(tool=ADD, arguments={"numbers": [1, 2]})
    assert [c.chosen for c in first.candidates] == [False, True, False]
    assert [c.group for c in first.candidates] == [0, 1, 1]
    assert first.observation == "3.0"
    assert box.calls[ADD] == 2, "the repeated call is served from the cache and the winner is not re-run"
    assert second.action == FinalAnswer(answer="8") and run.answer == "8"
    assert [c.group for c in second.candidates] == [0, 1, 1]
    assert [(r.n, r.temperature, r.top_p) for r in model.requests] == [(3, 0.4, 0.8)] * 2
    assert [m["role"] for m in run.messages] == ["system", "user", "assistant", "user", "assistant"]


async def test_different_calls_with_the_same_observation_agree(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([action(ADD, numbers=[5]), action(ADD, numbers=[1, 2]), action(ADD, numbers=[2, 1]),
                           final("3"), final("3"), final("3")])
    run = await make_agent(model, "json", sag_n=3).run("Add one and two.")
    assert run.steps[0].action == ToolAction(tool=ADD, arguments={"numbers": [1, 2]})
    assert box.calls[ADD] == 3
    assert run.answer == "3"


async def test_invalid_candidates_are_dropped_but_kept_in_the_trace(make_agent: MakeAgent,
                                                                    box: BoxConnection) -> None:
    model = ScriptedModel(["not json", action("examples.nope"), action(ADD, numbers="x"),
                           action(ADD, numbers=[4])] + [final("4")] * 4)
    run = await make_agent(model, "json", sag_n=4).run("Four?")
    step = run.steps[0]
    assert step.action == ToolAction(tool=ADD, arguments={"numbers": [4]}) and step.observation == "4.0"
    problems = [c.problem for c in step.candidates]
    assert problems[0] is not None and "JSON" in problems[0]
    assert problems[1] is not None and problems[1].startswith("Unknown tool")
    assert problems[2] is not None and problems[2].startswith("Invalid arguments")
    assert problems[3] is None and box.calls[ADD] == 1


async def test_failed_calls_lose_to_a_smaller_successful_group(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([action(SAFE_DIV, a=1, b=0), action(SAFE_DIV, a=1, b=0), action(SAFE_DIV, a=1, b=2),
                           final("0.5"), final("0.5"), final("0.5")])
    run = await make_agent(model, "json", sag_n=3).run("Half?")
    assert run.steps[0].observation == "0.5" and box.calls[SAFE_DIV] == 2


async def test_when_nothing_is_usable_the_first_problem_goes_back(make_agent: MakeAgent) -> None:
    model = ScriptedModel(["nope", "still nope", final("1"), final("1")])
    run = await make_agent(model, "json", sag_n=2).run("One?")
    assert run.steps[0].action is None and not run.steps[0].ok
    assert "Reply with one JSON object" in run.steps[0].observation and run.answer == "1"


async def test_ties_go_to_the_first_candidate() -> None:
    executed: list[ToolAction] = []

    async def execute(action: Any) -> Observation:
        executed.append(action)
        return Observation(ok=True, text=str(action.arguments["x"]))

    candidates = [Candidate(index=i, raw="", action=ToolAction(tool="t", arguments={"x": x}))
                  for i, x in enumerate([2, 1, 1, 2])]
    outcome = await vote(candidates, lambda action: None, execute)
    assert outcome.chosen is candidates[0] and outcome.executions == 2 and len(executed) == 2


def test_answers_are_compared_loosely() -> None:
    assert normalise_answer(" (4 * 6) * 1.") == normalise_answer("(4*6)*1")
    assert normalise_answer('"Paris"') == normalise_answer("paris")
    assert normalise_answer("3") != normalise_answer("4")
