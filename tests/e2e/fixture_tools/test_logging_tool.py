"""Conformance fixture for ``server-stateless``'s no-log-without-logLevel check.

Distillery tools have no logging back-channel: the server never sends ``notifications/message``.
This tool answers normally so the check can confirm that no log notification reaches the client.
"""


def test_logging_tool() -> str:
    """Return a fixed sentence; a served tool cannot emit MCP log notifications.

    Returns:
        A sentence saying that the tool ran.
    """
    return "test_logging_tool ran; served tools never emit MCP log notifications"
