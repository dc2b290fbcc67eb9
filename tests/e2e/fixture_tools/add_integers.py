"""E2E fixture: a tool with arguments, for the Inspector CLI's ``--tool-arg k=v`` calls."""


def add_integers(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first integer.
        b: The second integer.

    Returns:
        The sum a + b.
    """
    return a + b
