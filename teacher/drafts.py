"""Tool drafts as the teacher writes them, and the robust parsing of its answers.

The prompts ask for one fenced ```json block ``{"tools": [...]}``; real models also answer with a
bare JSON object or list, a JSON block with the source in a separate ```python block, or only a
```python block. ``parse_drafts`` accepts all of these and raises ``DraftError`` saying what was
missing when nothing usable is there.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from teacher.distil_errors import DraftError

__all__ = ["ToolDraft", "parse_drafts"]

_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_DEF = re.compile(r"^def ([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.MULTILINE)


class ToolDraft(BaseModel):
    """One tool the teacher proposed: source, role, inputs seen in the trajectory, tests, adapter."""

    name: str | None = None
    role: Literal["solver", "helper"] = "helper"
    source: str
    trajectory_inputs: list[dict[str, Any]] = Field(default_factory=list)
    tests: list[dict[str, Any]] = Field(default_factory=list)
    parse_question: str | None = None
    arg_maps: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
        if start < 0:
            return None
        end = max(text.rfind("}"), text.rfind("]"))
        try:
            return json.loads(text[start:end + 1]) if end > start else None
        except json.JSONDecodeError:
            return None


def _items(data: Any) -> list[Any]:
    if isinstance(data, dict):
        if isinstance(data.get("tools"), list):
            return list(data["tools"])
        if "source" in data or "code" in data:
            return [data]
        return []
    if isinstance(data, list):
        return list(data)
    return []


def _draft(item: Any, python_blocks: list[str]) -> ToolDraft | None:
    if not isinstance(item, dict):
        return None
    source = item.get("source") or item.get("code")
    if not isinstance(source, str) or not source.strip():
        source = python_blocks.pop(0) if python_blocks else None
    if source is None:
        return None
    role = item.get("role") if item.get("role") in ("solver", "helper") else "helper"
    adapter = item.get("parse_question")
    inputs = [i for i in item.get("trajectory_inputs") or [] if isinstance(i, dict)]
    tests = [t for t in item.get("tests") or [] if isinstance(t, dict) and isinstance(t.get("args", {}), dict)]
    raw_maps = item.get("arg_maps")
    maps: dict[str, Any] = raw_maps if isinstance(raw_maps, dict) else {}
    name = item.get("name") if isinstance(item.get("name"), str) else None
    return ToolDraft(name=name, role=role, source=source, trajectory_inputs=inputs, tests=tests,
                     parse_question=adapter if isinstance(adapter, str) and adapter.strip() else None,
                     arg_maps={k: v for k, v in maps.items() if isinstance(v, dict)})


def parse_drafts(text: str | None) -> list[ToolDraft]:
    """Every tool draft in a teacher answer; ``DraftError`` when there is none."""
    if not text or not text.strip():
        raise DraftError("the teacher's answer is empty; it must hold a ```json block with the tools")
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    python_blocks = [body for lang, body in blocks if lang in ("python", "py") or (not lang and _DEF.search(body))]
    candidates = [body for lang, body in blocks if lang in ("json", "")] + [text]
    for candidate in candidates:
        items = _items(_loads(candidate))
        drafts = [d for d in (_draft(item, python_blocks) for item in items) if d is not None]
        if drafts:
            return drafts
    drafts = [ToolDraft(source=body) for body in python_blocks if _DEF.search(body)]
    if drafts:
        return drafts
    raise DraftError("the teacher's answer holds no tool: no ```json block with a \"tools\" list and no "
                     "```python block defining a function")
