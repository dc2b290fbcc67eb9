"""The held-out gate: a tool must also work on fresh instances of its family that the teacher never saw.

Which check applies is recorded in ``HoldoutResult.check``:

- ``scored-by-parameters``: countdown/game24-shaped tools (a list of integers, and a target) are
  called with each fresh task's ``numbers``/``target`` mapped by parameter name and type, and the
  output is scored with the task's own scorer.
- ``scored-by-metadata`` / ``ran-by-metadata``: a tool without an adapter whose every parameter, in
  the trajectory's own call, equals exactly one field of the task's generator metadata (reasoning-gym's
  ``number``, ``source_base`` ...) is called with those fields of each fresh task.
- ``scored-with-adapter``: other solvers run through the teacher's ``parse_question`` adapter
  (adapter and tool together, in the sandbox) and the output is scored.
- ``ran-by-parameters`` / ``ran-with-adapter``: a helper (one step, not the answer) must only run
  without error on the fresh inputs.
- ``no-generator``: the family has no generator, or the gate is off (``holdout_instances = 0``).

Families that mix kinds of question (reasoning-gym's ``calendar_arithmetic``: weekday of a date,
recurring events, ...) are sampled for instances of the task's own kind (``meta.rg_metadata.task``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from teacher.drafts import ToolDraft
from toolbox.errors import ToolboxError
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.spec import ToolSpec
from toolbox.tasks import Task, families, make_tasks, score

__all__ = ["HoldoutCheck", "HoldoutResult", "countdown_arguments", "fresh_instances", "holdout_gate",
           "metadata_keys"]

HoldoutCheck = Literal["scored-by-parameters", "ran-by-parameters", "scored-by-metadata", "ran-by-metadata",
                       "scored-with-adapter", "ran-with-adapter", "no-generator", "no-adapter"]
_TARGET_NAMES = ("target", "goal", "total", "value", "result")
_ADAPTED_ENTRY = "distillery_holdout_entry"
_MIXED_POOL = 12
"""Families that mix kinds of question (calendar_arithmetic) draw k x this many, keeping the task's kind."""


class HoldoutResult(BaseModel):
    """What the gate checked on how many fresh instances, and what failed."""

    check: HoldoutCheck
    passed: bool
    instances: int = 0
    failures: list[str] = Field(default_factory=list)

    @property
    def reason(self) -> str:
        """A one-line reason for a failed gate."""
        return f"held-out gate ({self.check}) failed: " + "; ".join(self.failures[:3])


def _is_int_list(schema: Any) -> bool:
    items = schema.get("items") if isinstance(schema, dict) and schema.get("type") == "array" else None
    return isinstance(items, dict) and items.get("type") in ("integer", "number")


def countdown_arguments(spec: ToolSpec, task: Task) -> dict[str, Any] | None:
    """Arguments for a countdown-shaped tool from a task's numbers and target, or None if it has no such shape."""
    properties: dict[str, Any] = spec.input_schema.get("properties") or {}
    required = set(spec.input_schema.get("required") or [])
    lists = [name for name, schema in properties.items() if _is_int_list(schema)]
    ints = [name for name, schema in properties.items()
            if isinstance(schema, dict) and schema.get("type") in ("integer", "number")]
    if len(lists) != 1 or task.numbers is None:
        return None
    args: dict[str, Any] = {lists[0]: list(task.numbers)}
    target = next((n for n in ints if n.lower() in _TARGET_NAMES), ints[0] if len(ints) == 1 else None)
    if target is not None and task.target is not None:
        args[target] = task.target
    if not required <= set(args):
        return None
    return args


def _adapted_spec(spec: ToolSpec, adapter: str) -> ToolSpec:
    source = (f"{spec.source.rstrip()}\n\n\n{adapter.strip()}\n\n\n"
              f"def {_ADAPTED_ENTRY}(question):\n"
              f"    return {spec.entrypoint}(**parse_question(question))\n")
    return ToolSpec(namespace=spec.namespace, name=f"{spec.name[:40]}_holdout", source=source,
                    entrypoint=_ADAPTED_ENTRY, input_schema={"type": "object", "properties": {
                        "question": {"type": "string"}}, "required": ["question"]},
                    allowed_imports=spec.allowed_imports)


def _rg_metadata(task: Task) -> dict[str, Any]:
    metadata = task.meta.get("rg_metadata")
    return metadata if isinstance(metadata, dict) else {}


