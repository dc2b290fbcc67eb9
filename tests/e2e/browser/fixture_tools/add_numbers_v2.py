"""Sum a list of numbers without floating-point drift."""

import math


def add_numbers(numbers: list[float], start: float = 0.0, digits: int | None = None) -> float:
    """Add numbers with compensated (exact-rounding) summation.

    Args:
        numbers: The numbers to add; may be empty.
        start: A value to add the numbers to.
        digits: Round the sum to this many decimal places; None keeps it as it is.

    Returns:
        The sum of ``start`` and every number, correctly rounded.
    """
    total = math.fsum([start, *numbers])
    return total if digits is None else round(total, digits)
