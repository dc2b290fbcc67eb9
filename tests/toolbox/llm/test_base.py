"""Messages, responses and coercion from OpenAI-style dicts."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from toolbox.llm import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    ChatResponse,
    Choice,
    ToolCall,
    Usage,
    coerce_message,
    coerce_messages,
)


def _conversation() -> list[ChatMessage]:
    call = ToolCall(id="call_7", name="add", arguments='{"a": 1, "b": 2}')
    return [
        ChatMessage.system("You are terse."),
        ChatMessage.user("What is 1 + 2?"),
        ChatMessage.assistant(None, [call]),
        ChatMessage.tool("call_7", "3", name="add"),
        ChatMessage.assistant("3"),
    ]


def test_messages_round_trip_through_the_openai_wire_format() -> None:
    messages = _conversation()
    wire = [m.to_openai() for m in messages]
    assert wire[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_7", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}
        ],
    }
    assert wire[3] == {"role": "tool", "content": "3", "tool_call_id": "call_7", "name": "add"}
    assert coerce_messages(wire) == messages


def test_coerce_accepts_dict_arguments_flat_calls_and_content_parts() -> None:
    message = coerce_message(
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Let me "}, {"type": "text", "text": "check."}],
            "tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}],
        }
    )
    assert message.content == "Let me check."
    assert message.tool_calls == [ToolCall(id="call_0", name="lookup", arguments='{"q": "x"}')]
    assert coerce_message({"content": "hi"}).role == "user"


def test_coerce_rejects_unknown_roles_and_non_messages() -> None:
    with pytest.raises(ValidationError):
        coerce_message({"role": "wizard", "content": "x"})
    with pytest.raises(TypeError, match="ChatMessage or a dict"):
        coerce_message("hello")  # type: ignore[arg-type]


def test_models_are_immutable() -> None:
    message = ChatMessage.user("hi")
    with pytest.raises(ValidationError):
        message.content = "changed"
    with pytest.raises(ValidationError):
        ChatMessage(role="user", content="x", extra_field=1)


def test_tool_call_parsed_arguments() -> None:
    assert ToolCall(id="c", name="f", arguments='{"x": [1, 2]}').parsed_arguments() == {"x": [1, 2]}
    assert ToolCall(id="c", name="f", arguments="").parsed_arguments() == {}
    with pytest.raises(ValueError, match="not a JSON object"):
        ToolCall(id="c", name="f", arguments="[1]").parsed_arguments()
    with pytest.raises(json.JSONDecodeError):
        ToolCall(id="c", name="f", arguments="{oops").parsed_arguments()


def test_response_shortcuts_and_usage_total() -> None:
    response = ChatResponse(
        choices=[Choice(message=ChatMessage.assistant("first")), Choice(index=1, message=ChatMessage.assistant("b"))],
        usage=Usage(prompt_tokens=10, completion_tokens=4),
        model="m",
    )
    assert response.content == "first"
    assert response.message.role == "assistant"
    assert response.usage.total_tokens == 14
    with pytest.raises(IndexError):
        _ = ChatResponse(choices=[]).message


def test_request_kwargs_and_tool_names() -> None:
    tool = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
    request = ChatRequest(messages=[ChatMessage.user("x")], tools=[tool], n=2, stop=["\n"])
    assert request.kwargs == {
        "tools": [tool],
        "n": 2,
        "temperature": None,
        "top_p": None,
        "response_format": None,
        "stop": ["\n"],
        "max_tokens": None,
    }
    assert request.tool_names == ["add"]


def test_protocol_is_structural() -> None:
    class Echo:
        async def chat(self, messages: object, **kwargs: object) -> ChatResponse:
            return ChatResponse(choices=[])

    assert isinstance(Echo(), ChatModel)
    assert not isinstance(object(), ChatModel)
