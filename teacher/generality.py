"""Does a tool generalise beyond the task it came from? Static checks, each with a reason.

- ``hard-coded-constant``: a number of the task's question (other than 0, 1, 2) or a phrase of it
  left in the code (AgentDistill's hard-coded-penguins bug). Parameter defaults and docstrings
  are allowed to hold them: a default is exactly what abstraction produces.
- ``all-string-parameters``: every parameter is a free-form string (a parser in disguise).
- ``code-as-input``: the tool takes code to run (a parameter named like code, or eval/exec).
- ``no-tests``: nothing to validate the tool against.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from toolbox.spec import ToolSpec

__all__ = ["Problem", "check_generality", "question_numbers"]

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
_TRIVIAL = {0, 1, 2, -1}
_CODE_PARAMS = {"code", "source", "script", "program", "statement", "snippet"}
_EXPR_PARAMS = {"expr", "expression", "formula"}
_EVALUATORS = {"eval", "exec", "compile", "__import__"}


@dataclass(frozen=True)
class Problem:
    """One reason a tool does not generalise: ``reason`` is a stable key, ``detail`` says where."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def question_numbers(question: str) -> set[float]:
    """The non-trivial numbers written in a question."""
    found = {float(m) for m in _NUMBER.findall(question)}
    return {n for n in found if n not in _TRIVIAL}


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """ids of docstring and parameter-default nodes (and everything under them)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skipped.add(id(body[0].value))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    skipped.update(id(sub) for sub in ast.walk(default))
    return skipped


def _phrase_from_question(value: str, question: str) -> bool:
    text = value.strip()
    distinctive = len(text) >= 12 or (len(text) >= 4 and (" " in text or any(c.isdigit() for c in text)))
    return distinctive and text.lower() in question.lower()


def _constant_problems(tree: ast.Module, question: str) -> list[Problem]:
    numbers = question_numbers(question)
    skipped = _skipped_nodes(tree)
    problems: list[Problem] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in skipped:
            continue
        value = node.value
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and float(value) in numbers:
            problems.append(Problem("hard-coded-constant",
                                    f"line {node.lineno}: {value!r} is a number of the task's question; "
                                    "make it a parameter (a default is fine)"))
        elif isinstance(value, str) and _phrase_from_question(value, question):
            problems.append(Problem("hard-coded-constant",
                                    f"line {node.lineno}: the string {value[:40]!r} is copied from the task's "
                                    "question; make it a parameter"))
    return problems


def _entrypoint(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name),
                None)


def _code_problems(tree: ast.Module, spec: ToolSpec) -> list[Problem]:
    func = _entrypoint(tree, spec.entrypoint)
    params = [a.arg for a in [*func.args.args, *func.args.kwonlyargs]] if func is not None else []
    evaluates = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _EVALUATORS
                    for n in ast.walk(tree))
    problems: list[Problem] = []
    if evaluates:
        problems.append(Problem("code-as-input", "the tool calls eval/exec/compile; compute the result directly"))
    for param in params:
        if param.lower() in _CODE_PARAMS or (evaluates and param.lower() in _EXPR_PARAMS):
            problems.append(Problem("code-as-input", f"parameter `{param}` takes code to run; take the data "
                                                     "the code would work on instead"))
    return problems


def _all_strings(spec: ToolSpec) -> list[Problem]:
    properties = spec.input_schema.get("properties") or {}
    if not properties:
        return []
    free = [name for name, schema in properties.items()
            if isinstance(schema, dict) and schema.get("type") == "string"
            and not ({"enum", "const", "format", "pattern"} & schema.keys())]
    if len(free) == len(properties):
        return [Problem("all-string-parameters",
                        f"every parameter ({', '.join(free)}) is a free-form string; take typed values "
                        "(numbers, lists, dates as int fields) so the tool is not a question parser")]
    return []


def check_generality(spec: ToolSpec, question: str) -> list[Problem]:
    """Every reason ``spec`` does not generalise beyond ``question``; empty when it does."""
    try:
        tree = ast.parse(spec.source)
    except SyntaxError as exc:
        return [Problem("syntax-error", f"line {exc.lineno}: {exc.msg}")]
    problems = _constant_problems(tree, question) + _code_problems(tree, spec) + _all_strings(spec)
    if not spec.tests:
        problems.append(Problem("no-tests", "the tool has no tests; add calls with their expected results"))
    return problems
