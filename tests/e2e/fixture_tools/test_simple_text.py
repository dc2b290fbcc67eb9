"""Conformance fixture: the exact text the ``tools-call-simple-text`` scenario expects."""


def test_simple_text() -> str:
    """Return a fixed sentence (a str result is served as one plain text block).

    Returns:
        The sentence "This is a simple text response for testing."
    """
    return "This is a simple text response for testing."
