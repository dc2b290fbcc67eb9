"""Repair: a tool that failed a check goes back to the teacher with the error."""

from __future__ import annotations

import json

from teacher.drafts import ToolDraft
from teacher.extract import DraftAnswer, TokenCount, ask_for_drafts
from teacher.prompts import Prompt
from toolbox.llm.base import ChatModel
from toolbox.settings import TeacherSettings

__all__ = ["repair_draft", "repair_prompt"]

_MAX_ERROR_CHARS = 3000


def repair_prompt(prompt: Prompt, draft: ToolDraft, error: str) -> str:
    """The repair prompt: the failure (cut to a readable size), the source and the tests."""
    return prompt.render(error=error[:_MAX_ERROR_CHARS], source=draft.source.strip(),
                  tests=json.dumps(draft.tests, default=str)[:_MAX_ERROR_CHARS])


async def repair_draft(model: ChatModel, prompt: Prompt, draft: ToolDraft, error: str, settings: TeacherSettings,
                       tokens: TokenCount, timeout_s: float | None = None) -> DraftAnswer:
    """Ask the teacher to fix ``draft`` given ``error``; the repaired drafts (``DraftError`` when none)."""
    return await ask_for_drafts(model, repair_prompt(prompt, draft, error), settings, tokens, timeout_s)
