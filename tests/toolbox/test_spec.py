"""ToolSpec: lossless JSON round trip and the limits on names, source and tests."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from toolbox.spec import MAX_SOURCE_BYTES, MAX_TESTS, CompareMode, Provenance, ToolSpec, ToolTest

SOURCE = 'def add(a: int, b: int) -> int:\n    """Add."""\n    return a + b\n'


def make_spec(**overrides: Any) -> ToolSpec:
    fields: dict[str, Any] = {"namespace": "math", "name": "add", "source": SOURCE, "entrypoint": "add"}
    return ToolSpec(**{**fields, **overrides})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@given(args=st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=3), expected=json_values,
       compare=st.sampled_from(list(CompareMode)), tasks=st.lists(st.text(max_size=10), max_size=3))
def test_json_round_trip_is_lossless(args: dict[str, Any], expected: Any, compare: CompareMode,
                                     tasks: list[str]) -> None:
    spec = make_spec(
        description="Add two integers.",
        input_schema={"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        output_schema={"type": "object", "properties": {"result": {"type": "integer"}}},
        tests=[ToolTest(args=args, expected=expected, compare=compare)],
        allowed_imports=["fractions"],
        tags=["arith"],
        provenance=Provenance(teacher_model="gpt-x", task_ids=tasks, trajectory_id="t1", parent_version_ids=["v0"]),
    )
    assert ToolSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize("name", ["Add", "1add", "add-two", "a" * 65, "", "add two"])
def test_names_outside_the_pattern_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        make_spec(name=name)


def test_source_over_64_kib_is_refused_with_the_limit_named() -> None:
    big = SOURCE + "#" * MAX_SOURCE_BYTES
    with pytest.raises(ValidationError, match="64 KiB"):
        make_spec(source=big)


def test_more_than_50_tests_are_refused() -> None:
    with pytest.raises(ValidationError, match="tests"):
        make_spec(tests=[ToolTest(args={"a": 1, "b": i}, expected=i + 1) for i in range(MAX_TESTS + 1)])


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ToolSpec.model_validate({"name": "add", "source": SOURCE, "entrypoint": "add", "colour": "red"})


def test_qualified_name() -> None:
    assert make_spec().qualified_name == "math.add"
