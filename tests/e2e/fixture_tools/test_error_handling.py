"""Conformance fixture: a tool that always fails (``tools-call-error``)."""


def test_error_handling() -> str:
    """Always raise; the server answers with an isError result "RuntimeError: <message>".

    Returns:
        Nothing: the tool never returns.
    """
    raise RuntimeError("This tool intentionally returns an error for testing")
