"""Provider-neutral chat messages, responses and the async ``ChatModel`` protocol.

Messages may be given as :class:`ChatMessage` objects or as plain OpenAI-style dicts;
:func:`coerce_message` turns either into a ``ChatMessage``. All models are immutable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "MessageLike",
    "Role",
    "ToolCall",
    "Usage",
    "coerce_message",
    "coerce_messages",
]

Role = Literal["system", "user", "assistant", "tool"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ToolCall(BaseModel):
    """One function call requested by the model; ``arguments`` is the raw JSON text it produced."""

    model_config = _FROZEN

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments decoded as a JSON object (raises ``ValueError`` if they are not one)."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError(f"tool call {self.name!r} arguments are not a JSON object: {self.arguments!r}")
        return value

    def to_openai(self) -> dict[str, Any]:
        """This call in the OpenAI chat-completions wire format."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


class ChatMessage(BaseModel):
    """One conversation turn. ``tool_call_id`` links a ``tool`` message to the call it answers."""

    model_config = _FROZEN

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        """A system message."""
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> ChatMessage:
        """A user message."""
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str | None = None, tool_calls: Sequence[ToolCall] = ()) -> ChatMessage:
        """An assistant message, optionally carrying tool calls."""
        return cls(role="assistant", content=content, tool_calls=list(tool_calls))

    @classmethod
    def tool(cls, tool_call_id: str, content: str, name: str | None = None) -> ChatMessage:
        """The result of a tool call, sent back to the model."""
        return cls(role="tool", content=content, tool_call_id=tool_call_id, name=name)

    def to_openai(self) -> dict[str, Any]:
        """This message in the OpenAI chat-completions wire format."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


class Choice(BaseModel):
    """One sampled completion."""

    model_config = _FROZEN

    message: ChatMessage
    finish_reason: str | None = "stop"
    index: int = 0


class Usage(BaseModel):
    """Token counts reported by the provider (zero when it reports none)."""

    model_config = _FROZEN

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class ChatResponse(BaseModel):
    """A chat completion: one choice per requested sample."""

    model_config = _FROZEN

    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
    model: str = ""

    @property
    def message(self) -> ChatMessage:
        """The first choice's message (raises ``IndexError`` when there are no choices)."""
        return self.choices[0].message

    @property
    def content(self) -> str | None:
        """The first choice's text content."""
        return self.message.content


class ChatRequest(BaseModel):
    """A recorded ``ChatModel.chat`` call (what fakes keep in ``.requests``)."""

    model_config = _FROZEN

    messages: list[ChatMessage]
    tools: list[dict[str, Any]] | None = None
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    response_format: dict[str, Any] | None = None
    stop: list[str] | None = None
    max_tokens: int | None = None

    @property
    def kwargs(self) -> dict[str, Any]:
        """Every keyword argument of the call (everything but ``messages``)."""
        return self.model_dump(exclude={"messages"})

    @property
    def tool_names(self) -> list[str]:
        """Names of the function tools offered in this request."""
        return [str(tool.get("function", tool).get("name", "")) for tool in self.tools or []]


MessageLike = ChatMessage | Mapping[str, Any]


def _content_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content)


def _coerce_tool_call(raw: Any, index: int) -> ToolCall:
    if isinstance(raw, ToolCall):
        return raw
    if not isinstance(raw, Mapping):
        raise TypeError(f"tool call must be a ToolCall or a dict, got {type(raw).__name__}")
    function = raw.get("function", raw)
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return ToolCall(id=str(raw.get("id") or f"call_{index}"), name=str(function["name"]), arguments=arguments)


def coerce_message(message: MessageLike) -> ChatMessage:
    """Turn a ``ChatMessage`` or an OpenAI-style dict into a ``ChatMessage``."""
    if isinstance(message, ChatMessage):
        return message
    if not isinstance(message, Mapping):
        raise TypeError(f"message must be a ChatMessage or a dict, got {type(message).__name__}")
    calls = [_coerce_tool_call(raw, i) for i, raw in enumerate(message.get("tool_calls") or [])]
    return ChatMessage(
        role=message.get("role", "user"),
        content=_content_text(message.get("content")),
        tool_calls=calls,
        tool_call_id=message.get("tool_call_id"),
        name=message.get("name"),
    )


def coerce_messages(messages: Sequence[MessageLike]) -> list[ChatMessage]:
    """Coerce every message of a conversation (see :func:`coerce_message`)."""
    return [coerce_message(m) for m in messages]


@runtime_checkable
class ChatModel(Protocol):
    """An async chat model: the only thing teacher and student agents talk to."""

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
        """Complete the conversation; ``n`` choices, optionally calling the offered ``tools``."""
        ...
