"""Conformance fixture: a slow tool, so the server sends progress heartbeats (``tools-call-with-progress``)."""

import time


def test_tool_with_progress() -> str:
    """Sleep 3.5 seconds, long enough for three one-second progress heartbeats, then confirm.

    Returns:
        A sentence confirming that the tool ran to the end.
    """
    time.sleep(3.5)
    return "test_tool_with_progress finished after 3.5 seconds"
