"""The values static analysis produces: one ``Finding`` per problem, an ``AnalysisReport`` per module."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AnalysisReport", "Finding"]


class Finding(BaseModel):
    """One problem in a tool's source.

    ``line`` is 1-based and ``col`` 0-based (the ``ast`` convention); ``code`` is a stable
    machine-readable kind (``syntax``, ``module-statement``, ``import-not-allowed``, ...);
    ``message`` says what is wrong and what to change.
    """

    model_config = ConfigDict(frozen=True)

    line: int
    col: int
    code: str
    message: str


class AnalysisReport(BaseModel):
    """Everything ``check_source`` learnt about a module.

    ``ok`` is true exactly when there are no findings. The schemas and description are filled
    in as far as the entrypoint could be analysed, even when other findings make ``ok`` false.
    """

    ok: bool
    entrypoint: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    description: str = ""
