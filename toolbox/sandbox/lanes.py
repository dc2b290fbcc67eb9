"""Lanes: which warm workers a call goes to, by what its tool imports.

Forking a worker costs in proportion to what it has loaded: a fork of a Python that has imported
numpy, scipy and sympy (about 60 MB of its own pages) costs several times a fork of one that has
imported only standard-library modules. So a pool keeps two kinds of workers:

* ``lean``: preloads the standard-library modules among the allowed and preloaded ones;
* ``full``: preloads everything (``preload_modules`` and ``allowed_imports``, numpy/scipy/sympy).

A tool whose source imports only the standard library runs in a ``lean`` worker; any other import
sends it to ``full``. Both are the same worker with the same isolation; only the preloads differ. A
tool that imports something dynamically (``__import__(name)``) still works in ``lean``, only
slower: the module is imported in its call's process.
"""

from __future__ import annotations

import ast
import sys
import threading

from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

__all__ = ["FULL", "LEAN", "imported_modules", "lane_for", "plan_lanes"]

LEAN = "lean"
FULL = "full"
_CACHE_ENTRIES = 4096
_routes: dict[tuple[str, bool], str] = {}
_lock = threading.Lock()


def _stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


def plan_lanes(settings: SandboxSettings) -> dict[str, tuple[str, ...]]:
    """Lane name -> the modules its workers preload (no ``full`` lane when everything is stdlib)."""
    everything = tuple(dict.fromkeys([*settings.preload_modules, *settings.allowed_imports]))
    lean = tuple(name for name in everything if _stdlib(name))
    if len(lean) == len(everything):
        return {LEAN: lean}
    return {LEAN: lean, FULL: everything}


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


def lane_for(spec: ToolSpec, has_full: bool) -> str:
    """The lane ``spec`` runs in (``lean`` when there is no ``full`` lane)."""
    if not has_full:
        return LEAN
    key = (spec.source, has_full)
    lane = _routes.get(key)
    if lane is None:
        modules = imported_modules(spec.source) or set()
        lane = LEAN if all(_stdlib(name) for name in modules) else FULL
        with _lock:
            if len(_routes) >= _CACHE_ENTRIES:
                _routes.clear()
            _routes[key] = lane
    return lane
