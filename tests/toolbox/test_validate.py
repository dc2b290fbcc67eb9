"""``toolbox.validate``: comparison modes and running a spec's tests through a sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from toolbox.analysis import build_spec
from toolbox.errors import IsolationUnavailable, SandboxError
from toolbox.sandbox import create_sandbox
from toolbox.sandbox.base import IsolationLevel, Limits, RunResult, Sandbox, ToolFailure
from toolbox.settings import DEFAULT_ALLOWED_IMPORTS, SandboxSettings
from toolbox.spec import CompareMode, ToolSpec, ToolTest
from toolbox.validate import TestReport, compare, run_tests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tools"


class FakeSandbox:
    """A Sandbox that answers each call with ``respond(args)`` and records the calls."""

    def __init__(self, respond: Callable[[dict[str, Any]], RunResult]) -> None:
        self.respond = respond
        self.calls: list[tuple[str, dict[str, Any], Limits | None]] = []
        self._lock = threading.Lock()

    @property
    def isolation(self) -> IsolationLevel:
        return "none"

    def run(self, spec: ToolSpec, args: dict[str, Any], limits: Limits | None = None) -> RunResult:
        with self._lock:
            self.calls.append((spec.entrypoint, args, limits))
        return self.respond(args)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


def returning(fn: Callable[..., Any]) -> FakeSandbox:
    """A fake sandbox that 'runs' the tool by calling ``fn(**args)`` here, turning exceptions into failures."""
    def respond(args: dict[str, Any]) -> RunResult:
        try:
            return RunResult(ok=True, value=fn(**args), isolation="none")
        except Exception as exc:
            return RunResult(ok=False, error=ToolFailure(type=type(exc).__name__, message=str(exc)), isolation="none")
    return FakeSandbox(respond)


def adder_spec(*tests: ToolTest) -> ToolSpec:
    """The add_numbers example as a spec with the given tests."""
    return build_spec((EXAMPLES / "add_numbers.py").read_text(), tests=list(tests),
                      allowed_imports=DEFAULT_ALLOWED_IMPORTS)


@pytest.mark.parametrize(
    ("expected", "actual", "mode", "result"),
    [
        (2, 2, CompareMode.exact, True),
        (2, 2.0, CompareMode.exact, True),
        ([1, [2, 3]], (1, (2, 3)), CompareMode.exact, True),
        ({"a": [1]}, {"a": (1,)}, CompareMode.exact, True),
        (True, 1, CompareMode.exact, False),
        (1, True, CompareMode.exact, False),
        (0.1 + 0.2, 0.3, CompareMode.exact, False),
        ("24", 24, CompareMode.exact, False),
        (None, None, CompareMode.exact, True),
        ({"a": 1}, {"a": 1, "b": 2}, CompareMode.exact, False),
        (0.3, 0.1 + 0.2, CompareMode.approx, True),
        ([1.0, {"x": 2.0}], [1.0000001, {"x": 1.9999999}], CompareMode.approx, True),
        ([1.0, 2.0], [1.0], CompareMode.approx, False),
        (1.0, 1.1, CompareMode.approx, False),
        (0.0, 1e-12, CompareMode.approx, True),
        ("abc", "abc", CompareMode.approx, True),
        (True, 1.0, CompareMode.approx, False),
        ({"a": 1.0}, {"b": 1.0}, CompareMode.approx, False),
        ("24", "(4 * 6) = 24", CompareMode.contains, True),
        ("25", "(4 * 6) = 24", CompareMode.contains, False),
        ("4", 24.5, CompareMode.contains, True),
        (3, [1, 2, 3], CompareMode.contains, True),
        ([1, 2], [[1, 2], [3]], CompareMode.contains, True),
        (4, [1, 2, 3], CompareMode.contains, False),
        ({"a": 1}, {"a": 1, "b": 2}, CompareMode.contains, True),
        ({"a": 2}, {"a": 1, "b": 2}, CompareMode.contains, False),
        ("a", {"a": 1}, CompareMode.contains, False),
        (5, 5, CompareMode.contains, True),
    ],
)
def test_compare(expected: Any, actual: Any, mode: CompareMode, result: bool) -> None:
    assert compare(expected, actual, mode) is result


def test_compare_tolerances_are_configurable() -> None:
    assert not compare(100.0, 101.0, CompareMode.approx)
    assert compare(100.0, 101.0, CompareMode.approx, rel_tol=0.02)
    assert compare(0.0, 0.001, CompareMode.approx, abs_tol=0.01)


def test_run_tests_reports_each_outcome() -> None:
    spec = adder_spec(
        ToolTest(args={"numbers": [1, 2]}, expected=3),
        ToolTest(args={"numbers": [0.1, 0.2]}, expected=0.3, compare=CompareMode.approx),
        ToolTest(args={"numbers": [1], "start": 1}, expected=3),
    )
    sandbox = returning(lambda numbers, start=0.0: sum(numbers) + start)
    limits = Limits(timeout_s=1.0)
    report = run_tests(sandbox, spec, limits)
    assert (report.passed, report.failed, report.ok) == (2, 1, False)
    assert [o.passed for o in report.outcomes] == [True, True, False]
    assert [o.index for o in report.outcomes] == [0, 1, 2]
    failed = report.outcomes[2]
    assert (failed.expected, failed.actual, failed.error, failed.args) == (3, 2.0, None, {"numbers": [1], "start": 1})
    assert [call[2] for call in sandbox.calls] == [limits] * 3
    assert isinstance(sandbox, Sandbox)


def test_tool_failure_fails_the_test_with_its_error() -> None:
    def explode(numbers: list[float], start: float = 0.0) -> float:
        raise ValueError("no numbers")

    report = run_tests(returning(explode), adder_spec(ToolTest(args={"numbers": []}, expected=0)))
    [outcome] = report.outcomes
    assert not outcome.passed and outcome.actual is None
    assert outcome.error == ToolFailure(type="ValueError", message="no numbers")
    assert report.model_dump(mode="json")["outcomes"][0]["error"]["type"] == "ValueError"


def test_no_tests_is_ok() -> None:
    assert run_tests(returning(lambda **_: None), adder_spec()) == TestReport(passed=0, failed=0, outcomes=[])
    assert run_tests(returning(lambda **_: None), adder_spec()).ok


def test_sandbox_errors_propagate() -> None:
    def broken(args: dict[str, Any]) -> RunResult:
        raise SandboxError("no workers")

    with pytest.raises(SandboxError):
        run_tests(FakeSandbox(broken), adder_spec(ToolTest(args={"numbers": [1]}, expected=1)))


@pytest.fixture
def real_sandbox() -> Iterator[Sandbox]:
    """The configured sandbox backend, or a skip saying why it cannot run here."""
    try:
        sandbox = create_sandbox(SandboxSettings())
    except IsolationUnavailable as exc:
        pytest.skip(f"the configured sandbox isolation is unavailable here: {exc}")
    try:
        yield sandbox
    finally:
        sandbox.close()


def test_run_tests_in_the_real_sandbox(real_sandbox: Sandbox) -> None:
    spec = build_spec((EXAMPLES / "solve24.py").read_text(), allowed_imports=DEFAULT_ALLOWED_IMPORTS, tests=[
        ToolTest(args={"a": 4, "b": 6, "c": 1, "d": 1}, expected="4", compare=CompareMode.contains),
        ToolTest(args={"a": 1, "b": 1, "c": 1, "d": 1}, expected=None),
        ToolTest(args={"a": 3, "b": 3, "c": 8, "d": 8}, expected="8 / (3 - (8 / 3))"),
        ToolTest(args={"a": 1, "b": 1, "c": 1, "d": 1}, expected="wrong"),
    ])
    report = run_tests(real_sandbox, spec)
    assert [o.passed for o in report.outcomes] == [True, True, True, False]
