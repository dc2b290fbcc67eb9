"""The ``json`` mode response schema that constrains a model's action."""

from __future__ import annotations

from student.actions import action_schema, argument_problem
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
