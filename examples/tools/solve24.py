"""Game of 24: combine four numbers with + - * / to make 24."""

from fractions import Fraction
from itertools import combinations

TARGET = 24


def _search(items: list[tuple[Fraction, str]]) -> str | None:
    if len(items) == 1:
        value, text = items[0]
        return text if value == TARGET else None
    for i, j in combinations(range(len(items)), 2):
        (a, x), (b, y) = items[i], items[j]
        rest = [item for k, item in enumerate(items) if k not in (i, j)]
        options = [(a + b, f"({x} + {y})"), (a * b, f"({x} * {y})"), (a - b, f"({x} - {y})"),
                   (b - a, f"({y} - {x})")]
        if b != 0:
            options.append((a / b, f"({x} / {y})"))
        if a != 0:
            options.append((b / a, f"({y} / {x})"))
        for option in options:
            found = _search([*rest, option])
            if found is not None:
                return found
    return None


def solve24(a: int, b: int, c: int, d: int) -> str | None:
    """Find an arithmetic expression that uses each of four numbers once and equals 24.

    Only +, -, * and / are used; division is exact (fractions), so 8 / (3 - 8 / 3) counts.

    Args:
        a: The first number.
        b: The second number.
        c: The third number.
        d: The fourth number.

    Returns:
        An expression such as "(4 * 6) * (1 * 1)" that evaluates to 24, or None when there is none.
    """
    expression = _search([(Fraction(n), str(n)) for n in (a, b, c, d)])
    if expression is None:
        return None
    return expression[1:-1] if expression.startswith("(") and expression.endswith(")") else expression
