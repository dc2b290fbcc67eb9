"""A small parser for Google-style docstrings (summary, ``Args:`` and ``Returns:``)."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["Docstring", "parse_docstring"]

_SECTION = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|other parameters|returns|return|"
    r"yields|yield|raises|raise|examples|example|note|notes|warning|warnings|see also|todo|references|"
    r"attributes)\s*:\s*$",
    re.IGNORECASE,
)
_PARAM_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments",
                   "other parameters"}
_RETURN_SECTIONS = {"returns", "return"}
_PARAM = re.compile(r"^\*{0,2}(?P<name>[A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:\s*(?P<text>.*)$")


@dataclass(frozen=True)
class Docstring:
    """A parsed docstring: the description before the first section, per-parameter text, return text."""

    description: str = ""
    params: dict[str, str] = field(default_factory=dict)
    returns: str = ""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _join(lines: list[str]) -> str:
    """Join wrapped lines into paragraphs separated by blank lines."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def _parse_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, list[str]] = {}
    content = [line for line in lines if line.strip()]
    if not content:
        return {}
    base = min(_indent(line) for line in content)
    current: str | None = None
    for line in content:
        match = _PARAM.match(line.strip()) if _indent(line) == base else None
        if match:
            current = match.group("name")
            params[current] = [match.group("text")]
        elif current is not None:
            params[current].append(line)
    return {name: _join(text) for name, text in params.items()}


def parse_docstring(text: str | None) -> Docstring:
    """Parse a Google-style docstring; text that follows no convention becomes the description."""
    if not text or not text.strip():
        return Docstring()
    lines = inspect.cleandoc(text).splitlines()
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in lines:
        match = _SECTION.match(line.strip()) if _indent(line) == 0 else None
        if match:
            sections.append((match.group(1).lower(), []))
        else:
            sections[-1][1].append(line)
    params: dict[str, str] = {}
    returns = ""
    for name, body in sections[1:]:
        if name in _PARAM_SECTIONS:
            params.update(_parse_params(body))
        elif name in _RETURN_SECTIONS:
            returns = _join(body)
    return Docstring(description=_join(sections[0][1]), params=params, returns=returns)
