"""``ToolSpec``: one tool as the teacher writes it and the registry stores it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_SOURCE_BYTES",
    "MAX_TESTS",
    "NAME_PATTERN",
    "CompareMode",
    "Provenance",
    "ToolSpec",
    "ToolTest",
]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
MAX_SOURCE_BYTES = 64 * 1024
MAX_TESTS = 50


class CompareMode(StrEnum):
    """How a test's expected value is compared with the tool's result."""

    exact = "exact"
    approx = "approx"
    contains = "contains"


class ToolTest(BaseModel):
    """One example call: keyword arguments and the value it must return."""

    model_config = ConfigDict(extra="forbid")

    args: dict[str, Any] = Field(default_factory=dict)
    expected: Any = None
    compare: CompareMode = CompareMode.exact


class Provenance(BaseModel):
    """Where a tool came from."""

    model_config = ConfigDict(extra="forbid")

    teacher_model: str | None = None
    task_ids: list[str] = Field(default_factory=list)
    trajectory_id: str | None = None
    parent_version_ids: list[str] = Field(default_factory=list)


class ToolSpec(BaseModel):
    """A tool: a Python module, the function to call, its schemas, tests and provenance.

    ``input_schema`` and ``output_schema`` are derived from the entrypoint's signature by
    ``toolbox.analysis.derive_schemas``; ``toolbox.analysis.build_spec`` fills them in.
    """

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(default="default", pattern=NAME_PATTERN)
    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=4096)
    source: str
    entrypoint: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    tests: list[ToolTest] = Field(default_factory=list, max_length=MAX_TESTS)
    allowed_imports: list[str] | None = Field(
        default=None, description="Extra modules this tool may import beyond the configured allowlist."
    )
    tags: list[str] = Field(default_factory=list, max_length=32)
    provenance: Provenance = Field(default_factory=Provenance)

    @field_validator("source")
    @classmethod
    def _source_size(cls, value: str) -> str:
        size = len(value.encode())
        if size > MAX_SOURCE_BYTES:
            raise ValueError(
                f"source is {size} bytes; the limit is {MAX_SOURCE_BYTES} bytes (64 KiB): split the tool"
            )
        return value

    @property
    def qualified_name(self) -> str:
        """``namespace.name``, unique in a registry."""
        return f"{self.namespace}.{self.name}"
