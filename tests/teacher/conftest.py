"""Fixtures for the teacher tests: sandbox settings for sessions and tool calls, and a game24 task factory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from toolbox.sandbox.process import ProcessSandbox
from toolbox.settings import SandboxSettings, TeacherSettings
from toolbox.tasks import Task

# Uids of this test session's sandboxes: away from other test sessions running at the same time.
UID_BASE = 400_000 + (os.getpid() % 50_000) * 8


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    """Sandbox settings for teacher tests: 2 workers, small limits, a short per-cell timeout, numpy only."""
    return SandboxSettings(
        workers=2, timeout_s=3.0, cpu_s=3, memory_mb=256, preload_modules=["numpy"], run_as_uid=UID_BASE
    )


@pytest.fixture
def teacher_settings() -> TeacherSettings:
    """Teacher settings with a few steps (enough for every scripted conversation here)."""
    return TeacherSettings(max_steps=4, max_tokens=256, temperature=0.0)


@pytest.fixture
def game24_task() -> Callable[..., Task]:
    """Build a game24 task: ``game24_task([2, 3, 4, 1])`` (id and question derived from the numbers)."""

    def make(numbers: list[int] | None = None, *, task_id: str | None = None) -> Task:
        values = numbers or [2, 3, 4, 1]
        joined = " ".join(str(n) for n in values)
        return Task(
            id=task_id or "game24-" + "-".join(str(n) for n in values),
            question=f"Use the numbers {joined} each exactly once with + - * / and parentheses to make 24. "
            "Answer with the expression.",
            scorer="countdown",
            numbers=values,
            target=24,
            family="game24",
        )

    return make


@pytest.fixture(scope="module")
def tool_sandbox() -> Iterator[ProcessSandbox]:
    """A started one-worker process sandbox for running box tools' code (``sandbox.run``)."""
    box = ProcessSandbox(SandboxSettings(workers=1, timeout_s=5.0, preload_modules=[], run_as_uid=UID_BASE + 4))
    box.start()
    yield box
    box.close()
