"""OpenAIChatModel against a real ``openai.AsyncOpenAI`` whose HTTP goes to an ``httpx2.MockTransport``.

openai 3.x builds on ``httpx2``, so the mock transport and the injected client come from there.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from typing import Any

import httpx2
import openai
import pytest
from pydantic import SecretStr

from toolbox.errors import ConfigError, LLMError
from toolbox.llm import ChatMessage, ChatModel, ToolCall, openai_chat_model_from_settings
from toolbox.llm.openai_chat import OpenAIChatModel
from toolbox.settings import LLMSettings

pytestmark = pytest.mark.anyio

Handler = (
    Callable[[httpx2.Request], httpx2.Response] | Callable[[httpx2.Request], Coroutine[None, None, httpx2.Response]]
)

ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
    },
}


def completion(*messages: dict[str, Any], model: str = "gpt-test", finish: str | None = None) -> dict[str, Any]:
    """A real chat-completions response body with one choice per message."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": None, **m},
                "finish_reason": finish or ("tool_calls" if m.get("tool_calls") else "stop"),
            }
            for i, m in enumerate(messages)
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def error_body(status: int, message: str) -> httpx2.Response:
    return httpx2.Response(status, json={"error": {"message": message, "type": "x", "code": None}})


class Recorder:
    """A mock endpoint: answers from a list of responses (or exceptions) and keeps every request body."""

    def __init__(self, *answers: httpx2.Response | Exception) -> None:
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.bodies.append(json.loads(request.content))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(handler: Handler, *, sdk_retries: int = 2) -> openai.AsyncOpenAI:
    transport = httpx2.MockTransport(handler)
    return openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="http://llm.test/v1",
        max_retries=sdk_retries,
        http_client=httpx2.AsyncClient(transport=transport),
    )


def make_model(handler: Handler, **options: Any) -> tuple[OpenAIChatModel, list[float]]:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    options.setdefault("rng", random.Random(0))
    return OpenAIChatModel(make_client(handler), "gpt-test", sleep=fake_sleep, **options), sleeps


def ok(content: str = "hello") -> httpx2.Response:
    return httpx2.Response(200, json=completion({"content": content}))


async def test_request_body_carries_every_option() -> None:
    endpoint = Recorder(ok())
    model, _ = make_model(endpoint)
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    await model.chat(
        [{"role": "system", "content": "be brief"}, ChatMessage.user("1+2?")],
        tools=[ADD_TOOL],
        n=3,
        temperature=0.7,
        top_p=0.9,
        response_format=schema,
        stop=["END"],
        max_tokens=64,
    )
    body = endpoint.bodies[0]
    assert endpoint.requests[0].url == "http://llm.test/v1/chat/completions"
    assert body["model"] == "gpt-test"
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "1+2?"}]
    assert body["tools"] == [ADD_TOOL]
    assert (body["n"], body["temperature"], body["top_p"], body["max_tokens"]) == (3, 0.7, 0.9, 64)
    assert body["response_format"] == schema
    assert body["stop"] == ["END"]


async def test_defaults_leave_optional_fields_out() -> None:
    endpoint = Recorder(ok())
    model, _ = make_model(endpoint)
    response = await model.chat([ChatMessage.user("hi")])
    assert set(endpoint.bodies[0]) == {"model", "messages"}
    assert response.content == "hello"
    assert response.model == "gpt-test"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (12, 5)


async def test_tool_calls_are_mapped_both_ways() -> None:
    call = {"id": "call_abc", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}
    endpoint = Recorder(
        httpx2.Response(200, json=completion({"tool_calls": [call]}, {"content": "3"})),
        ok("It is 3."),
    )
    model, _ = make_model(endpoint)
    first = await model.chat([ChatMessage.user("1+2?")], tools=[ADD_TOOL], n=2)
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.message.tool_calls == [ToolCall(id="call_abc", name="add", arguments='{"a": 1, "b": 2}')]
    assert first.message.tool_calls[0].parsed_arguments() == {"a": 1, "b": 2}
    assert first.choices[1].message.content == "3"

    await model.chat([ChatMessage.user("1+2?"), first.message, ChatMessage.tool("call_abc", "3")], tools=[ADD_TOOL])
    sent = endpoint.bodies[1]["messages"]
    assert sent[1] == {"role": "assistant", "content": None, "tool_calls": [call]}
    assert sent[2] == {"role": "tool", "content": "3", "tool_call_id": "call_abc"}


async def test_retries_429_then_500_then_succeeds() -> None:
    endpoint = Recorder(error_body(429, "slow down"), error_body(500, "boom"), ok("finally"))
    model, sleeps = make_model(endpoint, backoff_s=1.0)
    response = await model.chat([ChatMessage.user("hi")])
    assert response.content == "finally"
    assert len(endpoint.requests) == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0  # attempt 0: backoff_s * 2**0, jittered into [50%, 100%]
    assert 1.0 <= sleeps[1] <= 2.0  # attempt 1: doubled


