"""Choosing the action mode for ``--mode auto``: does the endpoint return structured tool calls?

llama.cpp's server with a GGUF chat template answers tool requests under ``tool_choice`` "auto" with
JSON in the text, not ``tool_calls``; such endpoints get the ``json`` mode, constrained by
``response_format``. The probe offers one trivial tool, asks for it, and looks at what comes back.
"""

from __future__ import annotations

from typing import Any, Literal

from student.trace import Mode
from toolbox.errors import LLMError
from toolbox.llm.base import ChatMessage, ChatModel
from toolbox.logging import get_logger

__all__ = ["PROBE_TOOL", "probe_mode", "resolve_mode"]

logger = get_logger("student.probe")

PROBE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "record_word",
        "description": "Record one word.",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    },
}


async def probe_mode(model: ChatModel) -> Literal["tools", "json"]:
    """``tools`` when the endpoint returns a structured call of the probe tool, else ``json``."""
    messages = [ChatMessage.system("You call functions to act."),
                ChatMessage.user("Call the function record_word with the word 'ready'.")]
    try:
        response = await model.chat(messages, tools=[PROBE_TOOL], temperature=0.0, max_tokens=64)
    except LLMError as error:
        logger.info("tool-calling probe failed (%s); using json mode", error)
        return "json"
    calls = response.message.tool_calls if response.choices else []
    mode: Literal["tools", "json"] = "tools" if calls and calls[0].name == "record_word" else "json"
    logger.info("tool-calling probe: %s mode", mode)
    return mode


async def resolve_mode(requested: Literal["auto", "tools", "json", "code"], model: ChatModel) -> Mode:
    """The mode to run: ``requested`` itself, or the probe's choice for ``auto``."""
    if requested == "auto":
        return await probe_mode(model)
    return requested
