"""Abstraction: the teacher turns instance constants into parameters and names the capability."""

from __future__ import annotations

from teacher.drafts import ToolDraft
from teacher.extract import DraftAnswer, TokenCount, ask_for_drafts
from teacher.generality import Problem
from teacher.prompts import Prompt
from toolbox.llm.base import ChatModel
from toolbox.settings import TeacherSettings

__all__ = ["abstract_draft", "abstraction_prompt"]


def abstraction_prompt(prompt: Prompt, draft: ToolDraft, question: str, problems: list[Problem]) -> str:
    """The abstraction prompt: what does not generalise, the task, and the tool's source."""
    listed = "\n".join(f"- {p}" for p in problems)
    return prompt.render(problems=listed, question=question, source=draft.source.strip())


async def abstract_draft(model: ChatModel, prompt: Prompt, draft: ToolDraft, question: str,
                         problems: list[Problem], settings: TeacherSettings, tokens: TokenCount,
                         timeout_s: float | None = None) -> DraftAnswer:
    """Ask the teacher to generalise ``draft``; the rewritten drafts (``DraftError`` when none)."""
    text = abstraction_prompt(prompt, draft, question, problems)
    return await ask_for_drafts(model, text, settings, tokens, timeout_s)
