"""The CLI's log handler: it writes to the current stderr, never to one a test runner has closed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from toolbox.logging import ROOT, configure_logging, get_logger


@pytest.fixture
def clean_root() -> Iterator[logging.Logger]:
    """The ``distillery`` logger with the CLI handler removed again after the test."""
    logger = logging.getLogger(ROOT)
    before = list(logger.handlers)
    yield logger
    logger.handlers = before


def test_records_go_to_the_stderr_of_the_moment(clean_root: logging.Logger,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    clean_root.handlers = [h for h in clean_root.handlers if not getattr(h, "_distillery", False)]
    configure_logging("INFO")
    get_logger("test").info("one")
    first.close()  # what a CLI runner does with its captured stream
    monkeypatch.setattr("sys.stderr", second)
    get_logger("test").info("two")
    assert "distillery.test: two" in second.getvalue() and "Logging error" not in second.getvalue()
