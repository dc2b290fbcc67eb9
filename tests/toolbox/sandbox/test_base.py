"""The values of the sandbox interface: limits declared once, the cancel token."""

from __future__ import annotations

from toolbox.sandbox.base import CancelToken, Limits
from toolbox.settings import SandboxLimits, SandboxSettings


def test_limits_are_the_settings_limits() -> None:
    assert set(Limits.model_fields) == set(SandboxLimits.model_fields)
    assert Limits().model_dump() == SandboxLimits().model_dump()
    settings = SandboxSettings(timeout_s=3, cpu_s=2, memory_mb=100, max_output_bytes=4096)
    assert Limits.from_settings(settings).model_dump() == settings.model_dump(include=set(SandboxLimits.model_fields))


def test_a_token_runs_each_callback_once_and_is_sticky() -> None:
    token = CancelToken()
    seen: list[str] = []
    token.on_cancel(lambda: seen.append("a"))
    forget = token.on_cancel(lambda: seen.append("forgotten"))
    forget()
    assert not token.cancelled and seen == []
    token.cancel()
    token.cancel()
    assert token.cancelled and seen == ["a"]
    token.on_cancel(lambda: seen.append("late"))  # already cancelled: runs at once
    assert seen == ["a", "late"]
