"""Drafts read straight from a solved trajectory's code, for a teacher that cannot write the extraction JSON.

Small local teachers solve a task with a sound function but do not answer the extraction prompt in
its format. The functions they defined and called with literal arguments are then taken as drafts
without another model call: each becomes a module of the cells' imports, the function and the
helpers it calls, with the literal calls as its trajectory inputs (tests are mined from those, in
the sandbox, as for any draft). A function whose result went straight into ``final_answer(...)`` is a
solver (its output must score correct on the task), and so is one whose printed output was the final
answer; any other is a helper.

When the extraction answer does hold drafts but a draft's source is not Python (a small teacher
writes "the code above"), :func:`with_trajectory_code` puts the trajectory's function of that name in.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from teacher.drafts import ToolDraft
from teacher.solve import SESSION_PRELUDE
from teacher.trajectory import TeacherTrajectory

__all__ = ["defines_functions", "drafts_from_cells", "drafts_from_code", "with_trajectory_code"]

_NOT_TOOLS = frozenset({"final_answer", "print"})


def _literal_call(call: ast.Call, params: list[str]) -> dict[str, Any] | None:
    """``call``'s arguments bound to ``params`` when every one is a literal, else None."""
    try:
        positional = [ast.literal_eval(arg) for arg in call.args]
        keywords = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg is not None}
    except (ValueError, SyntaxError, TypeError):
        return None
    if len(positional) > len(params) or len(call.keywords) != len(keywords):
        return None
    return {**dict(zip(params, positional, strict=False)), **keywords}


def _called_names(node: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def drafts_from_code(trajectory: TeacherTrajectory) -> list[ToolDraft]:
    """One draft per function the trajectory's clean cells defined and called with literal arguments."""
    cells = [(step.code, step.observation) for step in trajectory.steps if step.ok and step.code is not None]
    return drafts_from_cells(cells, trajectory.final_answer)


def drafts_from_cells(cells: Iterable[tuple[str, str]], final_answer: str | None) -> list[ToolDraft]:
    """One draft per function the cells (code, what it printed) defined and called with literal arguments."""
    imports: dict[str, str] = {}
    functions: dict[str, ast.FunctionDef] = {}
    inputs: dict[str, list[dict[str, Any]]] = {}
    answered: set[str] = set()  # functions whose result went straight into final_answer(...): solvers
    final = (final_answer or "").strip()
    for code, printed in cells:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        printed_answer = bool(final) and printed.strip().partition("\n")[0].strip() == final
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                text = ast.unparse(node)
                imports.setdefault(text, text)
            elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                functions[node.name] = node  # a later definition replaces an earlier one, as in the session
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name = call.func.id if isinstance(call.func, ast.Name) else ""
            if name == "final_answer" or (name == "print" and printed_answer and len(call.args) == 1):
                answered |= _called_names(call) - {name}
            if name in functions and name not in _NOT_TOOLS:
                bound = _literal_call(call, [a.arg for a in functions[name].args.args])
                if bound is not None and bound not in inputs.setdefault(name, []):
                    inputs[name].append(bound)
    drafts = []
    for name, calls in inputs.items():
        if not calls:
            continue
        helpers = [functions[h] for h in sorted(_called_names(functions[name]) & set(functions)) if h != name]
        needed = _prelude_imports([*helpers, functions[name]], imports.values())
        header = "\n".join([*imports.values(), *needed])
        body = [*([header] if header else []), *(ast.unparse(f) for f in [*helpers, functions[name]])]
        role = "solver" if name in answered else "helper"
        drafts.append(ToolDraft(name=name, role=role, source="\n\n\n".join(body) + "\n", trajectory_inputs=calls))
    return drafts


def _bound_names(statement: ast.Import | ast.ImportFrom) -> set[str]:
    return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}


def _prelude_imports(nodes: list[ast.FunctionDef], imports: Iterable[str]) -> list[str]:
    """The session prelude's imports (one per name) that ``nodes`` use and the cells never imported."""
    bound = set().union(*(_bound_names(s) for text in imports for s in ast.parse(text).body
                          if isinstance(s, ast.Import | ast.ImportFrom)))
    used = {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)} - bound
    needed = []
    for statement in ast.parse(SESSION_PRELUDE).body:
        if not isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        for alias in statement.names:
            if (alias.asname or alias.name) in used:
                one = ast.ImportFrom(module=statement.module, names=[alias], level=0) if isinstance(
                    statement, ast.ImportFrom) else ast.Import(names=[alias])
                needed.append(ast.unparse(one))
    return needed


def defines_functions(source: str) -> bool:
    """Whether ``source`` parses and defines at least one top-level function."""
    try:
        return any(isinstance(node, ast.FunctionDef) for node in ast.parse(source).body)
    except SyntaxError:
        return False


def with_trajectory_code(drafts: list[ToolDraft], trajectory: TeacherTrajectory) -> list[ToolDraft]:
    """The extraction's drafts, the trajectory's own function swapped in where a draft's source is no code.

    A draft that does not parse and has no namesake in the trajectory is kept for the repair rounds;
    when no draft defines a function, the drafts read from the trajectory's code are added.
    """
    from_code = {draft.name: draft for draft in drafts_from_code(trajectory)}
    kept = []
    for draft in drafts:
        twin = from_code.get(draft.name or "")
        if twin is not None and not defines_functions(draft.source):
            draft = draft.model_copy(update={
                "source": twin.source, "trajectory_inputs": draft.trajectory_inputs or twin.trajectory_inputs})
        kept.append(draft)
    if not any(defines_functions(draft.source) for draft in kept):
        named = {draft.name for draft in kept}
        kept += [draft for name, draft in from_code.items() if name not in named]
    return kept
