"""The server package's exception hierarchy.

    ServerError
    └── UnknownTool       the name is not served to this caller (MCP: invalid params)
"""

from __future__ import annotations

__all__ = ["ServerError", "UnknownTool"]


class ServerError(Exception):
    """Base of every error the server raises on purpose."""


class UnknownTool(ServerError):
    """A tool name that is not served to this caller (unknown, hidden, yanked)."""
