"""check_generality: the reasons a tool does not generalise beyond its task, found statically."""

from __future__ import annotations

from teacher.generality import check_generality, question_numbers
from toolbox.analysis import build_spec
from toolbox.settings import DEFAULT_ALLOWED_IMPORTS
from toolbox.spec import ToolSpec

QUESTION = "Use the numbers 3 7 8 13 to make 24. Look for Emperor Penguin Chicks."
TEST = [{"args": {"numbers": [1, 2]}, "expected": 3}]


def spec(source: str, tests: list[dict[str, object]] | None = None) -> ToolSpec:
    return build_spec(source, tests=TEST if tests is None else tests, allowed_imports=DEFAULT_ALLOWED_IMPORTS)


def reasons(source: str, question: str = QUESTION, tests: list[dict[str, object]] | None = None) -> list[str]:
    return [p.reason for p in check_generality(spec(source, tests), question)]


def test_question_numbers_skip_trivial_ones() -> None:
    assert question_numbers("add 1 and 2 to 13, then 0.5 and -7") == {13.0, 0.5, -7.0}


def test_a_general_tool_passes() -> None:
    source = ('def total(numbers: list[int], target: int = 24) -> int:\n    """Sum the numbers."""\n'
              '    return sum(numbers) + 0 * target + 1\n')
    assert check_generality(spec(source), QUESTION) == []


def test_a_number_of_the_question_in_the_body_is_a_hard_coded_constant() -> None:
    source = 'def total(numbers: list[int]) -> int:\n    """Sum."""\n    return sum(numbers) - 24\n'
    problems = check_generality(spec(source), QUESTION)
    assert [p.reason for p in problems] == ["hard-coded-constant"]
    assert "24" in problems[0].detail and "line 3" in problems[0].detail


def test_a_phrase_of_the_question_is_the_penguin_bug() -> None:
    source = ('def look_for(numbers: list[int]) -> str:\n    """What to look for."""\n'
              '    return "Emperor Penguin Chicks" * len(numbers)\n')
    assert reasons(source) == ["hard-coded-constant"]


def test_defaults_and_docstrings_may_hold_the_question_constants() -> None:
    source = ('def total(numbers: list[int], target: int = 13) -> int:\n    """Make 24 from 3 7 8 13."""\n'
              '    return sum(numbers) * target\n')
    assert reasons(source) == []


def test_every_parameter_a_free_form_string_is_rejected() -> None:
    source = 'def parse(text: str, hint: str) -> int:\n    """Parse."""\n    return len(text + hint)\n'
    assert reasons(source, tests=[{"args": {"text": "a", "hint": "b"}, "expected": 2}]) == ["all-string-parameters"]


def test_code_taken_as_input_is_rejected() -> None:
    source = 'def run(code: str, times: int) -> int:\n    """Run."""\n    return len(code) * times\n'
    assert reasons(source, tests=[{"args": {"code": "x", "times": 1}, "expected": 1}]) == ["code-as-input"]


def test_a_tool_without_tests_is_rejected() -> None:
    source = 'def total(numbers: list[int]) -> int:\n    """Sum."""\n    return sum(numbers)\n'
    assert reasons(source, tests=[]) == ["no-tests"]
