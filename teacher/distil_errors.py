"""Errors of the teacher's distil half (extraction, checks, publishing, run state)."""

from __future__ import annotations

from toolbox.errors import ToolboxError

__all__ = ["BoxWriteError", "DistilError", "DraftError", "EndpointError", "JournalError"]


class DistilError(ToolboxError):
    """Base of the errors raised while turning trajectories into tools."""


class DraftError(DistilError):
    """A teacher answer holds no usable tool draft (no code block, unreadable JSON)."""


class EndpointError(DraftError):
    """The teacher endpoint failed or timed out, so there is no answer to read."""


class BoxWriteError(DistilError):
    """Publishing a tool or storing a trajectory in the registry failed."""


class JournalError(DistilError):
    """The run journal cannot be read or written."""
