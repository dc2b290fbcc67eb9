"""Static checks and ``check_source``/``build_spec``: findings name the line and say what to change."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolbox.analysis import AnalysisReport, build_spec, check_source
from toolbox.errors import AnalysisError, SpecError
from toolbox.settings import DEFAULT_ALLOWED_IMPORTS
from toolbox.spec import CompareMode, Provenance, ToolTest

GOOD = '''\
"""A module docstring."""

import math
from fractions import Fraction

SCALE = 2 * math.pi
NAMES = ("a", "b")


def _helper(x: float) -> float:
    return x * SCALE


def area(radius: float, exact: bool = False) -> float:
    """Area of a circle.

    Args:
        radius: The radius.
        exact: Use fractions where possible.

    Returns:
        The area.
    """
    if exact:
        return float(Fraction(radius) ** 2) * math.pi
    return _helper(radius) * radius / 2
'''


def check(source: str, entrypoint: str | None = None, allowed: tuple[str, ...] = DEFAULT_ALLOWED_IMPORTS
          ) -> AnalysisReport:
    """check_source on dedented source with the default allowlist."""
    return check_source(textwrap.dedent(source), entrypoint, allowed)


def codes(report: AnalysisReport) -> list[tuple[int, str]]:
    """(line, code) of every finding."""
    return [(f.line, f.code) for f in report.findings]


def with_tool(prefix: str) -> str:
    """``prefix`` followed by a valid entrypoint ``f``."""
    return textwrap.dedent(prefix) + '\n\ndef f(x: int) -> int:\n    """Return x."""\n    return x\n'


def test_good_module_passes() -> None:
    report = check(GOOD)
    assert report.ok and report.findings == []
    assert report.entrypoint == "area"
    assert report.description == "Area of a circle."
    assert report.input_schema is not None and report.input_schema["required"] == ["radius"]
    assert report.output_schema == {"type": "object", "properties": {"result": {"type": "number",
                                    "description": "The area."}}, "required": ["result"]}


def test_syntax_error_reports_line_and_column() -> None:
    report = check("def f(x: int) -> int:\n    return x +\n")
    assert not report.ok
    assert [(f.code, f.line) for f in report.findings] == [("syntax", 2)]
    assert report.findings[0].col >= 0 and "syntax error" in report.findings[0].message


@pytest.mark.parametrize("source", ["\x00", "(" * 300 + ")" * 300, "x = 'unterminated", "\tdef f(): pass"])
def test_check_source_never_raises(source: str) -> None:
    report = check_source(source, None, DEFAULT_ALLOWED_IMPORTS)
    assert not report.ok and report.findings


@settings(max_examples=80, deadline=None)
@given(cut=st.integers(0, len(GOOD)), junk=st.text(max_size=20))
def test_check_source_never_raises_on_damaged_source(cut: int, junk: str) -> None:
    report = check_source(GOOD[:cut] + junk + GOOD[cut:], None, DEFAULT_ALLOWED_IMPORTS)
    assert report.ok is (not report.findings)
    assert all(f.line >= 1 and f.col >= 0 and f.message for f in report.findings)


@pytest.mark.parametrize(
    ("prefix", "line"),
    [
        ("print('hi')", 1),
        ("data = open('x').read()", 1),
        ("VALUES = [i for i in range(3)]", 1),
        ("import math\nTABLE = math.sqrt(2)", 2),
        ("x = 1\nx += 1", 2),
        ("for i in range(3):\n    pass", 1),
        ("try:\n    import numpy\nexcept ImportError:\n    numpy = None", 1),
        ("import math\nmath.tau = 1", 2),
    ],
)
def test_module_level_statements_are_flagged(prefix: str, line: int) -> None:
    report = check(with_tool(prefix))
    assert (line, "module-statement") in codes(report)


def test_main_guard_has_specific_message() -> None:
    report = check(with_tool("") + 'if __name__ == "__main__":\n    f(1)\n')
    [finding] = report.findings
    assert finding.code == "module-statement" and "__main__" in finding.message and finding.line == 6


@pytest.mark.parametrize(
    "prefix",
    ['"""Doc."""', "X = 1", "X: int = 3", "A, B = 1, (2, 3)", "D = {'a': [1, -2.5], **{}}", "S = {1, 2} | {3}",
     "import math\nTAU = math.pi * 2", "Y = 1 if True else 2", "K = 'abc'[1:]", "SQ = lambda v: v * v",
     "class Point:\n    x: int = 0", "from __future__ import annotations", "pass"],
)
def test_allowed_module_statements(prefix: str) -> None:
    report = check(with_tool(prefix))
    assert report.ok, report.findings


@pytest.mark.parametrize(
    ("prefix", "allowed"),
    [
        ("import os", True),
        ("from subprocess import run", True),
        ("import os.path", True),
        ("from . import helper", True),
        ("from .sibling import thing", True),
        ("import importlib", False),
        ("import builtins", False),
    ],
)
def test_disallowed_imports(prefix: str, allowed: bool) -> None:
    report = check(with_tool(prefix), allowed=(*DEFAULT_ALLOWED_IMPORTS, "importlib", "builtins"))
    assert codes(report) == [(1, "import-not-allowed")]
    assert allowed or "not allowed" in report.findings[0].message


@pytest.mark.parametrize("prefix", ["import numpy.linalg", "from numpy.linalg import norm", "import numpy as np",
                                    "from collections import Counter", "import os.path"])
def test_allowed_imports_include_subpackages(prefix: str) -> None:
    assert check(with_tool(prefix), allowed=(*DEFAULT_ALLOWED_IMPORTS, "os.path")).ok


def test_imports_inside_functions_and_dunder_import_are_checked() -> None:
    source = '''
    def f(x: int) -> int:
        """Return x."""
        import socket
        mod = __import__("os")
        return x
    '''
    assert codes(check(source)) == [(4, "import-not-allowed"), (5, "import-not-allowed")]


@pytest.mark.parametrize("name", ["eval", "exec", "compile", "open", "globals", "breakpoint", "input"])
def test_dangerous_builtins_are_flagged(name: str) -> None:
    source = f'def f(x: str) -> str:\n    """Return x."""\n    y = {name}\n    return x\n'
    report = check(source)
    assert codes(report) == [(3, "dangerous-builtin")]
    assert f"`{name}`" in report.findings[0].message


def test_shadowed_builtin_names_and_attributes_are_fine() -> None:
    source = '''
    import re


    def f(input: str) -> bool:
        """Match a pattern."""
        return re.compile("a+").match(input) is not None
    '''
    assert check(source).ok


def test_escape_hatch_attributes_are_flagged() -> None:
    source = 'def f(x: int) -> int:\n    """Return x."""\n    return len(().__class__.__bases__[0].__subclasses__())\n'
    assert [c for _, c in codes(check(source))] == ["dangerous-attribute", "dangerous-attribute"]


def test_entrypoint_checks() -> None:
    source = '''
    def f(a, *args, b: int = 1, **kwargs):
        return a
    '''
    report = check(source)
    assert sorted(c for _, c in codes(report)) == ["missing-docstring", "missing-type-hint", "missing-type-hint",
                                                   "unsupported-parameter", "unsupported-parameter"]
    assert report.input_schema is not None and report.input_schema["properties"]["a"] == {}


def test_positional_only_and_async_entrypoints_are_flagged() -> None:
    report = check('async def f(x: int, /) -> int:\n    """Return x."""\n    return x\n')
    assert sorted(c for _, c in codes(report)) == ["unsupported-entrypoint", "unsupported-parameter"]


@pytest.mark.parametrize(
    ("source", "entrypoint", "code", "names"),
    [
        ("def a() -> int:\n    return 1\n\ndef b() -> int:\n    return 2\n", None, "ambiguous-entrypoint", ["a", "b"]),
        ("def _a() -> int:\n    return 1\n", None, "entrypoint-not-found", ["_a"]),
        ("X = 1\n", None, "entrypoint-not-found", []),
        ("def a() -> int:\n    return 1\n", "missing", "entrypoint-not-found", ["a"]),
        ("class a:\n    pass\n", "a", "entrypoint-not-found", []),
    ],
)
def test_entrypoint_resolution_findings(source: str, entrypoint: str | None, code: str, names: list[str]) -> None:
    report = check(source, entrypoint)
    assert code in [c for _, c in codes(report)]
    message = next(f.message for f in report.findings if f.code == code)
    assert all(f"{name}" in message for name in names)


def test_named_entrypoint_among_several() -> None:
    report = check("def a(x: int) -> int:\n    '''A.'''\n    return x\n\ndef b() -> int:\n    '''B.'''\n    return 2\n",
                   "b")
    assert report.ok and report.entrypoint == "b"


def test_findings_are_sorted_by_line() -> None:
    report = check("import os\nprint(1)\n\ndef f(x):\n    return eval(x)\n")
    assert [f.line for f in report.findings] == sorted(f.line for f in report.findings)
    assert {c for _, c in codes(report)} >= {"import-not-allowed", "module-statement", "dangerous-builtin"}


def test_build_spec_fills_everything() -> None:
    spec = build_spec(GOOD, namespace="geometry", tests=[{"args": {"radius": 1.0}, "expected": 3.14159,
                                                          "compare": "approx"}],
                      allowed_imports=DEFAULT_ALLOWED_IMPORTS, provenance=Provenance(teacher_model="t"),
                      tags=["math"])
    assert (spec.qualified_name, spec.entrypoint, spec.description) == ("geometry.area", "area", "Area of a circle.")
    assert spec.tests == [ToolTest(args={"radius": 1.0}, expected=3.14159, compare=CompareMode.approx)]
    assert spec.allowed_imports is None and spec.tags == ["math"] and spec.provenance.teacher_model == "t"
    assert spec.input_schema["properties"]["radius"]["type"] == "number"


def test_build_spec_overrides_and_extra_imports() -> None:
    source = with_tool("import networkx")
    with pytest.raises(AnalysisError):
        build_spec(source, allowed_imports=DEFAULT_ALLOWED_IMPORTS)
    spec = build_spec(source, name="ident", description="Identity.", allowed_imports=DEFAULT_ALLOWED_IMPORTS,
                      extra_imports=["networkx"])
    assert (spec.name, spec.description, spec.allowed_imports) == ("ident", "Identity.", ["networkx"])


def test_build_spec_raises_with_findings() -> None:
    with pytest.raises(AnalysisError) as info:
        build_spec("import os\n" + GOOD, allowed_imports=DEFAULT_ALLOWED_IMPORTS)
    assert [f.code for f in info.value.findings] == ["import-not-allowed"]
    assert "line 1" in str(info.value)


def test_build_spec_rejects_tests_that_do_not_match_parameters() -> None:
    with pytest.raises(AnalysisError) as info:
        build_spec(GOOD, tests=[ToolTest(args={"diameter": 2.0}, expected=1)], allowed_imports=DEFAULT_ALLOWED_IMPORTS)
    assert [f.code for f in info.value.findings] == ["invalid-test"]
    assert "test 0" in info.value.findings[0].message


def test_build_spec_invalid_name_is_a_spec_error() -> None:
    with pytest.raises(SpecError):
        build_spec(GOOD, name="Not A Name", allowed_imports=DEFAULT_ALLOWED_IMPORTS)
