"""The fake chat models every agent test relies on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from toolbox.errors import LLMError, ScriptExhausted
from toolbox.llm import ChatMessage, ChatModel, ChatResponse, ToolCall
from toolbox.testing import (
    FunctionModel,
    ScriptedModel,
    chat_response,
    text_reply,
    tool_call_reply,
    tool_calls_reply,
)

pytestmark = pytest.mark.anyio

ADD_TOOL = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}


async def run_agent(model: ChatModel, question: str, tools: dict[str, Any]) -> tuple[str, int]:
    """A minimal tool-calling loop, as student agents run it: returns (answer, model calls)."""
    messages: list[ChatMessage | dict[str, Any]] = [ChatMessage.user(question)]
    for turn in range(1, 10):
        reply = (await model.chat(messages, tools=[ADD_TOOL])).message
        messages.append(reply)
        if not reply.tool_calls:
            return reply.content or "", turn
        for call in reply.tool_calls:
            result = tools[call.name](**call.parsed_arguments())
            messages.append(ChatMessage.tool(call.id, json.dumps(result)))
    raise AssertionError("agent did not finish")


async def test_scripted_model_drives_a_tool_loop_and_records_the_transcript() -> None:
    model = ScriptedModel([tool_call_reply("add", {"a": 2, "b": 3}), "The answer is 5."])
    answer, turns = await run_agent(model, "2+3?", {"add": lambda a, b: a + b})
    assert (answer, turns) == ("The answer is 5.", 2)
    assert model.remaining == 0
    assert [len(r.messages) for r in model.requests] == [1, 3]
    second = model.requests[1]
    assert second.tool_names == ["add"]
    assert second.messages[2] == ChatMessage.tool("call_0", "5")


async def test_scripted_replies_of_every_kind() -> None:
    whole = chat_response("from a response", model="other")
    model = ScriptedModel(
        [
            "plain",
            ChatMessage.assistant("message"),
            {"content": None, "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": {"x": 1}}}]},
            whole,
            {"choices": [{"message": {"role": "assistant", "content": "dict response"}}], "model": "d"},
        ]
    )
    replies = [await model.chat([ChatMessage.user(str(i))]) for i in range(5)]
    assert [r.content for r in replies[:2]] == ["plain", "message"]
    assert replies[2].message.tool_calls == [ToolCall(id="t1", name="f", arguments='{"x": 1}')]
    assert replies[2].choices[0].finish_reason == "tool_calls"
    assert replies[3] is whole
    assert (replies[4].content, replies[4].model) == ("dict response", "d")
    assert replies[0].model == "scripted"


async def test_script_exhaustion_is_loud() -> None:
    model = ScriptedModel(["only one"])
    await model.chat([ChatMessage.user("first")])
    with pytest.raises(ScriptExhausted, match=r"ran out of replies: request #2 .* only 1 were scripted .*'second'"):
        await model.chat([{"role": "user", "content": "second"}])
    assert isinstance(ScriptExhausted("x"), LLMError)
    assert len(model.requests) == 2  # the failing request is recorded too


async def test_scripted_n_consumes_one_reply_per_choice() -> None:
    model = ScriptedModel(["a", "b", "c"])
    response = await model.chat([ChatMessage.user("sample")], n=2, temperature=1.0)
    assert [c.message.content for c in response.choices] == ["a", "b"]
    assert [c.index for c in response.choices] == [0, 1]
    assert model.last_request.kwargs["n"] == 2
    with pytest.raises(ScriptExhausted):
        await model.chat([ChatMessage.user("again")], n=2)


async def test_scripted_exception_is_raised_in_turn() -> None:
    model = ScriptedModel([LLMError("provider down"), "recovered"])
    with pytest.raises(LLMError, match="provider down"):
        await model.chat([ChatMessage.user("x")])
    assert (await model.chat([ChatMessage.user("x")])).content == "recovered"


async def test_requests_record_every_keyword() -> None:
    model = ScriptedModel(["ok"])
    fmt = {"type": "json_object"}
    await model.chat(
        [ChatMessage.user("q")],
        tools=[ADD_TOOL],
        temperature=0.2,
        top_p=0.5,
        response_format=fmt,
        stop=("STOP",),
        max_tokens=9,
    )
    assert model.last_request.kwargs == {
        "tools": [ADD_TOOL],
        "n": 1,
        "temperature": 0.2,
        "top_p": 0.5,
        "response_format": fmt,
        "stop": ["STOP"],
        "max_tokens": 9,
    }


async def test_function_model_branches_on_the_conversation() -> None:
    def fn(messages: list[ChatMessage], kwargs: dict[str, Any]) -> str | ChatMessage:
        assert kwargs["tools"] == [ADD_TOOL]
        if messages[-1].role == "user":
            return tool_call_reply("add", {"a": 40, "b": 2})
        return f"The answer is {messages[-1].content}."

    model = FunctionModel(fn)
    answer, turns = await run_agent(model, "40+2?", {"add": lambda a, b: a + b})
    assert (answer, turns) == ("The answer is 42.", 2)
    assert len(model.requests) == 2


async def test_function_model_accepts_async_functions_and_samples_n() -> None:
    seen: list[int] = []

    async def fn(messages: list[ChatMessage], kwargs: dict[str, Any]) -> str:
        seen.append(kwargs["n"])
        return f"candidate {len(seen)}"

    response = await FunctionModel(fn).chat([ChatMessage.user("write a tool")], n=3)
    assert [c.message.content for c in response.choices] == ["candidate 1", "candidate 2", "candidate 3"]
    assert seen == [3, 3, 3]


async def test_function_model_may_return_a_whole_response() -> None:
    whole = chat_response("x", "y", model="custom")
    response = await FunctionModel(lambda messages, kwargs: whole).chat([ChatMessage.user("q")], n=2)
    assert response is whole


async def test_scripted_whole_response_cannot_be_a_later_choice() -> None:
    model = ScriptedModel(["first", chat_response("whole")])
    with pytest.raises(TypeError, match="cannot be one of several choices"):
        await model.chat([ChatMessage.user("q")], n=2)


async def test_fakes_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        await ScriptedModel(["x"]).chat([ChatMessage.user("q")], n=0)
    with pytest.raises(TypeError, match="a reply must be"):
        await FunctionModel(lambda m, k: 42).chat([ChatMessage.user("q")])  # type: ignore[arg-type,return-value]


def test_builders() -> None:
    call = tool_call_reply("search", '{"q": "gcd"}', id="c9", content="Searching.")
    assert (call.role, call.content, call.tool_calls) == (
        "assistant",
        "Searching.",
        [ToolCall(id="c9", name="search", arguments='{"q": "gcd"}')],
    )
    both = tool_calls_reply(("add", {"a": 1}), ("mul", '{"a": 2}'))
    assert [(c.id, c.name, c.arguments) for c in both.tool_calls] == [
        ("call_0", "add", '{"a": 1}'),
        ("call_1", "mul", '{"a": 2}'),
    ]
    assert text_reply("hi") == ChatMessage.assistant("hi")
    response = chat_response(both, "done in four words", prompt_tokens=3)
    assert [c.finish_reason for c in response.choices] == ["tool_calls", "stop"]
    assert response.usage.prompt_tokens == 3
    assert response.usage.completion_tokens > 4


async def test_fakes_report_deterministic_usage() -> None:
    model = ScriptedModel(["one two three", "one two three"])
    first = await model.chat([ChatMessage.user("a b c d")])
    second = await model.chat([ChatMessage.user("a b c d")])
    assert first.usage == second.usage
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (4, 3)


def test_fakes_satisfy_the_protocol() -> None:
    assert isinstance(ScriptedModel([]), ChatModel)
    assert isinstance(FunctionModel(lambda m, k: "x"), ChatModel)
    assert isinstance(chat_response("x"), ChatResponse)
