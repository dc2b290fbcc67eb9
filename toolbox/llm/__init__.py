"""Chat models: provider-neutral messages, the async ``ChatModel`` protocol and the OpenAI adapter.

``OpenAIChatModel`` and ``openai_chat_model_from_settings`` are imported lazily so that importing
this package does not import the ``openai`` SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolbox.llm.base import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    ChatResponse,
    Choice,
    MessageLike,
    Role,
    ToolCall,
    Usage,
    coerce_message,
    coerce_messages,
)

if TYPE_CHECKING:
    from toolbox.llm.openai_chat import OpenAIChatModel, openai_chat_model_from_settings

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "MessageLike",
    "OpenAIChatModel",
    "Role",
    "ToolCall",
    "Usage",
    "coerce_message",
    "coerce_messages",
    "openai_chat_model_from_settings",
]

_LAZY = {"OpenAIChatModel", "openai_chat_model_from_settings"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from toolbox.llm import openai_chat

        return getattr(openai_chat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