async def test_retry_after_header_is_honoured() -> None:
    limited = httpx2.Response(429, headers={"retry-after": "7"}, json={"error": {"message": "later"}})
    model, sleeps = make_model(Recorder(limited, ok()), backoff_s=0.1)
    await model.chat([ChatMessage.user("hi")])
    assert sleeps == [7.0]


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_no_retry_on_client_errors(status: int) -> None:
    endpoint = Recorder(error_body(status, "bad request: unknown field"), ok())
    model, sleeps = make_model(endpoint)
    with pytest.raises(LLMError, match=rf"'gpt-test'.*HTTP {status}.*unknown field") as info:
        await model.chat([ChatMessage.user("hi")])
    assert isinstance(info.value.__cause__, openai.APIStatusError)
    assert len(endpoint.requests) == 1
    assert sleeps == []


async def test_gives_up_after_max_retries() -> None:
    endpoint = Recorder(error_body(503, "overloaded"))
    model, sleeps = make_model(endpoint, max_retries=2)
    with pytest.raises(LLMError, match=r"'gpt-test' failed after 3 attempt\(s\): HTTP 503") as info:
        await model.chat([ChatMessage.user("hi")])
    assert isinstance(info.value.__cause__, openai.InternalServerError)
    assert len(endpoint.requests) == 3  # the SDK's own retries (2 on this client) are switched off
    assert len(sleeps) == 2


async def test_timeouts_and_connection_errors_are_retried() -> None:
    endpoint = Recorder(httpx2.ReadTimeout("slow"), httpx2.ConnectError("refused"), ok("up"))
    model, sleeps = make_model(endpoint)
    assert (await model.chat([ChatMessage.user("hi")])).content == "up"
    assert len(endpoint.requests) == 3
    assert len(sleeps) == 2


async def test_per_call_timeout_bounds_a_hung_endpoint() -> None:
    calls: list[int] = []

    async def hang(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    model = OpenAIChatModel(make_client(hang), "gpt-test", max_retries=1, timeout_s=0.05, sleep=_no_sleep)
    with pytest.raises(LLMError, match=r"timed out after 0\.05s"):
        await model.chat([ChatMessage.user("hi")])
    assert len(calls) == 2


async def _no_sleep(seconds: float) -> None:
    return None


async def test_empty_choices_is_an_error() -> None:
    model, _ = make_model(Recorder(httpx2.Response(200, json={**completion(), "choices": []})))
    with pytest.raises(LLMError, match="no choices"):
        await model.chat([ChatMessage.user("hi")])


def test_backoff_is_exponential_jittered_and_capped() -> None:
    model = OpenAIChatModel(make_client(Recorder(ok())), "m", backoff_s=0.5, max_backoff_s=4.0, rng=random.Random(1))
    delays = [model.backoff_delay(attempt) for attempt in range(8)]
    for attempt, delay in enumerate(delays):
        base = min(4.0, 0.5 * 2**attempt)
        assert base / 2 <= delay <= base
    assert model.backoff_delay(0, retry_after=100.0) == 4.0  # a huge Retry-After is capped too
    again = OpenAIChatModel(make_client(Recorder(ok())), "m", backoff_s=0.5, max_backoff_s=4.0, rng=random.Random(1))
    assert [again.backoff_delay(a) for a in range(8)] == delays


def test_satisfies_the_protocol() -> None:
    model, _ = make_model(Recorder(ok()))
    assert isinstance(model, ChatModel)
    assert "gpt-test" in repr(model)


async def test_factory_builds_a_client_from_settings() -> None:
    endpoint = Recorder(error_body(500, "boom"), ok("from settings"))
    settings = LLMSettings(
        base_url="http://vllm.test/v1", api_key=SecretStr("sk-local"), model="qwen", max_retries=3, backoff_s=0.0
    )
    model = openai_chat_model_from_settings(
        settings, http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(endpoint))
    )
    assert (model.model, model.max_retries, model.timeout_s) == ("qwen", 3, 120.0)
    assert model.client.max_retries == 0
    assert (await model.chat([ChatMessage.user("hi")])).content == "from settings"
    assert endpoint.requests[0].url == "http://vllm.test/v1/chat/completions"
    assert endpoint.requests[0].headers["authorization"] == "Bearer sk-local"
    assert endpoint.bodies[0]["model"] == "qwen"


def test_factory_needs_a_key_only_for_the_hosted_api() -> None:
    with pytest.raises(ConfigError, match="DISTILLERY_LLM__API_KEY"):
        openai_chat_model_from_settings(LLMSettings())
    local = openai_chat_model_from_settings(LLMSettings(base_url="http://127.0.0.1:11434/v1"))
    assert str(local.client.base_url) == "http://127.0.0.1:11434/v1/"
