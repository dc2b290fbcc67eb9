"""One draft's way to a publishable tool: build → mine tests → generality → tests → held-out gate.

A failed generality check goes back to the teacher for abstraction, any other failure for repair,
sharing ``settings.teacher.repair_rounds`` rounds; what still fails is rejected with a reason key
(``analysis``, ``trajectory-mismatch``, ``hard-coded-constant``, ``all-string-parameters``,
``code-as-input``, ``no-tests``, ``tests-failed``, ``holdout-failed``) and the detail in words.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from teacher.abstract import abstract_draft
from teacher.distil_errors import DraftError
from teacher.drafts import ToolDraft
from teacher.extract import TokenCount, build_candidate, mine_tests, teacher_tests
from teacher.generality import Problem, check_generality
from teacher.holdout import holdout_gate
from teacher.prompts import Prompt
from teacher.repair import repair_draft
from teacher.trajectory import TeacherTrajectory
from toolbox.embeddings import Embedder
from toolbox.errors import AnalysisError, SpecError
from toolbox.llm.base import ChatModel
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.settings import Settings
from toolbox.spec import MAX_TESTS, Provenance, ToolSpec, ToolTest
from toolbox.validate import TestReport, run_tests

__all__ = ["DistilContext", "ToolOutcome", "refine_draft", "test_failure_summary"]


@dataclass
class DistilContext:
    """What every distil step needs: the teacher, the sandbox, settings, prompts and the token tally."""

    model: ChatModel
    sandbox: Sandbox
    settings: Settings
    limits: Limits
    prompts: dict[str, Prompt]
    tokens: TokenCount
    teacher_model: str
    timeout_s: float | None = None
    embedder: Embedder | None = None
    cluster_threshold: float = 0.8


class ToolOutcome(BaseModel):
    """What became of one draft: accepted (then published or not) or rejected, with the reason."""

    name: str
    outcome: Literal["accepted", "rejected", "flagged"]
    reason: str | None = None
    detail: str | None = None
    rounds: int = 0
    holdout_check: str | None = None
    publish: str | None = None
    version_id: str | None = None


@dataclass
class _Failure:
    reason: str
    detail: str
    fix: Literal["abstract", "repair"]
    problems: list[Problem] = field(default_factory=list)


def test_failure_summary(report: TestReport, limit: int = 3) -> str:
    """The first failing tests in words: call, expected, got (or the error)."""
    parts = []
    for outcome in [o for o in report.outcomes if not o.passed][:limit]:
        got = (f"raised {outcome.error.type}: {outcome.error.message}" if outcome.error
               else f"returned {outcome.actual!r}")
        parts.append(f"test {outcome.index} with args {outcome.args!r}: expected {outcome.expected!r}, {got}")
    return f"{report.failed} of {report.passed + report.failed} tests failed: " + "; ".join(parts)


def _merge_tests(mined: list[ToolTest], written: list[ToolTest]) -> list[ToolTest]:
    seen: set[str] = set()
    tests: list[ToolTest] = []
    for test in [*mined, *written]:
        key = repr(sorted(test.args.items(), key=lambda item: item[0]))
        if key not in seen:
            seen.add(key)
            tests.append(test)
    return tests[:MAX_TESTS]


def _inherit(new: ToolDraft, old: ToolDraft) -> ToolDraft:
    """A repaired draft keeps the old inputs, tests, adapter and role where the teacher left them out."""
    update: dict[str, Any] = {}
    for name in ("trajectory_inputs", "tests", "parse_question", "name"):
        if not getattr(new, name) and getattr(old, name):
            update[name] = getattr(old, name)
    return new.model_copy(update=update)


async def _attempt(ctx: DistilContext, draft: ToolDraft, trajectory: TeacherTrajectory,
                   namespace: str) -> tuple[ToolSpec, str] | _Failure:
    task = trajectory.task
    provenance = Provenance(teacher_model=ctx.teacher_model, task_ids=[task.id], trajectory_id=trajectory.id)
    allowed = list(ctx.settings.sandbox.allowed_imports)
    try:
        written = teacher_tests(draft)
        spec = build_candidate(draft, namespace=namespace, allowed_imports=allowed, provenance=provenance,
                               tests=written, tags=[task.family])
    except (AnalysisError, SpecError) as exc:
        return _Failure("analysis", str(exc), "repair")
    mined, problems = await asyncio.to_thread(mine_tests, ctx.sandbox, spec, draft, trajectory, ctx.limits)
    if problems:
        return _Failure("trajectory-mismatch", "; ".join(problems[:3]), "repair")
    spec = spec.model_copy(update={"tests": _merge_tests(mined, written)})
    general = check_generality(spec, task.question)
    if general:
        return _Failure(general[0].reason, "; ".join(str(p) for p in general[:4]), "abstract", general)
    report = await asyncio.to_thread(run_tests, ctx.sandbox, spec, ctx.limits)
    if not report.ok:
        return _Failure("tests-failed", test_failure_summary(report), "repair")
    holdout = await asyncio.to_thread(holdout_gate, ctx.sandbox, spec, draft, task,
                                      ctx.settings.teacher.holdout_instances, ctx.limits)
    if not holdout.passed:
        return _Failure("holdout-failed", holdout.reason, "repair")
    return spec, holdout.check


async def refine_draft(ctx: DistilContext, draft: ToolDraft, trajectory: TeacherTrajectory,
                       namespace: str) -> tuple[ToolSpec | None, ToolOutcome]:
    """Take ``draft`` through the checks, abstracting and repairing it; the spec (or None) and its outcome."""
    current = draft
    rounds = 0
    while True:
        result = await _attempt(ctx, current, trajectory, namespace)
        name = current.name or "tool"
        if not isinstance(result, _Failure):
            spec, check = result
            return spec, ToolOutcome(name=spec.name, outcome="accepted", rounds=rounds, holdout_check=check)
        if rounds >= ctx.settings.teacher.repair_rounds:
            return None, ToolOutcome(name=name, outcome="rejected", reason=result.reason, detail=result.detail,
                                     rounds=rounds)
        rounds += 1
        try:
            if result.fix == "abstract":
                answer = await abstract_draft(ctx.model, ctx.prompts["abstract"], current, trajectory.task.question,
                                              result.problems, ctx.settings.teacher, ctx.tokens, ctx.timeout_s)
            else:
                answer = await repair_draft(ctx.model, ctx.prompts["repair"], current,
                                            f"{result.reason}: {result.detail}", ctx.settings.teacher, ctx.tokens,
                                            ctx.timeout_s)
        except DraftError as exc:
            return None, ToolOutcome(name=name, outcome="rejected", reason=result.reason,
                                     detail=f"{result.detail} (the {result.fix} round failed: {exc})", rounds=rounds)
        current = _inherit(answer.drafts[0], current)

