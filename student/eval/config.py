"""What one ``distillery eval`` invocation runs: tasks, model, box, mode and budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EvalConfig", "Split"]

Split = Literal["train", "test", "holdout"]


class EvalConfig(BaseModel):
    """The settings of one evaluation; all but the API keys are recorded in every summary."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: str = Field(description="A tasks JSONL file or a family name of toolbox.tasks.")
    split: Split = "test"
    limit: int | None = Field(default=None, ge=1, description="Evaluate at most this many tasks.")
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    server: str | None = Field(default=None, description="A running Distillery (base URL or MCP URL).")
    server_key: str | None = Field(default=None, description="API key for the Distillery server.")
    box: str | None = Field(default=None, description="The box namespace (toolset) the student sees.")
    no_box: bool = False
    builtin: bool = Field(default=False, description="Builtin python/retrieve tools beside a box started here.")
    mode: Literal["auto", "tools", "json", "code"] = "auto"
    mode_probed: bool = Field(default=False, description="True when 'auto' was resolved by probing the endpoint.")
    sag: int = Field(default=1, ge=1, le=32, description="Self-consistent action candidates per step.")
    concurrency: int = Field(default=1, ge=1, le=64)
    seed: int | None = None
    baselines: bool = False
    k: int | None = Field(default=None, ge=1, description="Samples of the matched-compute baselines.")
    allow_train: bool = False
    out: Path

    def recorded(self) -> dict[str, Any]:
        """These settings as JSON-able data for summaries (API keys are never written)."""
        return self.model_dump(mode="json", exclude={"api_key", "server_key"})
