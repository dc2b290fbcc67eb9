"""The differential test: do two tools give the same outputs on each other's test inputs?

Publishing uses it to tell a near-duplicate from a real equivalent; the teacher can use it without a
database. Both tools run in the sandbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from toolbox.fingerprint import parameter_names, signature_shape
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.spec import CompareMode, ToolSpec
from toolbox.validate import compare

__all__ = ["DifferentialResult", "differential_test"]


@dataclass
class DifferentialResult:
    """Both tools run on the union of their test inputs: equivalent iff every output matched."""

    equivalent: bool
    inputs: int
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for validation reports and link details."""
        return {"equivalent": self.equivalent, "inputs": self.inputs, "mismatches": self.mismatches}


def _renaming(source: ToolSpec, target: ToolSpec) -> dict[str, str] | None:
    """``source``'s parameter names to ``target``'s, by position, when the two have the same shape."""
    source_names, target_names = parameter_names(source.input_schema), parameter_names(target.input_schema)
    if source_names == target_names or signature_shape(source.input_schema) != signature_shape(target.input_schema):
        return None
    return dict(zip(source_names, target_names, strict=True))


def _as_args_of(args: dict[str, Any], renaming: dict[str, str] | None, target: ToolSpec) -> dict[str, Any]:
    """``args`` written for one tool, as the other (``target``) takes them."""
    if renaming is None or set(args) <= set(parameter_names(target.input_schema)):
        return args  # same names (or names the target shares): keyword arguments carry over
    return {renaming.get(name, name): value for name, value in args.items()}


def differential_test(sandbox: Sandbox, new: ToolSpec, old: ToolSpec,
                      limits: Limits | None = None) -> DifferentialResult:
    """Run ``new`` and ``old`` on each other's test inputs (and their own); stop at the first difference.

    When the parameter names differ but the signatures have the same shape (types by position,
    ``toolbox.fingerprint.signature_shape``), arguments are aligned by position: ``mean(values)``'s
    tests call ``average(numbers)`` with ``numbers``. Otherwise an error on either side counts as a
    difference (a parameter-name mismatch shows up that way). Floats compare approximately, and
    tools with no test inputs at all are never equivalent.
    """
    to_old, to_new = _renaming(new, old), _renaming(old, new)
    inputs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for test in new.tests:
        pair = (test.args, _as_args_of(test.args, to_old, old))
        inputs.setdefault(json.dumps(pair[0], sort_keys=True, default=str), pair)
    for test in old.tests:
        pair = (_as_args_of(test.args, to_new, new), test.args)
        inputs.setdefault(json.dumps(pair[0], sort_keys=True, default=str), pair)
    if not inputs:
        return DifferentialResult(False, 0, [{"reason": "neither tool has test inputs to compare on"}])
    for new_args, old_args in inputs.values():
        ours, theirs = sandbox.run(new, new_args, limits), sandbox.run(old, old_args, limits)
        if not (ours.ok and theirs.ok):
            failure = ours.error if not ours.ok else theirs.error
            side = "new" if not ours.ok else "existing"
            detail = f"{failure.type}: {failure.message}" if failure else "failed"
            return DifferentialResult(False, len(inputs), [{"args": new_args,
                                                            "reason": f"{side} tool failed: {detail}"}])
        if not compare(theirs.value, ours.value, CompareMode.approx):
            return DifferentialResult(False, len(inputs), [{"args": new_args, "new": ours.value,
                                                            "existing": theirs.value, "reason": "outputs differ"}])
    return DifferentialResult(True, len(inputs))
