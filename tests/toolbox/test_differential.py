"""``toolbox.differential``: two tools run on each other's test inputs in the real sandbox."""

from __future__ import annotations

from typing import Any

from tests.registry.factories import make_spec
from toolbox.differential import differential_test
from toolbox.sandbox import Sandbox


def sums(name: str, body: str, tests: list[Any]) -> Any:
    """A list-summing spec."""
    return make_spec(name, params="xs: list[int]", body=body, returns="int", doc="Sum.", tests=tests)


def test_differential_test_runs_both_on_the_union_of_inputs(sandbox: Sandbox) -> None:
    builtin = sums("a", "return sum(xs)", [({"xs": [1, 2]}, 3)])
    loop = sums("b", "t = 0\nfor x in xs:\n    t += x\nreturn t", [({"xs": []}, 0), ({"xs": [1, 2]}, 3)])
    result = differential_test(sandbox, loop, builtin)
    assert result.equivalent and result.inputs == 2 and result.mismatches == []
    clipped = sums("c", "return sum(xs) if len(xs) < 3 else 0", [({"xs": [5]}, 5)])
    different = differential_test(sandbox, clipped, sums("d", "return sum(xs)", [({"xs": [1, 2, 3]}, 6)]))
    assert not different.equivalent
    assert different.mismatches == [{"args": {"xs": [1, 2, 3]}, "new": 0, "existing": 6, "reason": "outputs differ"}]


def test_differential_test_without_inputs_or_with_errors_is_not_equivalent(sandbox: Sandbox) -> None:
    empty = differential_test(sandbox, sums("a", "return sum(xs)", []), sums("b", "return sum(xs)", []))
    assert not empty.equivalent and empty.inputs == 0
    other_shape = make_spec("e", params="values: list[int], start: int", body="return sum(values) + start",
                            doc="Sum.", tests=[({"values": [1], "start": 0}, 1)])
    result = differential_test(sandbox, other_shape, sums("f", "return sum(xs)", [({"xs": [1]}, 1)]))
    assert not result.equivalent and "tool failed" in result.mismatches[0]["reason"]


def test_differential_test_aligns_renamed_parameters_by_position(sandbox: Sandbox) -> None:
    renamed = make_spec("e", params="values: list[int]", body="return sum(values)", doc="Sum.",
                        tests=[({"values": [1]}, 1)])
    result = differential_test(sandbox, renamed, sums("f", "return sum(xs)", [({"xs": [4, 5]}, 9)]))
    assert result.equivalent and result.inputs == 2
    wrong = make_spec("g", params="values: list[int]", body="return max(values)", doc="Largest.",
                      tests=[({"values": [1]}, 1)])
    different = differential_test(sandbox, wrong, sums("h", "return sum(xs)", [({"xs": [4, 5]}, 9)]))
    assert different.mismatches == [{"args": {"values": [4, 5]}, "new": 5, "existing": 9, "reason": "outputs differ"}]
