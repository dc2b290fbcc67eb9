"""Safe parsing of arithmetic answers: Python's ``ast`` in ``eval`` mode, walked by hand, never executed.

Two readers share the walk: :func:`countdown_value` (integers, ``+ - * /``, parentheses, unary
minus; exact with ``fractions.Fraction``) and :func:`sympy_value` (numbers, the four operations,
powers with small exponents, ``sqrt``, ``pi``, ``e`` and plain variable names, as a sympy expression).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

__all__ = [
    "MAX_ANSWER_CHARS",
    "CountdownReading",
    "ExpressionError",
    "countdown_value",
    "normalise_operators",
    "sympy_value",
]

MAX_ANSWER_CHARS = 500
MAX_EXPONENT = 64
MAX_RESULT_BITS = 100_000

_TYPOGRAPHIC = {"\u00d7": "*", "\u00b7": "*", "\u00f7": "/", "\u2212": "-", "\u2013": "-"}
_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_OPERATOR_NAMES = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class ExpressionError(ValueError):
    """An answer that is not an expression of the accepted shape; the message says why."""


@dataclass
class CountdownReading:
    """A countdown expression read exactly: its value and the integers it used, in order."""

    value: Fraction
    numbers: list[int] = field(default_factory=list)


def normalise_operators(text: str) -> str:
    """Replace the typographic operators models like to write (times, middle dot, division, minus, en dash)."""
    for typographic, ascii_operator in _TYPOGRAPHIC.items():
        text = text.replace(typographic, ascii_operator)
    return text.strip().strip("`").strip()


def _parse(text: str) -> ast.expr:
    if len(text) > MAX_ANSWER_CHARS:
        raise ExpressionError(f"the answer is longer than {MAX_ANSWER_CHARS} characters")
    if not text:
        raise ExpressionError("the answer is empty")
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ExpressionError(f"not an arithmetic expression: {shown!r}") from None


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        return f"the operator {type(node.op).__name__}"
    return f"a {type(node).__name__} expression"


def countdown_value(text: str) -> CountdownReading:
    """Read ``text`` as a countdown expression; raises ``ExpressionError`` or ``ZeroDivisionError``."""
    reading = CountdownReading(value=Fraction(0))
    try:
        reading.value = _countdown(_parse(normalise_operators(text)), reading.numbers)
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None
    return reading


def _countdown(node: ast.expr, used: list[int]) -> Fraction:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int):
            raise ExpressionError(f"only whole numbers are allowed, not {node.value!r}")
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_countdown(node.operand, used)
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BINARY):
        left, right = _countdown(node.left, used), _countdown(node.right, used)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right  # a zero divisor raises ZeroDivisionError for the scorer to report
    allowed = ", ".join(_OPERATOR_NAMES.values())
    raise ExpressionError(f"only numbers, {allowed} and parentheses are allowed; found {_describe(node)}")


def _bits(rational: Any) -> int:
    return max(int(abs(rational.p)).bit_length(), int(rational.q).bit_length())


def sympy_value(text: str) -> Any:
    """Read ``text`` as a sympy expression without evaluating any code; raises ``ExpressionError``."""
    text = normalise_operators(text).replace("^", "**")
    try:
        return _sympy(_parse(text))
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None


def _sympy(node: ast.expr) -> Any:
    import sympy

    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"not a number: {node.value!r}")
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Rational(repr(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _sympy(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _sympy(node.left), _sympy(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise ExpressionError("division by zero")
            return left / right
        if isinstance(node.op, ast.Pow):
            if not (right.is_number and abs(right) <= MAX_EXPONENT):
                raise ExpressionError(f"exponents must be numbers of at most {MAX_EXPONENT}")
            if left.is_Rational and _bits(left) * abs(right) > MAX_RESULT_BITS:
                raise ExpressionError("the power is too large to compare")
            return left**right
    if isinstance(node, ast.Name):
        constants = {"pi": sympy.pi, "e": sympy.E}
        return constants.get(node.id, sympy.Symbol(node.id))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sqrt"
            and len(node.args) == 1 and not node.keywords):
        return sympy.sqrt(_sympy(node.args[0]))
    raise ExpressionError(f"only numbers, + - * / ** , sqrt, pi, e and names are allowed; found {_describe(node)}")
