"""Fixtures for the task tests."""

from __future__ import annotations

import pytest

from toolbox.tasks import Task


@pytest.fixture
def game24_task() -> Task:
    """A Game-of-24 puzzle: 4 4 6 8 (one solution: (4 + 8) * (6 - 4))."""
    return Task(id="g-1", question="Make 24 from 4 4 6 8.", scorer="countdown", numbers=[4, 4, 6, 8], target=24,
                family="game24")

