"""The toolbox's exception hierarchy, and the one base every package's errors derive from.

    ToolboxError               every error Distillery raises on purpose (registry, teacher and
    │                          student hierarchies derive from it, so each edge catches one type)
    ├── ConfigError            settings that cannot work together
    ├── SpecError              a ToolSpec that breaks its own rules
    ├── AnalysisError          source that fails static analysis (carries the findings)
    ├── SandboxError           the sandbox itself failed (not the tool)
    │   └── IsolationUnavailable   the requested isolation level cannot be had here
    ├── LLMError               a chat model call failed
    │   └── ScriptExhausted    a scripted test model ran out of replies
    └── EmbeddingError         an embedder failed

A tool that raises, times out or exceeds a limit is *not* an exception here: the sandbox
returns it as a failed ``RunResult``. Every package translates these at its edges (CLI:
``toolbox.cli_edge``; REST: problem details; MCP: ``isError`` results).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AnalysisError",
    "ConfigError",
    "EmbeddingError",
    "IsolationUnavailable",
    "LLMError",
    "SandboxError",
    "ScriptExhausted",
    "SpecError",
    "ToolboxError",
]


class ToolboxError(Exception):
    """Base of every error Distillery raises on purpose, in every package."""


class ConfigError(ToolboxError):
    """Settings that are individually valid but cannot work together."""


class SpecError(ToolboxError):
    """A ToolSpec that breaks its own rules (size, names, tests)."""


class AnalysisError(ToolboxError):
    """Source code that fails static analysis; ``findings`` lists every problem."""

    def __init__(self, message: str, findings: list[Any] | None = None) -> None:
        super().__init__(message)
        self.findings = findings or []


class SandboxError(ToolboxError):
    """The sandbox could not run a call at all (as opposed to the tool failing)."""


class IsolationUnavailable(SandboxError):
    """The configured isolation level is not available on this machine."""


class LLMError(ToolboxError):
    """A chat-model call failed after retries."""


class ScriptExhausted(LLMError):
    """A scripted model was asked for more replies than its script holds."""


class EmbeddingError(ToolboxError):
    """An embedder could not produce vectors."""
