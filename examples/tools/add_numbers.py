"""Sum a list of numbers without floating-point drift."""

import math


def add_numbers(numbers: list[float], start: float = 0.0) -> float:
    """Add numbers with compensated (exact-rounding) summation.

    Args:
        numbers: The numbers to add; may be empty.
        start: A value to add the numbers to.

    Returns:
        The sum of ``start`` and every number, correctly rounded.
    """
    return math.fsum([start, *numbers])
