"""Self-consistent action generation (Kang et al.), with final answers in the vote.

Given the candidate actions of one step: drop those that did not parse, name an unknown tool or
break the schema; execute each distinct call once (keyed by tool and canonical arguments, or by the
code of a cell); group the rest by normalised observation, and final answers (stated, or set by a
code cell) by normalised answer; the largest group wins, ties going to the group whose first member
came first. Groups of failed calls only win when nothing succeeded. The winner is never executed
again: its cached observation is the step's observation. Every candidate stays in the trace.

In ``code`` mode the losing cells have run in the same session, so their variables remain (as in the
reference implementation); the session offers no fork.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from student.actions import Action, Candidate, CodeAction, FinalAnswer, ToolAction, canonical_arguments
from student.connection import Observation
from student.trace import CandidateTrace

__all__ = ["Executor", "Validator", "Vote", "execution_key", "normalise_answer", "normalise_observation", "vote"]

Executor = Callable[[Action], Awaitable[Observation]]
Validator = Callable[[Action], str | None]
GroupKey = tuple[str, bool, str]


@dataclass(frozen=True)
class Vote:
    """The outcome of one step's vote: the winner (None when no candidate was usable) and the traces."""

    chosen: Candidate | None
    observation: Observation
    traces: list[CandidateTrace]
    executions: int


def normalise_observation(text: str) -> str:
    """Observation text with runs of whitespace collapsed."""
    return " ".join(text.split())


def normalise_answer(answer: str) -> str:
    """An answer compared loosely: case, surrounding whitespace, quotes and a final full stop ignored."""
    text = " ".join(answer.split()).strip().strip("\"'`").rstrip(".").strip()
    return re.sub(r"\s*([+\-*/=()])\s*", r"\1", text.lower())


def execution_key(action: Action) -> str | None:
    """What identifies an execution of ``action`` (None for a final answer, which runs nothing)."""
    if isinstance(action, ToolAction):
        return f"tool:{action.tool}:{canonical_arguments(action.arguments)}"
    if isinstance(action, CodeAction):
        return f"code:{action.code.strip()}"
    return None


def final_of(observation: Observation) -> str | None:
    """The final answer a code cell set, when it did."""
    structured = observation.structured
    if isinstance(structured, dict) and structured.get("final_answer") is not None:
        return str(structured["final_answer"])
    return None


def _group_key(action: Action, observation: Observation | None) -> GroupKey:
    if isinstance(action, FinalAnswer):
        return ("final", True, normalise_answer(action.answer))
    assert observation is not None
    final = final_of(observation)
    if final is not None:
        return ("final", True, normalise_answer(final))
    return ("obs", observation.ok, normalise_observation(observation.text))


async def vote(candidates: Sequence[Candidate], validate: Validator, execute: Executor) -> Vote:
    """Validate, execute (each distinct call once) and vote over one step's candidates."""
    cache: dict[str, Observation] = {}
    traces: list[CandidateTrace] = []
    groups: dict[GroupKey, list[int]] = {}
    observations: dict[int, Observation] = {}
    for candidate in candidates:
        trace = CandidateTrace(index=candidate.index, raw=candidate.raw, action=candidate.action,
                               problem=candidate.problem)
        action = candidate.action
        problem = candidate.problem if action is None else validate(action)
        if action is None or problem is not None:
            traces.append(trace.model_copy(update={"problem": problem}))
            continue
        key = execution_key(action)
        observation: Observation | None = None
        if key is not None:
            if key not in cache:
                cache[key] = await execute(action)
            observation = cache[key]
            observations[candidate.index] = observation
        group_key = _group_key(action, observation)
        groups.setdefault(group_key, []).append(len(traces))
        traces.append(trace.model_copy(update={
            "observation": observation.text if observation else None, "ok": observation.ok if observation else True}))
    if not groups:
        problem = next((t.problem for t in traces if t.problem), None) or "The model gave no usable action."
        return Vote(chosen=None, observation=Observation(ok=False, text=f"ERROR: {problem}"), traces=traces,
                    executions=len(cache))
    ordered = list(groups.items())
    succeeded = [item for item in ordered if item[0][1]] or ordered
    best = max(succeeded, key=lambda item: (len(item[1]), -item[1][0]))
    winner_position = best[1][0]
    for number, (_key, members) in enumerate(ordered):
        for position in members:
            traces[position] = traces[position].model_copy(update={"group": number})
    traces[winner_position] = traces[winner_position].model_copy(update={"chosen": True})
    chosen = next(c for c in candidates if c.index == traces[winner_position].index)
    observation = observations.get(chosen.index)
    if observation is None:  # a final answer
        assert isinstance(chosen.action, FinalAnswer)
        observation = Observation(ok=True, text=chosen.action.answer)
    return Vote(chosen=chosen, observation=observation, traces=traces, executions=len(cache))
