"""Fixtures of the evaluation-harness tests."""

from __future__ import annotations

import pytest

from tests.student.eval.support import mixed_tasks
from toolbox.tasks import Task


@pytest.fixture
def tasks() -> list[Task]:
    """Five tasks of two families (game24 and an exact-match toy family)."""
    return mixed_tasks()
