"""The student loop in every mode with scripted models against a real ``distillery serve``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from student.actions import CodeAction, FinalAnswer, ToolAction
from student.agent import CODE_STOP, REPEATED_CALL, REPEATED_CELL
from student.connection import BoxConnection
from student.prompts import observation_message
from tests.student.conftest import ADD, SAFE_DIV, SOLVE24, MakeAgent
from toolbox.llm.base import ChatMessage, ChatResponse, Choice, Usage
from toolbox.testing import FunctionModel, ScriptedModel, tool_call_reply

pytestmark = pytest.mark.anyio


def action(tool: str, **arguments: Any) -> str:
    """A json-mode reply calling ``tool``."""
    return json.dumps({"tool": tool, "arguments": arguments})


def final(answer: str) -> str:
    """A json-mode final answer."""
    return action("final_answer", answer=answer)


async def test_tools_mode_calls_a_box_tool_then_answers(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([tool_call_reply("examples_add_numbers", {"numbers": [1.5, 2.5]}),
                           "The sum is 4.\nFinal answer: 4"])
    run = await make_agent(model, "tools").run("What is 1.5 + 2.5?")
    assert (run.stopped, run.answer) == ("answer", "4")
    assert run.steps[0].action == ToolAction(tool=ADD, arguments={"numbers": [1.5, 2.5]})
    assert run.steps[0].ok and run.steps[0].observation == "4.0"
    assert run.tools_used == [ADD] and box.calls[ADD] == 1
    first, second = model.requests
    assert "examples_add_numbers" in first.tool_names and "examples_solve24" in first.tool_names
    tool_message = second.messages[-1]
    assert tool_message.role == "tool" and tool_message.content == "4.0"
    assert second.messages[-2].tool_calls[0].name == "examples_add_numbers"
    assert run.prompt_tokens > 0 and run.completion_tokens > 0


async def test_json_mode_is_constrained_by_the_action_schema(make_agent: MakeAgent) -> None:
    model = ScriptedModel([action(SOLVE24, a=4, b=6, c=1, d=1), final("4 * 6 * 1 * 1")])
    run = await make_agent(model, "json").run("Make 24 from 4 6 1 1.")
    assert (run.stopped, run.answer) == ("answer", "4 * 6 * 1 * 1")
    expression = run.steps[0].observation
    assert run.steps[0].ok and all(digit in expression for digit in "461")
    response_format = model.requests[0].response_format
    assert response_format is not None and response_format["type"] == "json_object"
    branches = response_format["schema"]["anyOf"]
    tools = [branch["properties"]["tool"]["const"] for branch in branches]
    assert SOLVE24 in tools and tools[-1] == "final_answer"
    solve = branches[tools.index(SOLVE24)]["properties"]["arguments"]
    assert solve["required"] == ["a", "b", "c", "d"]
    assert model.requests[1].messages[-1].content == observation_message(expression)
    assert run.tools_used == [SOLVE24]


async def test_a_repeated_call_leaves_only_the_final_answer_to_give(make_agent: MakeAgent,
                                                                    box: BoxConnection) -> None:
    call = action(SOLVE24, a=4, b=6, c=1, d=1)
    model = ScriptedModel([call, call, final("4 * 6 * 1 * 1")])
    run = await make_agent(model, "json").run("Make 24 from 4 6 1 1.")
    assert (run.stopped, run.answer) == ("answer", "4 * 6 * 1 * 1")
    assert box.calls[SOLVE24] == 2
    assert REPEATED_CALL not in run.steps[0].observation and REPEATED_CALL in run.steps[1].observation
    schemas = [request.response_format["schema"]["anyOf"] for request in model.requests
               if request.response_format is not None]
    assert len(schemas[1]) > 1
    assert [branch["properties"]["tool"]["const"] for branch in schemas[2]] == ["final_answer"]


async def test_code_mode_calls_box_tools_through_the_session(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([
        "I will use the solver.\n```python\nexpr = examples_solve24(4, 6, 1, 1)\nprint(expr)\n```",
        "```python\ntotal = examples_add_numbers(numbers=[1, 2])\nfinal_answer(expr)\n```",
    ])
    run = await make_agent(model, "code").run("Make 24 from 4 6 1 1.")
    assert run.stopped == "answer" and run.answer is not None
    assert run.answer in run.steps[0].observation
    assert isinstance(run.steps[0].action, CodeAction)
    assert run.tools_used == [SOLVE24, ADD]
    assert box.calls[SOLVE24] == 1 and box.calls[ADD] == 1
    prompt = model.requests[0].messages[0].content or ""
    assert "examples_solve24(a: integer" in prompt and "final_answer" in prompt


async def test_code_mode_stops_before_an_invented_observation_and_notes_a_repeated_cell(
        make_agent: MakeAgent) -> None:
    cell = "```python\nprint(datetime.date(2022, 5, 26).strftime('%A'))\n```"
    model = ScriptedModel([cell, cell, "The final answer is Thursday."])
    run = await make_agent(model, "code").run("Name the day of the week for 05/26/2022.")
    assert all(request.stop == CODE_STOP for request in model.requests)
    assert "Thursday" in run.steps[0].observation  # datetime comes with the session's prelude
    assert REPEATED_CELL not in run.steps[0].observation and REPEATED_CELL in run.steps[1].observation
    assert (run.stopped, run.answer) == ("answer", "Thursday")


async def test_code_mode_tool_error_is_an_exception_in_the_cell(make_agent: MakeAgent) -> None:
    model = ScriptedModel([
        "```python\ntry:\n    examples_safe_div(1, 0)\nexcept RuntimeError as error:\n    print('caught', error)\n```",
        "Final answer: undefined",
    ])
    run = await make_agent(model, "code").run("What is 1 / 0?")
    assert "caught" in run.steps[0].observation and "b must not be zero" in run.steps[0].observation
    assert (run.stopped, run.answer) == ("answer", "undefined")


@pytest.mark.parametrize("mode", ["tools", "json"])
async def test_unknown_tool_goes_back_to_the_model(make_agent: MakeAgent, box: BoxConnection, mode: str) -> None:
    bad = tool_call_reply("examples_nope", {}) if mode == "tools" else action("examples.nope")
    good = "Final answer: 3" if mode == "tools" else final("3")
    model = ScriptedModel([bad, good])
    run = await make_agent(model, mode).run("What is 1 + 2?")
    assert (run.stopped, run.answer) == ("answer", "3")
    shown = ("examples_nope. Known tools: examples_add_numbers" if mode == "tools"
             else "examples.nope. Known tools: examples.add_numbers")
    assert not run.steps[0].ok and f"Unknown tool: {shown}" in run.steps[0].observation
    assert "Unknown tool" in (model.requests[1].messages[-1].content or "")
    assert sum(box.calls.values()) == 0


async def test_invalid_arguments_are_caught_before_the_call(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([tool_call_reply("examples_add_numbers", {"numbers": "one two"}),
                           tool_call_reply("examples_add_numbers", '{"numbers": [1, 2'),
                           "Final answer: 3"])
    run = await make_agent(model, "tools").run("Add one and two.")
    assert run.stopped == "answer"
    assert "Invalid arguments for examples.add_numbers at numbers" in run.steps[0].observation
    assert "not a JSON object" in run.steps[1].observation
    assert box.calls[ADD] == 0 and run.tools_used == []


async def test_a_tool_error_is_an_observation(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([action(SAFE_DIV, a=1, b=0), final("undefined")])
    run = await make_agent(model, "json").run("What is 1 / 0?")
    assert run.steps[0].observation == "ERROR: ValueError: b must not be zero" and not run.steps[0].ok
    assert (run.stopped, run.answer) == ("answer", "undefined")
    assert box.calls[SAFE_DIV] == 1


async def test_unparseable_output_is_an_observation(make_agent: MakeAgent) -> None:
    model = ScriptedModel(["I think the answer is probably", final("3")])
    run = await make_agent(model, "json").run("What is 1 + 2?")
    assert run.steps[0].action is None and "Reply with one JSON object" in run.steps[0].observation
    assert run.answer == "3"


async def test_max_steps_stops_the_run(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = FunctionModel(lambda messages, kwargs: tool_call_reply("examples_add_numbers", {"numbers": [1]}))
    run = await make_agent(model, "tools", max_steps=3).run("Keep adding.")
    assert (run.stopped, run.answer, len(run.steps)) == ("max_steps", None, 3)
    assert box.calls[ADD] == 3


async def test_token_budget_stops_the_run(make_agent: MakeAgent) -> None:
    def expensive(messages: list[ChatMessage], kwargs: dict[str, Any]) -> ChatResponse:
        reply = ChatMessage.assistant(action(ADD, numbers=[1]))
        return ChatResponse(choices=[Choice(message=reply)], usage=Usage(prompt_tokens=90, completion_tokens=10))

    model = FunctionModel(expensive)
    run = await make_agent(model, "json", token_budget=150, max_steps=10).run("Keep adding.")
    assert (run.stopped, len(run.steps)) == ("budget", 2)
    assert run.prompt_tokens + run.completion_tokens == 200
    assert model.requests[1].max_tokens == 50


async def test_a_model_endpoint_failure_ends_the_run_as_error(make_agent: MakeAgent) -> None:
    from toolbox.errors import LLMError

    model = ScriptedModel([LLMError("HTTP 500 from the endpoint")])
    run = await make_agent(model, "json").run("Anything?")
    assert run.stopped == "error" and run.error == "HTTP 500 from the endpoint"


async def test_no_box_run_answers_without_tools(make_agent: MakeAgent) -> None:
    model = ScriptedModel(["2 + 2 = 4\nFinal answer: 4"])
    run = await make_agent(model, "tools", connection=None).run("2 + 2?")
    assert run.answer == "4" and model.requests[0].tools is None


async def test_a_large_box_starts_from_search_tools(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([
        tool_call_reply("search_tools", {"query": "add a list of numbers", "k": 3}),
        tool_call_reply("examples_add_numbers", {"numbers": [2, 3]}),
        "Final answer: 5",
    ])
    run = await make_agent(model, "tools", search_threshold=1).run("Add 2 and 3.")
    assert model.requests[0].tool_names == ["search_tools", "call_tool"]
    assert "examples_add_numbers" in model.requests[1].tool_names
    assert run.steps[1].observation == "5.0" and run.answer == "5"
    assert run.tools_used == [ADD]
    assert "search_tools" in (model.requests[0].messages[0].content or "")


async def test_final_answer_is_recorded_as_such(make_agent: MakeAgent) -> None:
    run = await make_agent(ScriptedModel([final("42")]), "json").run("The answer?")
    assert run.steps[0].action == FinalAnswer(answer="42") and run.steps[0].candidates[0].chosen


async def test_tools_mode_reads_a_call_written_as_json_text(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel(['```json\n{"name": "examples_add_numbers", "arguments": {"numbers": [2, 2]}}\n```',
                           "Final answer: 4"])
    run = await make_agent(model, "tools").run("2 + 2?")
    assert run.steps[0].action == ToolAction(tool=ADD, arguments={"numbers": [2, 2]})
    assert run.answer == "4" and box.calls[ADD] == 1


async def test_code_mode_with_a_large_box_searches_and_calls_by_name(make_agent: MakeAgent) -> None:
    model = ScriptedModel([
        "```python\nhits = search_tools('add a list of numbers', 3)\nprint([hit['name'] for hit in hits])\n```",
        "```python\nfinal_answer(call_tool('examples.add_numbers', {'numbers': [1, 2]}))\n```",
    ])
    run = await make_agent(model, "code", search_threshold=1).run("1 + 2?")
    assert ADD in run.steps[0].observation
    assert (run.stopped, run.answer, run.tools_used) == ("answer", "3.0", [ADD])
    prompt = model.requests[0].messages[0].content or ""
    assert "search_tools(query" in prompt and "examples_add_numbers" not in prompt


async def test_code_mode_votes_over_cells_and_their_final_answers(make_agent: MakeAgent, box: BoxConnection) -> None:
    model = ScriptedModel([
        "```python\nfinal_answer(examples_add_numbers([1, 1]))\n```",
        "```python\nfinal_answer(examples_add_numbers([1, 2]))\n```",
        "```python\nfinal_answer(examples_add_numbers([1, 2]))\n```",
    ])
    run = await make_agent(model, "code", sag_n=3).run("1 + 2?")
    assert (run.stopped, run.answer) == ("answer", "3.0")
    assert [c.chosen for c in run.steps[0].candidates] == [False, True, False]
    assert box.calls[ADD] == 2, "the repeated cell ran once"
