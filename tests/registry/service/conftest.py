"""Service-layer fixtures: one real sandbox per test module (warm workers are slow to start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from toolbox.sandbox import Sandbox, create_sandbox
from toolbox.settings import SandboxSettings


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """The configured process sandbox (bubblewrap isolation) with two workers, closed after the module."""
    box = create_sandbox(SandboxSettings(workers=2))
    try:
        yield box
    finally:
        box.close()