def metadata_keys(draft: ToolDraft, task: Task) -> dict[str, str] | None:
    """Parameter -> metadata field, when each of the draft's first trajectory input's values equals exactly
    one field of ``task``'s generator metadata (compared with their types); None otherwise."""
    metadata = {k: v for k, v in _rg_metadata(task).items() if k not in ("source_index", "source_dataset")}
    if not draft.trajectory_inputs or not metadata:
        return None
    keys: dict[str, str] = {}
    for param, value in draft.trajectory_inputs[0].items():
        matches = [k for k, v in metadata.items() if type(v) is type(value) and v == value]
        if len(matches) != 1:
            return None
        keys[param] = matches[0]
    return keys or None


def _subtype(task: Task) -> Any:
    metadata = task.meta.get("rg_metadata")
    return metadata.get("task") if isinstance(metadata, dict) else None


def fresh_instances(task: Task, k: int) -> list[Task]:
    """Up to ``k`` held-out instances of ``task``'s family, of the same kind where the family mixes kinds."""
    if k <= 0 or task.family not in families():
        return []
    kind = _subtype(task)
    try:
        pool = make_tasks(task.family, "holdout", k if kind is None else k * _MIXED_POOL)
    except ToolboxError:
        return []
    return [fresh for fresh in pool if _subtype(fresh) == kind][:k]


def _run_calls(sandbox: Sandbox, spec: ToolSpec, calls: list[tuple[Task, dict[str, Any]]], limits: Limits,
               check: HoldoutCheck) -> HoldoutResult:
    """Call ``spec`` once per (fresh task, arguments); a ``scored-*`` check also scores each output."""
    failures: list[str] = []
    for task, args in calls:
        result = sandbox.run(spec, args, limits)
        if not result.ok:
            failures.append(f"{task.id}: {result.error.type if result.error else 'error'}: "
                            f"{result.error.message if result.error else ''}"[:300])
        elif check.startswith("scored") and not (verdict := score(task, str(result.value))).correct:
            failures.append(f"{task.id}: returned {result.value!r} ({verdict.reason})"[:300])
    return HoldoutResult(check=check, passed=not failures, instances=len(calls), failures=failures)


def holdout_gate(sandbox: Sandbox, spec: ToolSpec, draft: ToolDraft, task: Task, k: int,
                 limits: Limits) -> HoldoutResult:
    """Run ``spec`` on ``k`` fresh instances like ``task``; see the module docstring for the checks."""
    tasks = fresh_instances(task, k)
    if not tasks:
        return HoldoutResult(check="no-generator", passed=True)
    shaped = [countdown_arguments(spec, task) for task in tasks]
    if all(args is not None for args in shaped):
        by_parameters: HoldoutCheck = "scored-by-parameters" if draft.role == "solver" else "ran-by-parameters"
        return _run_calls(sandbox, spec, [(t, a) for t, a in zip(tasks, shaped, strict=True) if a is not None],
                          limits, by_parameters)
    keys = metadata_keys(draft, task)
    if draft.parse_question is None and keys is not None:
        by_metadata: HoldoutCheck = "scored-by-metadata" if draft.role == "solver" else "ran-by-metadata"
        calls = [(fresh, {param: _rg_metadata(fresh).get(key) for param, key in keys.items()}) for fresh in tasks]
        return _run_calls(sandbox, spec, calls, limits, by_metadata)
    if draft.parse_question is None:
        return HoldoutResult(check="no-adapter", passed=False, instances=len(tasks), failures=[
            "the tool's parameters do not map to this family's tasks and no parse_question adapter was given"])
    adapted = _adapted_spec(spec, draft.parse_question)
    check: HoldoutCheck = "scored-with-adapter" if draft.role == "solver" else "ran-with-adapter"
    failures = []
    for task in tasks:
        result = sandbox.run(adapted, {"question": task.question}, limits)
        if not result.ok:
            failures.append(f"{task.id}: {result.error.type if result.error else 'error'}: "
                            f"{result.error.message if result.error else ''}"[:300])
        elif check == "scored-with-adapter" and not (verdict := score(task, str(result.value))).correct:
            failures.append(f"{task.id}: returned {result.value!r} ({verdict.reason})"[:300])
    return HoldoutResult(check=check, passed=not failures, instances=len(tasks), failures=failures)
