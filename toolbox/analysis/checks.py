"""Static checks on a tool module: top-level statements, imports and dangerous names.

Each check takes a parsed module and returns ``Finding`` objects that name the line and say
what to change. The checks are advisory hygiene for reusable tools; the sandbox is what
actually contains untrusted code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from toolbox.analysis.findings import Finding

__all__ = [
    "ALWAYS_FORBIDDEN_IMPORTS",
    "DANGEROUS_ATTRIBUTES",
    "DANGEROUS_BUILTINS",
    "check_dangerous_names",
    "check_imports",
    "check_module_statements",
    "is_import_allowed",
]

# Modules that would defeat the allowlist itself; refused even when configured.
ALWAYS_FORBIDDEN_IMPORTS = frozenset({"importlib", "builtins"})

DANGEROUS_BUILTINS: dict[str, str] = {
    "eval": "compute the value directly (ast.literal_eval parses literals safely)",
    "exec": "write the code in the function body instead",
    "compile": "write the code in the function body instead",
    "open": "take the file's content as a str parameter instead of reading files",
    "input": "take the value as a parameter; tools cannot prompt",
    "globals": "refer to the names directly",
    "breakpoint": "remove the debugging call",
    "__builtins__": "refer to builtins by name",
}
DANGEROUS_ATTRIBUTES = frozenset({
    "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__bases__", "__mro__",
    "f_globals", "f_locals", "f_back", "gi_frame", "cr_frame", "tb_frame",
})


def _finding(node: ast.AST, code: str, message: str) -> Finding:
    return Finding(line=getattr(node, "lineno", 1), col=getattr(node, "col_offset", 0), code=code,
                   message=message)


def _is_constant_expr(node: ast.expr) -> bool:
    """Literals, containers of them, names, attributes and operators on them: nothing that calls."""
    if isinstance(node, ast.Constant | ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _is_constant_expr(node.value)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_is_constant_expr(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _is_constant_expr(k) for k in node.keys) and all(
            _is_constant_expr(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _is_constant_expr(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_constant_expr(node.left) and _is_constant_expr(node.right)
    if isinstance(node, ast.BoolOp):
        return all(_is_constant_expr(v) for v in node.values)
    if isinstance(node, ast.Compare):
        return _is_constant_expr(node.left) and all(_is_constant_expr(c) for c in node.comparators)
    if isinstance(node, ast.IfExp):
        return all(_is_constant_expr(n) for n in (node.test, node.body, node.orelse))
    if isinstance(node, ast.Subscript):
        return _is_constant_expr(node.value) and _is_constant_expr(node.slice)
    if isinstance(node, ast.Slice):
        return all(n is None or _is_constant_expr(n) for n in (node.lower, node.upper, node.step))
    if isinstance(node, ast.Starred):
        return _is_constant_expr(node.value)
    return isinstance(node, ast.Lambda)


def _is_simple_target(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Tuple | ast.List):
        return all(_is_simple_target(e) for e in node.elts)
    return isinstance(node, ast.Starred) and _is_simple_target(node.value)


def _is_main_guard(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _statement_finding(stmt: ast.stmt) -> Finding | None:
    if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
        return None
    if isinstance(stmt, ast.Pass):
        return None
    if isinstance(stmt, ast.Assign):
        if all(_is_simple_target(t) for t in stmt.targets) and _is_constant_expr(stmt.value):
            return None
    elif isinstance(stmt, ast.AnnAssign):
        if isinstance(stmt.target, ast.Name) and (stmt.value is None or _is_constant_expr(stmt.value)):
            return None
    elif isinstance(stmt, ast.If) and _is_main_guard(stmt):
        return _finding(stmt, "module-statement",
                        "remove the `if __name__ == \"__main__\":` block: the server calls the entrypoint "
                        "directly; put examples in the tool's tests instead")
    kind = type(stmt).__name__
    if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        detail = ("module-level assignments may only bind names to constants (literals, containers of "
                  "literals, arithmetic on them); compute the value inside the function instead")
    elif isinstance(stmt, ast.Expr):
        detail = "module-level expressions (such as calls) run at import: move them into the function"
    else:
        detail = (f"a module-level `{kind}` statement runs at import: move it into the function; the "
                  "module may only hold imports, function and class definitions and constants")
    return _finding(stmt, "module-statement", detail)


def check_module_statements(tree: ast.Module) -> list[Finding]:
    """Findings for top-level statements other than imports, definitions, constants and docstrings."""
    return [f for stmt in tree.body if (f := _statement_finding(stmt)) is not None]


def is_import_allowed(module: str, allowed: Iterable[str]) -> bool:
    """True when ``module`` (dotted) is in ``allowed`` or inside an allowed package."""
    if module.split(".")[0] in ALWAYS_FORBIDDEN_IMPORTS:
        return False
    return any(module == a or module.startswith(a + ".") for a in allowed)


def check_imports(tree: ast.Module, allowed_imports: Iterable[str]) -> list[Finding]:
    """Findings for imports outside the allowlist, relative imports and ``__import__`` calls."""
    allowed = set(allowed_imports)
    findings: list[Finding] = []
    advice = "use only allowed modules (configured allowlist plus the tool's allowed_imports)"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            findings.extend(
                _finding(node, "import-not-allowed", f"`import {alias.name}` is not allowed: {advice}")
                for alias in node.names if not is_import_allowed(alias.name, allowed))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                findings.append(_finding(node, "import-not-allowed",
                                         "relative imports are not allowed: a tool is a single module; "
                                         "inline the helper or import an allowed package"))
            elif node.module != "__future__" and not is_import_allowed(node.module or "", allowed) and not all(
                    is_import_allowed(f"{node.module}.{a.name}", allowed) for a in node.names):
                findings.append(_finding(node, "import-not-allowed",
                                         f"`from {node.module} import ...` is not allowed: {advice}"))
        elif isinstance(node, ast.Name) and node.id == "__import__":
            findings.append(_finding(node, "import-not-allowed",
                                     "`__import__` is not allowed: use an `import` statement for an allowed "
                                     "module at the top of the file"))
    return findings


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name the module binds anywhere (parameters, assignments, definitions, imports)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def check_dangerous_names(tree: ast.Module) -> list[Finding]:
    """Findings for builtins a reusable tool should not need (``eval``, ``open`` ...) and escape hatches."""
    bound = _bound_names(tree)
    findings: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in DANGEROUS_BUILTINS and node.id not in bound:
            findings.append(_finding(node, "dangerous-builtin",
                                     f"`{node.id}` is not for tools: {DANGEROUS_BUILTINS[node.id]}"))
        elif isinstance(node, ast.Attribute) and node.attr in DANGEROUS_ATTRIBUTES:
            findings.append(_finding(node, "dangerous-attribute",
                                     f"`.{node.attr}` reaches into interpreter internals: remove it"))
    return findings
