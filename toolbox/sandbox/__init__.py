"""Run untrusted tool code: the ``Sandbox`` interface and ``create_sandbox`` (process or docker backend)."""

from __future__ import annotations

from toolbox.sandbox.base import CancelToken, IsolationLevel, Limits, RunResult, Sandbox, ToolFailure
from toolbox.settings import SandboxSettings

__all__ = ["CancelToken", "IsolationLevel", "Limits", "RunResult", "Sandbox", "ToolFailure", "create_sandbox"]


def create_sandbox(settings: SandboxSettings) -> Sandbox:
    """Build the configured backend; raises ``IsolationUnavailable`` if its isolation cannot be had here."""
    if settings.backend == "docker":
        from toolbox.sandbox.docker import (  # type: ignore[import-not-found, unused-ignore]  # lazy: docker SDK
            DockerSandbox,
        )

        docker_box: Sandbox = DockerSandbox(settings)
        return docker_box
    from toolbox.sandbox.process import ProcessSandbox

    return ProcessSandbox(settings)
