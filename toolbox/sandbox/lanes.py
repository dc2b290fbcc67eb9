"""Lanes: which warm workers a call goes to, by what its tool imports.

Forking a worker costs in proportion to what it has loaded: a fork of a Python that has imported
numpy, scipy and sympy (about 60 MB of its own pages) costs several times a fork of one that has
imported only standard-library modules (measured: about 3.4 ms of CPU for fork and exit with
numpy+scipy+sympy, 1.2 ms with numpy alone, 0.5 ms with neither). So a pool keeps up to three kinds:

* ``lean``: preloads the standard-library modules among the allowed and preloaded ones;
* ``numpy``: those and numpy (only when something besides numpy is preloaded too);
* ``full``: everything (``preload_modules`` and ``allowed_imports``: numpy, scipy, sympy).

A call goes to the smallest lane whose preloads cover what its tool imports (any import outside
every lane's preloads goes to ``full``). All are the same worker with the same isolation; only the
preloads differ. A tool that imports something dynamically (``__import__(name)``) still works in
a smaller lane, only slower: the module is imported in its call's process.
"""

from __future__ import annotations

import ast
import sys
import threading

from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

__all__ = ["FULL", "LEAN", "NUMPY", "imported_modules", "lane_for", "plan_lanes"]

LEAN = "lean"
NUMPY = "numpy"
FULL = "full"
_CACHE_ENTRIES = 4096
_routes: dict[tuple[str, tuple[str, ...]], str] = {}
_lock = threading.Lock()


def _stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


def plan_lanes(settings: SandboxSettings) -> dict[str, tuple[str, ...]]:
    """Lane name -> the modules its workers preload, smallest first (only ``lean`` when everything is stdlib)."""
    everything = tuple(dict.fromkeys([*settings.preload_modules, *settings.allowed_imports]))
    lean = tuple(name for name in everything if _stdlib(name))
    if len(lean) == len(everything):
        return {LEAN: lean}
    lanes = {LEAN: lean}
    if NUMPY in everything and len(lean) + 1 < len(everything):
        lanes[NUMPY] = (*lean, NUMPY)
    lanes[FULL] = everything
    return lanes


def imported_modules(source: str) -> set[str] | None:
    """Top-level names of the modules ``source`` imports (statements, ``__import__``/``import_module`` of a
    constant); None when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ("__import__", "import_module"):
                found.add(node.args[0].value.split(".")[0])
    return found


def lane_for(spec: ToolSpec, lanes: dict[str, tuple[str, ...]]) -> str:
    """The first of ``lanes`` (smallest first, as ``plan_lanes`` orders them) that covers what ``spec`` imports.

    The standard library counts as covered everywhere; an import no lane covers goes to the last.
    """
    names = tuple(lanes)
    if len(names) == 1:
        return names[0]
    key = (spec.source, names)
    lane = _routes.get(key)
    if lane is None:
        heavy = {name for name in imported_modules(spec.source) or set() if not _stdlib(name)}
        lane = next((name for name in names if heavy <= {m.split(".")[0] for m in lanes[name]}), names[-1])
        with _lock:
            if len(_routes) >= _CACHE_ENTRIES:
                _routes.clear()
            _routes[key] = lane
    return lane
