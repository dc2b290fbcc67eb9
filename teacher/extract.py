"""Extraction: from a solved trajectory the teacher writes tools; tests are mined from the trajectory.

``ask_for_drafts`` is the one teacher call every distil step makes (extract, abstract, repair,
consolidate): it turns endpoint failures and unreadable answers into ``DraftError``. Mined tests
are the trajectory's concrete inputs with the outputs the tool gives on them in the sandbox, kept
only when the trajectory's answer was verified correct (and, for a solver, when the tool's output
itself scores correct on the task).
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass, field
from typing import Any

from teacher.distil_errors import EndpointError
from teacher.drafts import ToolDraft, parse_drafts
from teacher.prompts import Prompt
from teacher.trajectory import TeacherTrajectory
from toolbox.analysis import build_spec
from toolbox.errors import LLMError
from toolbox.llm.base import ChatMessage, ChatModel, ChatResponse
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.settings import TeacherSettings
from toolbox.spec import CompareMode, Provenance, ToolSpec, ToolTest
from toolbox.tasks import score

__all__ = ["DraftAnswer", "TokenCount", "ask_distiller", "ask_for_drafts", "build_candidate", "extraction_code",
           "extraction_prompt", "mine_tests", "teacher_tests", "tool_name"]

SYSTEM = "You are an expert Python engineer who turns worked solutions into small, general, tested tools."


@dataclass
class DraftAnswer:
    """The drafts of one teacher answer and what the call cost."""

    drafts: list[ToolDraft]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    raw: str = ""


@dataclass
class TokenCount:
    """Tokens spent by teacher calls, summed (also when a call's answer was unusable)."""

    prompt: int = 0
    completion: int = 0
    calls: int = field(default=0)


async def ask_distiller(model: ChatModel, prompt: str, settings: TeacherSettings, tokens: TokenCount,
                        timeout_s: float | None = None, *, max_tokens: int | None = None) -> ChatResponse:
    """One distil request (the engineer's system prompt, then ``prompt``), its tokens counted.

    ``EndpointError`` when the endpoint failed or took longer than ``timeout_s``.
    """
    messages = [ChatMessage.system(SYSTEM), ChatMessage.user(prompt)]
    try:
        call = model.chat(messages, temperature=settings.temperature, max_tokens=max_tokens or settings.max_tokens)
        response = await (asyncio.wait_for(call, timeout_s) if timeout_s else call)
    except TimeoutError as exc:
        raise EndpointError(f"the teacher endpoint timed out after {timeout_s} s") from exc
    except LLMError as exc:
        raise EndpointError(f"the teacher endpoint failed: {exc}") from exc
    tokens.prompt += response.usage.prompt_tokens
    tokens.completion += response.usage.completion_tokens
    tokens.calls += 1
    return response


async def ask_for_drafts(model: ChatModel, prompt: str, settings: TeacherSettings, tokens: TokenCount,
                         timeout_s: float | None = None) -> DraftAnswer:
    """Ask the teacher ``prompt``; its drafts, or ``DraftError`` saying why there are none.

    ``EndpointError`` (a ``DraftError``) when the endpoint failed or took longer than ``timeout_s``.
    """
    response = await ask_distiller(model, prompt, settings, tokens, timeout_s,
                                   max_tokens=max(settings.max_tokens, 1024))
    text = response.content or ""
    return DraftAnswer(parse_drafts(text), response.usage.prompt_tokens, response.usage.completion_tokens, text)


def extraction_code(trajectory: TeacherTrajectory) -> str:
    """The cells of ``trajectory`` that ran cleanly, each in a ```python block, for a distil prompt."""
    return "\n\n".join(f"```python\n{c.strip()}\n```" for c in trajectory.successful_code) or "(no code ran)"


def extraction_prompt(prompt: Prompt, trajectory: TeacherTrajectory) -> str:
    """The extraction prompt for ``trajectory``: its question, the code that ran, the answer."""
    return prompt.render(family=trajectory.task.family, question=trajectory.task.question,
                         code=extraction_code(trajectory), final_answer=trajectory.final_answer or "(none)")


def tool_name(draft: ToolDraft, fallback: str) -> str:
    """A registry-valid tool name from the draft's name (or the fallback entrypoint)."""
    raw = (draft.name or fallback).strip().lower()
    name = re.sub(r"[^a-z0-9_]+", "_", raw).strip("_")
    if not name or not name[0].isalpha():
        name = f"tool_{name}".rstrip("_")
    return name[:64]


def build_candidate(draft: ToolDraft, *, namespace: str, allowed_imports: list[str], provenance: Provenance,
                    tests: list[ToolTest], tags: list[str]) -> ToolSpec:
    """Statically check the draft and build its spec (``AnalysisError``/``SpecError`` when it fails)."""
    spec = build_spec(draft.source, namespace=namespace, tests=tests, allowed_imports=allowed_imports,
                      provenance=provenance, tags=tags)
    return spec.model_copy(update={"name": tool_name(draft, spec.entrypoint)})


def _compare_mode(value: Any) -> CompareMode:
    return CompareMode.approx if isinstance(value, float) and math.isfinite(value) else CompareMode.exact


def teacher_tests(draft: ToolDraft) -> list[ToolTest]:
    """The general-case tests the teacher wrote (malformed ones dropped)."""
    tests: list[ToolTest] = []
    for raw in draft.tests:
        try:
            test = ToolTest.model_validate({k: v for k, v in raw.items() if k in ("args", "expected", "compare")})
        except ValueError:
            continue
        tests.append(test)
    return tests


def mine_tests(sandbox: Sandbox, spec: ToolSpec, draft: ToolDraft, trajectory: TeacherTrajectory,
               limits: Limits) -> tuple[list[ToolTest], list[str]]:
    """Tests from the trajectory's own inputs, and the problems found while mining them.

    Each input is run in the sandbox; its output becomes the expected value when the trajectory was
    verified correct. A solver whose output on the task's inputs does not score correct is a problem.
    """
    mined: list[ToolTest] = []
    problems: list[str] = []
    if trajectory.correct is not True:
        return mined, problems
    properties = set((spec.input_schema.get("properties") or {}).keys())
    for args in draft.trajectory_inputs:
        if not set(args) <= properties:
            problems.append(f"trajectory input {args!r} names parameters the tool does not have "
                            f"({', '.join(sorted(properties))})")
            continue
        result = sandbox.run(spec, dict(args), limits)
        if not result.ok:
            failure = result.error.type + ": " + result.error.message if result.error else "the call failed"
            problems.append(f"the tool fails on the task's own inputs {args!r}: {failure}")
            continue
        if draft.role == "solver":
            verdict = score(trajectory.task, str(result.value))
            if not verdict.correct:
                problems.append(f"on the task's own inputs {args!r} the tool returns {result.value!r}, which is "
                                f"not a correct answer ({verdict.reason})")
                continue
        mined.append(ToolTest(args=dict(args), expected=result.value, compare=_compare_mode(result.value)))
    return mined, problems

