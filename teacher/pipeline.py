"""The teacher's run: tasks → solve → store trajectory → extract → checks → publish → consolidate.

``Teacher.run`` solves up to ``concurrency`` tasks at once. Each finished task is journalled
(``teacher.state``) before the next report, so a rerun skips it. Nothing a task does wrong stops
the run: a failed solve, an unusable answer, a tool that fails its checks or a registry that
refuses are all counted in the ``RunReport`` with their reason.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from teacher.candidates import DistilContext, ToolOutcome, refine_draft
from teacher.cluster import DEFAULT_THRESHOLD
from teacher.code_drafts import defines_functions, drafts_from_code, with_trajectory_code
from teacher.distil_errors import BoxWriteError, DraftError, EndpointError
from teacher.drafts import ToolDraft
from teacher.extract import TokenCount, ask_for_drafts, extraction_prompt
from teacher.lift import lift_prompt, lift_to_function
from teacher.prompts import load_prompt
from teacher.publishing import BoxTool, BoxWriter
from teacher.solve import box_session_functions, solve_task
from teacher.state import JournalEntry, RunJournal
from teacher.trajectory import TeacherTrajectory
from toolbox.embeddings import Embedder
from toolbox.errors import ToolboxError
from toolbox.llm.base import ChatModel
from toolbox.logging import get_logger
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.sandbox.session import SessionFunction
from toolbox.settings import Settings
from toolbox.spec import ToolSpec
from toolbox.tasks import Task

__all__ = ["MAX_TOOLS_PER_TASK", "ProgressEvent", "RunReport", "Teacher"]

log = get_logger("teacher.pipeline")
MAX_TOOLS_PER_TASK = 3
_PUBLISHED = {"new_tool", "new_version"}
_MERGED = {"duplicate_of", "equivalent_to"}


class RunReport(BaseModel):
    """What one ``distillery teach`` run did."""

    run_id: str
    namespace: str
    teacher_model: str
    tasks_total: int = 0
    tasks_skipped: int = Field(default=0, description="Finished by an earlier run of the same journal.")
    tasks_run: int = 0
    tasks_solved: int = 0
    tools_extracted: int = 0
    tools_accepted: int = 0
    rejected: dict[str, int] = Field(default_factory=dict, description="reason -> count")
    published: int = 0
    duplicates_merged: int = 0
    consolidations: int = 0
    holdout_checks: dict[str, int] = Field(default_factory=dict, description="check -> accepted tools")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_seconds: float = 0.0
    box: list[str] = Field(default_factory=list, description="Tools published by this run: 'name: description'.")


@dataclass(frozen=True)
class ProgressEvent:
    """Sent after each finished task (and once after consolidation) for a progress display."""

    tasks_done: int
    tasks_total: int
    tools_published: int
    tokens: int
    message: str


@dataclass
class _Tally:
    rejected: Counter[str] = field(default_factory=Counter)
    holdout: Counter[str] = field(default_factory=Counter)
    solved: int = 0
    extracted: int = 0
    accepted: int = 0
    published: int = 0
    merged: int = 0
    new_versions: list[BoxTool] = field(default_factory=list)
    box: list[str] = field(default_factory=list)


class Teacher:
    """Distils a box from tasks: solve each, turn what worked into tested tools, publish them."""

    def __init__(self, *, model: ChatModel, writer: BoxWriter, sandbox: Sandbox, settings: Settings,
                 journal: RunJournal, run_id: str, teacher_model: str, namespace: str | None = None,
                 activate: bool = False, ftp: bool = False, prefill_supported: bool = False,
                 consolidate: bool = True, timeout_s: float | None = None, embedder: Embedder | None = None,
                 cluster_threshold: float = DEFAULT_THRESHOLD,
                 on_progress: Callable[[ProgressEvent], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``writer`` is where tools and trajectories go; ``journal`` makes the run resumable.

        ``embedder`` (default: the configured one) and ``cluster_threshold`` drive clustering.
        """
        self.model = model
        self.writer = writer
        self.sandbox = sandbox
        self.settings = settings
        self.journal = journal
        self.run_id = run_id
        self.teacher_model = teacher_model
        self.namespace = namespace or settings.teacher.namespace
        self.activate = activate
        self.ftp = ftp
        self.prefill_supported = prefill_supported
        self.consolidate = consolidate
        self.on_progress = on_progress
        self.clock = clock
        self.limits = Limits.from_settings(settings.sandbox)
        self.tokens = TokenCount()
        prompts = {name: load_prompt(name) for name in ("extract", "lift", "abstract", "repair", "consolidate")}
        self.context = DistilContext(model=model, sandbox=sandbox, settings=settings, limits=self.limits,
                                     prompts=prompts, tokens=self.tokens, teacher_model=teacher_model,
                                     timeout_s=timeout_s, embedder=embedder, cluster_threshold=cluster_threshold)

    async def run(self, tasks: Sequence[Task]) -> RunReport:
        """Teach from ``tasks`` (skipping those the journal has finished) and report what happened."""
        started = self.clock()
        finished = self.journal.finished()
        todo = [task for task in tasks if task.id not in finished]
        tally = _Tally()
        box = await asyncio.to_thread(self.writer.box_tools, self.namespace)
        functions = box_session_functions([tool.spec for tool in box], self.sandbox, self.limits)
        gate = asyncio.Semaphore(self.settings.teacher.concurrency)
        done = [0]

        async def one(task: Task) -> None:
            async with gate:
                try:
                    entry = await self._task(task, functions, tally)
                except ToolboxError as exc:  # e.g. the sandbox broke: not journalled, so a rerun retries it
                    log.error("task %s could not be finished: %s", task.id, exc)
                    tally.rejected["task-error"] += 1
                    done[0] += 1
                    self._progress(done[0], len(todo), tally, f"{task.id}: error")
                    return
            await asyncio.to_thread(self.journal.append, entry)
            done[0] += 1
            self._progress(done[0], len(todo), tally, f"{task.id}: {entry.status}")

        await asyncio.gather(*(one(task) for task in todo))
        consolidations = 0
        if self.consolidate and tally.new_versions:
            from teacher.consolidate import consolidate_batch

            result = await consolidate_batch(self.context, self.writer, tally.new_versions, self.namespace,
                                             activate=self.activate)
            consolidations = result.consolidations
            tally.rejected.update(result.rejected)
            tally.box.extend(result.box)
            self._progress(done[0], len(todo), tally, f"{consolidations} consolidations")
        return RunReport(
            run_id=self.run_id, namespace=self.namespace, teacher_model=self.teacher_model,
            tasks_total=len(tasks), tasks_skipped=len(tasks) - len(todo), tasks_run=len(todo),
            tasks_solved=tally.solved, tools_extracted=tally.extracted, tools_accepted=tally.accepted,
            rejected=dict(tally.rejected.most_common()), published=tally.published, duplicates_merged=tally.merged,
            consolidations=consolidations, holdout_checks=dict(tally.holdout), prompt_tokens=self.tokens.prompt,
            completion_tokens=self.tokens.completion, wall_seconds=round(self.clock() - started, 3), box=tally.box)

    def _progress(self, done: int, total: int, tally: _Tally, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(done, total, tally.published, self.tokens.prompt + self.tokens.completion,
                                           message))

    async def _task(self, task: Task, functions: Sequence[SessionFunction], tally: _Tally) -> JournalEntry:
        trajectory = await solve_task(
            task, model=self.model, sandbox_settings=self.settings.sandbox, functions=functions,
            settings=self.settings.teacher, run_id=self.run_id, teacher_model=self.teacher_model, ftp=self.ftp,
            prefill_supported=self.prefill_supported, limits=self.limits)
        self.tokens.prompt += trajectory.prompt_tokens
        self.tokens.completion += trajectory.completion_tokens
        try:
            await asyncio.to_thread(self.writer.record_trajectory, trajectory.to_record())
        except BoxWriteError as exc:
            log.warning("task %s: the trajectory was not stored: %s", task.id, exc)
            tally.rejected["trajectory-not-stored"] += 1
        entry = JournalEntry(task_id=task.id, trajectory_id=trajectory.id, status=trajectory.status,
                             prompt_tokens=trajectory.prompt_tokens, completion_tokens=trajectory.completion_tokens)
        if trajectory.status != "solved" or trajectory.correct is False:
            return entry
        tally.solved += 1
        outcomes = await self._distil(trajectory, tally)
        return entry.model_copy(update={"tools": [o.model_dump(exclude_none=True) for o in outcomes]})

    async def _distil(self, trajectory: TeacherTrajectory, tally: _Tally) -> list[ToolOutcome]:
        drafts, reason, detail = await self._drafts(trajectory)
        if not drafts:
            tally.rejected[reason] += 1
            return [ToolOutcome(name="(none)", outcome="rejected", reason=reason, detail=detail)]
        outcomes = []
        for draft in drafts[:MAX_TOOLS_PER_TASK]:
            tally.extracted += 1
            try:
                spec, outcome = await refine_draft(self.context, draft, trajectory, self.namespace)
            except ToolboxError as exc:  # the sandbox failed, not the tool
                spec, outcome = None, ToolOutcome(name=draft.name or "tool", outcome="rejected",
                                                  reason="sandbox-error", detail=str(exc))
            if spec is None:
                tally.rejected[outcome.reason or "rejected"] += 1
                log.info("task %s: tool %s rejected (%s): %s", trajectory.task.id, outcome.name, outcome.reason,
                         outcome.detail)
            else:
                tally.accepted += 1
                tally.holdout[outcome.holdout_check or "none"] += 1
                outcome = await self._publish(spec, outcome, tally)
            outcomes.append(outcome)
        return outcomes

    async def _drafts(self, trajectory: TeacherTrajectory) -> tuple[list[ToolDraft], str, str]:
        """The drafts of a solved trajectory, or none with the reason and its detail.

        The extraction answer's drafts come first (with the trajectory's own functions where a
        draft's source is no code); without any function there, the trajectory's functions; without
        those, one request to lift the solving script into a function.
        """
        prompt = extraction_prompt(self.context.prompts["extract"], trajectory)
        timeout = self.context.timeout_s
        try:
            answer = await ask_for_drafts(self.model, prompt, self.settings.teacher, self.tokens, timeout)
        except EndpointError as exc:
            return [], "teacher-endpoint-failed", str(exc)
        except DraftError as exc:
            drafts, why = drafts_from_code(trajectory), str(exc)
        else:
            drafts, why = with_trajectory_code(answer.drafts, trajectory), "the extraction answer defines no function"
        if any(defines_functions(draft.source) for draft in drafts):
            return drafts, "", ""
        try:
            lifted = await lift_to_function(self.model, lift_prompt(self.context.prompts["lift"], trajectory),
                                            trajectory, self.settings.teacher, self.tokens, timeout)
        except EndpointError as exc:
            return [], "teacher-endpoint-failed", str(exc)
        log.info("task %s: %s; %d draft(s) lifted from the solving script", trajectory.task.id, why, len(lifted))
        if lifted or drafts:  # drafts without code yet still get their repair rounds
            return lifted or drafts, "", ""
        return [], "no-tool-in-answer", f"{why}, and the script could not be lifted into one"

    async def _publish(self, spec: ToolSpec, outcome: ToolOutcome, tally: _Tally) -> ToolOutcome:
        try:
            published = await asyncio.to_thread(self.writer.publish, spec, activate=self.activate,
                                                changelog=f"distilled by run {self.run_id}")
        except BoxWriteError as exc:
            tally.rejected["publish-failed"] += 1
            return outcome.model_copy(update={"outcome": "rejected", "reason": "publish-failed", "detail": str(exc)})
        version_id = published.version.id if published.version else None
        update: dict[str, object] = {"publish": published.kind, "version_id": version_id}
        if published.kind in _PUBLISHED and version_id is not None and published.review_findings:
            tally.rejected["flagged-for-review"] += 1  # stored as a draft that is not served until approved
            log.warning("tool %s was flagged for review: %s", spec.qualified_name, "; ".join(published.reasons))
            update |= {"outcome": "flagged", "reason": "flagged-for-review", "detail": "; ".join(published.reasons)}
        elif published.kind in _PUBLISHED and version_id is not None:
            tally.published += 1
            tally.new_versions.append(BoxTool(version_id, spec))
            tally.box.append(f"{spec.name}: {spec.description.splitlines()[0] if spec.description else ''}")
        elif published.kind in _MERGED:
            tally.merged += 1
        else:
            tally.rejected["publish-rejected"] += 1
            update |= {"outcome": "rejected", "reason": "publish-rejected", "detail": "; ".join(published.reasons)}
        return outcome.model_copy(update=update)
