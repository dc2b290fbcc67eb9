"""Lanes: tools that import only the standard library run in lean workers, the others in full ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from toolbox.sandbox.lanes import FULL, LEAN, NUMPY, imported_modules, lane_for, plan_lanes
from toolbox.sandbox.process import ProcessSandbox
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

SpecFactory = Callable[..., ToolSpec]
LOADED = ("import sys\n{imports}\ndef f() -> list:\n"
          "    return sorted(m for m in ('numpy', 'sympy') if m in sys.modules)\n")


@pytest.mark.parametrize(("source", "found"), [
    ("import math, os.path\nfrom fractions import Fraction\n", {"math", "os", "fractions"}),
    ("from . import x\nimport numpy.linalg as la\n", {"numpy"}),
    ("import importlib\nnp = importlib.import_module('numpy')\nsp = __import__('sympy')\n",
     {"importlib", "numpy", "sympy"}),
    ("def f(:\n", None),
])
def test_imported_modules(source: str, found: set[str] | None) -> None:
    assert imported_modules(source) == found


def test_plan_lanes_splits_stdlib_numpy_and_the_rest() -> None:
    lanes = plan_lanes(SandboxSettings(preload_modules=["numpy"], allowed_imports=["math", "json", "sympy"]))
    assert lanes == {LEAN: ("math", "json"), NUMPY: ("math", "json", "numpy"), FULL: ("numpy", "math", "json", "sympy")}
    assert plan_lanes(SandboxSettings(preload_modules=["numpy"], allowed_imports=["math"])) == {
        LEAN: ("math",), FULL: ("numpy", "math")}
    assert plan_lanes(SandboxSettings(preload_modules=[], allowed_imports=["math"])) == {LEAN: ("math",)}


def test_lane_for_routes_to_the_smallest_lane_that_covers_the_imports(spec_factory: SpecFactory) -> None:
    lanes = plan_lanes(SandboxSettings(preload_modules=["numpy", "sympy"], allowed_imports=["math"]))

    def lane(source: str) -> str:
        return lane_for(spec_factory(source + "\ndef f():\n    return 1\n"), lanes)

    assert lane("import math") == LEAN
    assert lane("import numpy as np\nfrom numpy.linalg import inv") == NUMPY
    assert lane("import numpy\nimport sympy") == FULL
    assert lane("import requests") == FULL  # no lane preloads it: the biggest
    assert lane("def g(:") == LEAN  # its child reports the SyntaxError
    assert lane_for(spec_factory("import numpy\n"), {LEAN: ("math",)}) == LEAN


def test_calls_run_in_the_lane_their_imports_need(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    assert sandbox.stats().lanes == {LEAN: 2, NUMPY: 2, FULL: 2}
    lean = sandbox.run(spec_factory(LOADED.format(imports="import math")), {})
    numpy = sandbox.run(spec_factory(LOADED.format(imports="import numpy")), {})
    full = sandbox.run(spec_factory(LOADED.format(imports="import numpy, sympy")), {})
    assert lean.ok and lean.value == [], lean
    assert numpy.ok and numpy.value == ["numpy"], numpy
    assert full.ok and full.value == ["numpy", "sympy"], full


def test_a_lean_tool_can_still_import_a_heavy_module(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    source = "import importlib\ndef f(name: str) -> int:\n    return int(importlib.import_module(name).int64(7))\n"
    assert lane_for(spec_factory(source), plan_lanes(SandboxSettings())) == LEAN  # the name is no constant
    result = sandbox.run(spec_factory(source), {"name": "numpy"})
    assert result.ok and result.value == 7, result
