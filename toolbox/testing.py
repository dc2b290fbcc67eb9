"""Deterministic fake chat models for tests: no network, every request recorded.

- :class:`ScriptedModel` pops queued replies in order and raises
  :class:`~toolbox.errors.ScriptExhausted` when the script runs out.
- :class:`FunctionModel` computes each reply from the conversation.

Both satisfy :class:`~toolbox.llm.base.ChatModel` and keep every call in ``.requests``
(:class:`~toolbox.llm.base.ChatRequest`: messages plus keyword arguments).
"""

from __future__ import annotations

import inspect
import json
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from toolbox.errors import ScriptExhausted
from toolbox.llm.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Choice,
    ToolCall,
    Usage,
    coerce_message,
    coerce_messages,
)

__all__ = [
    "FunctionModel",
    "Reply",
    "ScriptedModel",
    "chat_response",
    "text_reply",
    "tool_call_reply",
    "tool_calls_reply",
]

Reply = str | ChatResponse | ChatMessage | Mapping[str, Any]
"""What a fake may answer: text, a message, a whole response, or an OpenAI-style message dict."""

ReplyFn = Callable[[list[ChatMessage], dict[str, Any]], Reply | Awaitable[Reply]]


def text_reply(content: str) -> ChatMessage:
    """An assistant message with plain text."""
    return ChatMessage.assistant(content)


def _arguments_text(arguments: Mapping[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(dict(arguments))


def tool_call_reply(
    name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str = "call_0", content: str | None = None
) -> ChatMessage:
    """An assistant message that calls one tool (``arguments`` as a dict or raw JSON text)."""
    call = ToolCall(id=id, name=name, arguments=_arguments_text(arguments or {}))
    return ChatMessage.assistant(content, [call])


def tool_calls_reply(*calls: tuple[str, Mapping[str, Any] | str], content: str | None = None) -> ChatMessage:
    """An assistant message with several (parallel) tool calls, ids ``call_0``, ``call_1``, ..."""
    return ChatMessage.assistant(
        content,
        [ToolCall(id=f"call_{i}", name=name, arguments=_arguments_text(args)) for i, (name, args) in enumerate(calls)],
    )


def _count_tokens(messages: Sequence[ChatMessage]) -> int:
    """A deterministic stand-in for a tokenizer: whitespace words plus tool-call arguments."""
    total = 0
    for message in messages:
        total += len((message.content or "").split())
        total += sum(len(call.arguments.split()) + 1 for call in message.tool_calls)
    return total


def _as_message(reply: Reply) -> ChatMessage:
    if isinstance(reply, str):
        return text_reply(reply)
    if isinstance(reply, ChatMessage):
        return reply
    if isinstance(reply, Mapping):
        return coerce_message({"role": "assistant", **reply})
    raise TypeError(f"a reply must be str, ChatMessage, ChatResponse or dict, got {type(reply).__name__}")


def _as_response_or_none(reply: Reply) -> ChatResponse | None:
    if isinstance(reply, ChatResponse):
        return reply
    if isinstance(reply, Mapping) and "choices" in reply:
        return ChatResponse.model_validate(dict(reply))
    return None


def chat_response(*messages: ChatMessage | str, model: str = "fake", prompt_tokens: int = 0) -> ChatResponse:
    """A response with one choice per message; ``finish_reason`` is "tool_calls" where a message calls tools."""
    msgs = [_as_message(m) for m in messages]
    return ChatResponse(
        model=model,
        choices=[
            Choice(index=i, message=m, finish_reason="tool_calls" if m.tool_calls else "stop")
            for i, m in enumerate(msgs)
        ],
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=_count_tokens(msgs)),
    )


class _RecordingModel:
    """Shared ``chat`` for the fakes: record the request, then ask the subclass for each choice's reply."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.requests: list[ChatRequest] = []

    async def _next_reply(self, request: ChatRequest, index: int) -> Reply:
        """The reply for choice ``index`` of ``request`` (a whole ``ChatResponse`` ends the call)."""
        raise NotImplementedError

    async def chat(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        n: int = 1,
        temperature: float | None = None,
        top_p: float | None = None,
        response_format: dict[str, Any] | None = None,
        stop: Sequence[str] | None = None,
        max_tokens: int | None = None,
    ) -> ChatResponse:
        """Record the request and answer with one reply per choice (or a whole ``ChatResponse``)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        request = ChatRequest(
            messages=coerce_messages(messages),
            tools=[dict(t) for t in tools] if tools is not None else None,
            n=n,
            temperature=temperature,
            top_p=top_p,
            response_format=response_format,
            stop=list(stop) if stop is not None else None,
            max_tokens=max_tokens,
        )
        self.requests.append(request)
        replies: list[ChatMessage] = []
        for index in range(n):
            reply = await self._next_reply(request, index)
            whole = _as_response_or_none(reply)
            if whole is not None:
                return whole
            replies.append(_as_message(reply))
        return chat_response(*replies, model=self.model, prompt_tokens=_count_tokens(request.messages))

    @property
    def last_request(self) -> ChatRequest:
        """The most recent request (raises ``IndexError`` before the first call)."""
        return self.requests[-1]


class ScriptedModel(_RecordingModel):
    """A chat model that answers from a fixed script of replies, in order.

    Each call consumes one reply per requested choice (``n``); a queued ``ChatResponse`` (or a dict
    with "choices") is returned whole and consumes one entry. A queued exception instance is raised.
    """

    def __init__(self, replies: Sequence[Reply | BaseException], *, model: str = "scripted") -> None:
        super().__init__(model)
        self._script: deque[Reply | BaseException] = deque(replies)
        self._scripted = len(self._script)

    @property
    def remaining(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._script)

    async def _next_reply(self, request: ChatRequest, index: int) -> Reply:
        if not self._script:
            last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), None)
            raise ScriptExhausted(
                f"ScriptedModel({self.model!r}) ran out of replies: request #{len(self.requests)} needs one more "
                f"but only {self._scripted} were scripted (last user message: {(last_user or '')[:80]!r})"
            )
        item = self._script.popleft()
        if isinstance(item, BaseException):
            raise item
        if index and _as_response_or_none(item) is not None:
            raise TypeError("a whole ChatResponse cannot be one of several choices; script messages instead")
        return item


class FunctionModel(_RecordingModel):
    """A chat model whose replies come from ``fn(messages, kwargs)`` (sync or async).

    ``fn`` is called once per requested choice; returning a ``ChatResponse`` returns it whole.
    """

    def __init__(self, fn: ReplyFn, *, model: str = "function") -> None:
        super().__init__(model)
        self.fn = fn

    async def _next_reply(self, request: ChatRequest, index: int) -> Reply:
        result = self.fn(list(request.messages), request.kwargs)
        if inspect.isawaitable(result):
            return await result
        return result
