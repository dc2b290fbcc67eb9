"""First-thought prefix (Kang et al.): start the first agent step from a plain chain of thought.

The teacher first answers the task with the ``cot`` prompt; the first paragraph of that answer becomes
the opening thought of the first CodeAct step. Where the endpoint continues a trailing assistant
message (vLLM with ``continue_final_message``, llama.cpp's C++ ``llama-server`` by default since its
``--no-prefill-assistant`` change) it is sent as an assistant prefill and the model's reply continues it;
elsewhere it is appended to the task message as "Your first thought was: ...". The caller says which
through ``prefill_supported``; unknown endpoints get "prompt", which works everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from teacher.prompts import load_prompt
from teacher.trajectory import FtpMode
from toolbox.errors import LLMError
from toolbox.llm.base import ChatMessage, ChatModel
from toolbox.settings import TeacherSettings
from toolbox.tasks import Task

__all__ = ["FirstThought", "first_paragraph", "first_thought", "inject_first_thought", "prefill_prefix"]

_THOUGHT_LABEL = re.compile(r"^\s*(?:thought|plan)\s*:\s*", re.IGNORECASE)


class FirstThought(BaseModel):
    """The first paragraph of a chain-of-thought answer, and what asking for it cost."""

    text: str
    cot: str
    prompt_version: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def first_paragraph(text: str) -> str:
    """The first non-empty paragraph of ``text`` (split on blank lines), without a "Thought:" label."""
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        cleaned = _THOUGHT_LABEL.sub("", paragraph.strip(), count=1).strip()
        if cleaned:
            return cleaned
    return ""


async def first_thought(model: ChatModel, task: Task, *, settings: TeacherSettings) -> FirstThought:
    """Ask ``model`` for a plain chain of thought on ``task`` and keep its first paragraph.

    Raises :class:`LLMError` when the model fails or answers with no text.
    """
    prompt = load_prompt("cot")
    response = await model.chat(
        [ChatMessage.system(prompt.render()), ChatMessage.user(task.question)],
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
    if not response.choices:
        raise LLMError("the chain-of-thought request for the first thought returned no choices")
    cot = response.content or ""
    text = first_paragraph(cot)
    if not text:
        raise LLMError("the chain-of-thought answer for the first thought was empty")
    return FirstThought(
        text=text,
        cot=cot,
        prompt_version=prompt.version,
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
    )


def prefill_prefix(thought: str) -> str:
    """The assistant prefill for a first thought, in the CodeAct step format ("Thought: ...")."""
    return f"Thought: {thought}\n\n"


def inject_first_thought(
    messages: Sequence[ChatMessage], thought: str, *, prefill_supported: bool
) -> tuple[list[ChatMessage], FtpMode]:
    """The conversation with the first thought injected, and how: "prefill" or "prompt".

    ``messages`` must end with the task's user message. With prefill a trailing assistant message holds
    the prefix (the reply continues it); otherwise the thought is appended to that user message.
    """
    if not messages or messages[-1].role != "user":
        raise ValueError("inject the first thought into a conversation that ends with the task's user message")
    if prefill_supported:
        return [*messages, ChatMessage.assistant(prefill_prefix(thought))], "prefill"
    task_message = messages[-1]
    hinted = (
        f"{task_message.content or ''}\n\nYour first thought was: {thought}\n"
        "Continue from this thought: write your first step."
    )
    return [*messages[:-1], ChatMessage.user(hinted)], "prompt"
