"""Named loggers under ``distillery.*``, configured once by the CLI."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging", "get_logger"]

ROOT = "distillery"


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``distillery.<name>`` for a module or component."""
    return logging.getLogger(f"{ROOT}.{name}" if name else ROOT)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at each record, so a swapped stream (a CLI test runner's) is never kept."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        """``StreamHandler.__init__`` sets a stream; this handler has none of its own."""


def configure_logging(level: str | int = "INFO") -> None:
    """Attach one stderr handler to the ``distillery`` logger; safe to call twice."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(level)
    if not any(getattr(h, "_distillery", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._distillery = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
