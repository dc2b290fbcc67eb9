"""The ``json`` mode response schema that constrains a model's action."""

from __future__ import annotations

import pytest

from student.actions import FinalAnswer, action_schema, argument_problem, parse_code_reply
from student.connection import BoxTool

PYTHON = BoxTool("builtin.python", "Run Python.", {
    "type": "object",
    "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 100000},
                   "pattern": {"type": "string", "pattern": "^[a-z]+$"}},
    "required": ["code"], "additionalProperties": False})


def test_the_action_schema_leaves_out_size_and_pattern_bounds_that_break_grammars() -> None:
    branch = action_schema([PYTHON])["anyOf"][0]
    arguments = branch["properties"]["arguments"]
    assert arguments["properties"] == {"code": {"type": "string"}, "pattern": {"type": "string"}}
    assert arguments["required"] == ["code"]
    assert branch["properties"]["tool"] == {"const": "builtin.python"}


def test_arguments_are_still_checked_against_the_full_schema() -> None:
    assert argument_problem(PYTHON, {"code": ""}) is not None
    assert argument_problem(PYTHON, {"code": "print(1)"}) is None


@pytest.mark.parametrize(("reply", "answer"), [
    ("Final answer: 3.5", "3.5"),
    ("I checked it.\nThe final answer is Friday.", "Friday"),
    ("The final answer is: **2 x 3**", "2 x 3"),
])
def test_a_code_mode_reply_without_code_may_state_its_final_answer(reply: str, answer: str) -> None:
    action = parse_code_reply(0, reply).action
    assert isinstance(action, FinalAnswer) and action.answer == answer


def test_a_code_mode_reply_with_neither_code_nor_an_answer_is_a_problem() -> None:
    candidate = parse_code_reply(0, "The final step is to think harder.")
    assert candidate.action is None and candidate.problem is not None and "```python" in candidate.problem
