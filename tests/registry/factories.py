"""Shared builders of tool sources and specs for registry tests.

- ``tool_source(name, params, body, returns)`` writes a one-function module.
- ``make_spec(...)`` builds a valid spec through ``toolbox.analysis.build_spec`` (schemas derived
  from the signature, tests validated), e.g. ``make_spec("add", tests=[({"a": 1, "b": 2}, 3)])``.
- ``raw_spec(source, ...)`` builds a ``ToolSpec`` without any analysis, for sources that must fail it.

Tests are given as ``ToolTest``s, dicts (``{"args": ..., "expected": ...}``) or ``(args, expected)`` pairs.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from toolbox.analysis import build_spec
from toolbox.settings import SandboxSettings
from toolbox.spec import Provenance, ToolSpec, ToolTest

__all__ = ["ADD_TESTS", "ExampleLike", "make_spec", "raw_spec", "tool_source"]

ExampleLike = ToolTest | dict[str, Any] | tuple[dict[str, Any], Any]
ADD_TESTS: tuple[ExampleLike, ...] = (({"a": 1, "b": 2}, 3), ({"a": -4, "b": 10}, 6))


def tool_source(name: str = "add", params: str = "a: int, b: int", body: str = "return a + b",
                returns: str = "int", doc: str = "Add two integers.", imports: Sequence[str] = ()) -> str:
    """A module with ``imports`` and one function ``name(params) -> returns`` whose body is ``body``."""
    header = "".join(f"import {module}\n" for module in imports)
    body_text = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    docstring = f'    """{doc}"""\n' if doc else ""
    return f"{header}\n\ndef {name}({params}) -> {returns}:\n{docstring}{body_text}\n"


def _tests(tests: Sequence[ExampleLike]) -> list[ToolTest]:
    out = []
    for test in tests:
        if isinstance(test, ToolTest):
            out.append(test)
        elif isinstance(test, tuple):
            out.append(ToolTest(args=test[0], expected=test[1]))
        else:
            out.append(ToolTest.model_validate(test))
    return out


def make_spec(name: str = "add", *, namespace: str = "default", source: str | None = None,
              entrypoint: str | None = None, params: str = "a: int, b: int", body: str = "return a + b",
              returns: str = "int", doc: str = "Add two integers.", tests: Sequence[ExampleLike] = ADD_TESTS,
              description: str | None = None, task_ids: Sequence[str] = (), teacher: str | None = None,
              imports: Sequence[str] = ()) -> ToolSpec:
    """A valid spec for tool ``namespace.name``; the function is called ``entrypoint`` (default: ``name``)."""
    func = entrypoint or name
    code = source if source is not None else tool_source(func, params, body, returns, doc, imports)
    return build_spec(code, entrypoint=func, name=name, namespace=namespace, description=description,
                      tests=_tests(tests), allowed_imports=SandboxSettings().allowed_imports,
                      provenance=Provenance(teacher_model=teacher, task_ids=list(task_ids)))


def raw_spec(source: str, *, name: str = "add", entrypoint: str | None = None, namespace: str = "default",
             tests: Sequence[ExampleLike] = ADD_TESTS) -> ToolSpec:
    """A spec exactly as given, with no analysis (for code that must be rejected)."""
    return ToolSpec(namespace=namespace, name=name, source=source, entrypoint=entrypoint or name,
                    tests=_tests(tests))
