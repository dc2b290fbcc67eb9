"""Run a tool's tests in a sandbox and compare results with what the tests expect.

Comparison modes (``toolbox.spec.CompareMode``):

* ``exact``: equal after a JSON round trip (tuples equal lists, ``2 == 2.0``); booleans are never
  equal to numbers (``true`` is not ``1`` in JSON).
* ``approx``: like exact, but numbers are compared with ``math.isclose(rel_tol, abs_tol)``,
  recursively through lists and dicts (dicts need the same keys).
* ``contains``: a list result must contain an element exactly equal to ``expected``; a dict result
  must contain ``expected`` (a dict) as a sub-dict; otherwise a string ``expected`` must be a
  substring of the result (``str(actual)`` for non-strings); anything else falls back to exact.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from toolbox.logging import get_logger
from toolbox.sandbox.base import Limits, Sandbox, ToolFailure
from toolbox.spec import CompareMode, ToolSpec

__all__ = ["TestOutcome", "TestReport", "compare", "run_tests"]

_log = get_logger("validate")


def _plain(value: Any) -> Any:
    """The JSON view of ``value``: tuples become lists, dict keys strings."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(expected: Any, actual: Any, rel_tol: float | None, abs_tol: float) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if _is_number(expected) and _is_number(actual):
        if rel_tol is None:
            return bool(expected == actual)
        return math.isclose(expected, actual, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _equal(e, a, rel_tol, abs_tol) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            _equal(v, actual[k], rel_tol, abs_tol) for k, v in expected.items())
    if _is_number(expected) or _is_number(actual):
        return False
    return type(expected) is type(actual) and bool(expected == actual)


def compare(expected: Any, actual: Any, mode: CompareMode, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Whether ``actual`` satisfies ``expected`` under ``mode`` (see the module docstring)."""
    expected, actual = _plain(expected), _plain(actual)
    mode = CompareMode(mode)
    if mode is CompareMode.exact:
        return _equal(expected, actual, None, 0.0)
    if mode is CompareMode.approx:
        return _equal(expected, actual, rel_tol, abs_tol)
    if isinstance(actual, list):
        return any(_equal(expected, item, None, 0.0) for item in actual)
    if isinstance(actual, dict):
        return isinstance(expected, dict) and all(
            key in actual and _equal(value, actual[key], None, 0.0) for key, value in expected.items())
    if isinstance(expected, str):
        return expected in (actual if isinstance(actual, str) else str(actual))
    return _equal(expected, actual, None, 0.0)


class TestOutcome(BaseModel):
    """The result of one test: the call, what was expected, what came back, and why it failed."""

    __test__: ClassVar[bool] = False

    index: int
    args: dict[str, Any] = Field(default_factory=dict)
    passed: bool
    expected: Any = None
    actual: Any = None
    error: ToolFailure | None = None


class TestReport(BaseModel):
    """Counts and per-test outcomes of ``run_tests``; ``ok`` when no test failed."""

    __test__: ClassVar[bool] = False

    passed: int = 0
    failed: int = 0
    outcomes: list[TestOutcome] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every test passed (vacuously true for a tool without tests)."""
        return self.failed == 0


def run_tests(sandbox: Sandbox, spec: ToolSpec, limits: Limits | None = None) -> TestReport:
    """Run each of ``spec.tests`` through ``sandbox`` and compare the results.

    A tool failure (exception, timeout, limit) fails that test and is recorded in ``error``;
    a ``SandboxError`` (the sandbox itself is broken) propagates.
    """
    outcomes: list[TestOutcome] = []
    for index, test in enumerate(spec.tests):
        result = sandbox.run(spec, dict(test.args), limits)
        if result.ok:
            passed = compare(test.expected, result.value, test.compare)
            outcome = TestOutcome(index=index, args=test.args, passed=passed, expected=test.expected,
                                  actual=result.value)
        else:
            outcome = TestOutcome(index=index, args=test.args, passed=False, expected=test.expected,
                                  error=result.error or ToolFailure(type="Unknown", message="the call failed"))
        outcomes.append(outcome)
    count = sum(o.passed for o in outcomes)
    report = TestReport(passed=count, failed=len(outcomes) - count, outcomes=outcomes)
    _log.debug("%s: %d passed, %d failed", spec.qualified_name, report.passed, report.failed)
    return report
