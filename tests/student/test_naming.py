"""Reversible names: any set of MCP tool names maps one-to-one onto OpenAI names and identifiers."""

from __future__ import annotations

import keyword

from hypothesis import given
from hypothesis import strategies as st

from student.naming import FUNCTION_NAME, NameMap

MCP_NAMES = st.lists(st.from_regex(r"\A[A-Za-z0-9._-]{1,128}\Z"), min_size=1, max_size=12, unique=True)


@given(MCP_NAMES)
def test_function_names_round_trip(names: list[str]) -> None:
    mapping = NameMap(names)
    safe = [mapping.safe(name) for name in names]
    assert all(FUNCTION_NAME.match(name) for name in safe)
    assert len(set(safe)) == len(names)
    assert [mapping.mcp(name) for name in safe] == names


@given(MCP_NAMES)
def test_identifiers_round_trip(names: list[str]) -> None:
    mapping = NameMap(names, style="identifier")
    safe = [mapping.safe(name) for name in names]
    assert all(name.isidentifier() and not keyword.iskeyword(name) and len(name) <= 64 for name in safe)
    assert "final_answer" not in safe or "final_answer" in names
    assert [mapping.mcp(name) for name in safe] == names


def test_readable_names_stay_readable() -> None:
    mapping = NameMap(["math.add", "billing.invoices.create", "x" * 80, "a.b", "a_b"])
    assert mapping.safe("math.add") == "math_add"
    assert mapping.safe("billing.invoices.create") == "billing_invoices_create"
    assert len(mapping.safe("x" * 80)) == 64
    assert mapping.safe("a.b") != mapping.safe("a_b")
    assert mapping.mcp("unknown") is None
    assert NameMap(["9lives.class"], style="identifier").safe("9lives.class") == "t_9lives_class"
