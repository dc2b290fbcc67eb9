"""Fixtures for the sandbox tests: one warm pool per module, tool-spec and limits factories."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from toolbox.sandbox.base import Limits
from toolbox.sandbox.process import ProcessSandbox
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

TRIVIAL = "def f(x: int) -> int:\n    return x * 2\n"
# Call uids of this test session's pools: distinct from other sessions running at the same time (a pool
# kills every process of its uids when it stops, and idle workers hold a pre-forked child of their uid).
UID_BASE = 200_000 + (os.getpid() % 50_000) * 8


def make_spec(source: str, entrypoint: str = "f", name: str = "tool") -> ToolSpec:
    """A ToolSpec around ``source`` (no static checks: the sandbox must cope with anything)."""
    return ToolSpec(name=name, source=source, entrypoint=entrypoint)


def make_settings(**overrides: object) -> SandboxSettings:
    """Sandbox settings for tests: 2 workers, small limits, only numpy preloaded (fast start)."""
    values: dict[str, object] = {"workers": 2, "timeout_s": 5.0, "cpu_s": 3, "memory_mb": 256,
                                 "preload_modules": ["numpy"], "run_as_uid": UID_BASE}
    values.update(overrides)
    return SandboxSettings.model_validate(values)


def small_limits(**overrides: object) -> Limits:
    """Tight limits so hostile cases end quickly."""
    values: dict[str, object] = {"timeout_s": 2.0, "cpu_s": 1, "memory_mb": 128, "max_processes": 16,
                                 "max_output_bytes": 64 * 1024}
    values.update(overrides)
    return Limits.model_validate(values)


def wait_until_idle(box: ProcessSandbox, timeout_s: float = 30.0) -> None:
    """Wait until every worker has cleaned up after its last call and announced it is ready."""
    end = time.monotonic() + timeout_s
    while box.stats().idle < box.stats().workers and time.monotonic() < end:
        time.sleep(0.01)
    assert box.stats().idle == box.stats().workers, box.stats()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ProcessSandbox]:
    """A started 2-worker pool at the default isolation (bwrap), shared by a test module."""
    box = ProcessSandbox(make_settings())
    box.start()
    yield box
    box.close()


@pytest.fixture
def spec_factory() -> Callable[..., ToolSpec]:
    """``make_spec`` as a fixture."""
    return make_spec


@pytest.fixture
def limits_factory() -> Callable[..., Limits]:
    """``small_limits`` as a fixture."""
    return small_limits


@pytest.fixture
def settings_factory() -> Callable[..., SandboxSettings]:
    """``make_settings`` as a fixture."""
    return make_settings
