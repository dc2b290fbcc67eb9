"""Consolidation: for each cluster the teacher writes one tool whose parameters cover every member.

The consolidated tool must pass the union of the members' tests, each translated by the teacher's
``arg_maps`` (renamed parameters, fixed mode values), plus the tests it wrote itself; failures go
back for repair. It is published as superseding the members (``supersedes``: the registry writes
``consolidates`` links and deprecates them with the replacement), with the members as parents.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from teacher.candidates import DistilContext, test_failure_summary
from teacher.cluster import Member, cluster_tools
from teacher.distil_errors import BoxWriteError, DraftError
from teacher.drafts import ToolDraft
from teacher.extract import ask_for_drafts, build_candidate, teacher_tests
from teacher.generality import check_generality
from teacher.publishing import BoxTool, BoxWriter
from teacher.repair import repair_draft
from toolbox.embeddings import create_embedder
from toolbox.errors import AnalysisError, SpecError
from toolbox.logging import get_logger
from toolbox.spec import MAX_TESTS, Provenance, ToolSpec, ToolTest
from toolbox.validate import run_tests

__all__ = ["ConsolidationResult", "consolidate_batch", "consolidate_group", "translate_tests"]

log = get_logger("teacher.consolidate")


@dataclass
class ConsolidationResult:
    """What consolidating a batch did."""

    consolidations: int = 0
    groups: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    box: list[str] = field(default_factory=list)
    version_ids: list[str] = field(default_factory=list)


def translate_tests(member: ToolSpec, arg_map: dict[str, Any]) -> list[ToolTest]:
    """``member``'s tests as calls of the consolidated tool: parameters renamed, fixed values added."""
    raw_rename, raw_fixed = arg_map.get("rename"), arg_map.get("fixed")
    rename: dict[str, Any] = raw_rename if isinstance(raw_rename, dict) else {}
    fixed: dict[str, Any] = raw_fixed if isinstance(raw_fixed, dict) else {}
    return [test.model_copy(update={"args": {**{str(rename.get(k, k)): v for k, v in test.args.items()}, **fixed}})
            for test in member.tests]


def _members_text(members: Sequence[Member]) -> str:
    blocks = []
    for member in members:
        spec = member.tool.spec
        tests = json.dumps([t.model_dump(mode="json") for t in spec.tests[:8]], default=str)
        blocks.append(f"### {spec.name} (version {member.tool.version_id})\n```python\n{spec.source.strip()}\n```\n"
                      f"Tests: {tests}")
    return "\n\n".join(blocks)


def _union_tests(draft: ToolDraft, members: Sequence[Member]) -> list[ToolTest]:
    tests: list[ToolTest] = []
    for member in members:
        tests += translate_tests(member.tool.spec, draft.arg_maps.get(member.tool.spec.name, {}))
    return (tests + teacher_tests(draft))[:MAX_TESTS]


async def _check(ctx: DistilContext, draft: ToolDraft, members: Sequence[Member], namespace: str) -> ToolSpec | str:
    parents = [m.tool.version_id for m in members]
    provenance = Provenance(teacher_model=ctx.teacher_model, parent_version_ids=parents)
    tags = sorted({tag for m in members for tag in m.tool.spec.tags})
    try:
        spec = build_candidate(draft, namespace=namespace, allowed_imports=list(ctx.settings.sandbox.allowed_imports),
                               provenance=provenance, tests=_union_tests(draft, members), tags=tags)
    except (AnalysisError, SpecError) as exc:
        return f"analysis: {exc}"
    problems = check_generality(spec, "")
    if problems:
        return "; ".join(str(p) for p in problems)
    report = await asyncio.to_thread(run_tests, ctx.sandbox, spec, ctx.limits)
    return spec if report.ok else f"the union of the members' tests: {test_failure_summary(report)}"


async def consolidate_group(ctx: DistilContext, members: Sequence[Member], namespace: str) -> ToolSpec | str:
    """The consolidated spec of ``members``, or why the teacher could not write one."""
    prompt = ctx.prompts["consolidate"].render(members=_members_text(members))
    try:
        draft = (await ask_for_drafts(ctx.model, prompt, ctx.settings.teacher, ctx.tokens, ctx.timeout_s)).drafts[0]
    except DraftError as exc:
        return str(exc)
    for _round in range(ctx.settings.teacher.repair_rounds + 1):
        checked = await _check(ctx, draft, members, namespace)
        if isinstance(checked, ToolSpec) or _round == ctx.settings.teacher.repair_rounds:
            return checked
        try:
            repaired = await repair_draft(ctx.model, ctx.prompts["repair"], draft, checked, ctx.settings.teacher,
                                          ctx.tokens, ctx.timeout_s)
        except DraftError as exc:
            return f"{checked} (the repair round failed: {exc})"
        draft = repaired.drafts[0].model_copy(update={"arg_maps": repaired.drafts[0].arg_maps or draft.arg_maps})
    raise AssertionError("unreachable")  # pragma: no cover


async def consolidate_batch(ctx: DistilContext, writer: BoxWriter, new: Sequence[BoxTool], namespace: str, *,
                            activate: bool) -> ConsolidationResult:
    """Cluster ``new`` with the box's tools and publish one consolidated tool per cluster."""
    result = ConsolidationResult()
    box = await asyncio.to_thread(writer.box_tools, namespace)
    embedder = ctx.embedder or create_embedder(ctx.settings.embeddings)
    groups = await asyncio.to_thread(cluster_tools, ctx.sandbox, embedder, new, box, limits=None,
                                     threshold=ctx.cluster_threshold)
    result.groups = len(groups)
    for members in groups:
        names = ", ".join(m.tool.spec.name for m in members)
        spec = await consolidate_group(ctx, members, namespace)
        if isinstance(spec, str):
            result.rejected["consolidation-failed"] += 1
            log.info("cluster %s: not consolidated: %s", names, spec)
            continue
        try:
            outcome = await asyncio.to_thread(writer.publish, spec, activate=activate,
                                              changelog=f"consolidates {names}",
                                              supersedes=[m.tool.version_id for m in members])
        except BoxWriteError as exc:
            result.rejected["consolidation-not-published"] += 1
            log.warning("cluster %s: %s", names, exc)
            continue
        if outcome.kind in ("new_tool", "new_version") and outcome.version is not None:
            result.consolidations += 1
            result.version_ids.append(outcome.version.id)
            result.box.append(f"{spec.name}: {spec.description.splitlines()[0] if spec.description else ''}"
                              f" (consolidates {names})")
        else:
            result.rejected["consolidation-not-published"] += 1
            log.info("cluster %s: the registry answered %s: %s", names, outcome.kind, "; ".join(outcome.reasons))
    return result
