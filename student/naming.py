"""Reversible names: MCP tool names ↔ OpenAI function names and Python identifiers.

MCP allows ``[A-Za-z0-9._-]{1,128}``; OpenAI function names must match ``^[A-Za-z0-9_-]{1,64}$`` and a
code-mode session needs Python identifiers. A :class:`NameMap` sanitises each name (``math.add`` →
``math_add``), hash-shortens long or colliding ones, and keeps the reverse map.
"""

from __future__ import annotations

import hashlib
import keyword
import re
from collections.abc import Iterable
from typing import Literal

__all__ = ["FUNCTION_NAME", "NameMap", "NameStyle"]

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NameStyle = Literal["function", "identifier"]
_MAX = 64
_RESERVED = frozenset({"final_answer", "print", "search_tools", "call_tool"})


def _digest(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:8]


def _sanitise(name: str, style: NameStyle) -> str:
    pattern = r"[^A-Za-z0-9_]" if style == "identifier" else r"[^A-Za-z0-9_-]"
    text = re.sub(pattern, "_", name) or "_"
    if style == "identifier" and (text[0].isdigit() or keyword.iskeyword(text)):
        text = f"t_{text}"
    return text


class NameMap:
    """A bijection between a set of MCP tool names and safe names of one ``style``.

    ``reserved`` names (in identifier style: ``final_answer`` and the session's meta functions) are
    never produced for a tool unless the tool has exactly that MCP name.
    """

    def __init__(self, mcp_names: Iterable[str], *, style: NameStyle = "function") -> None:
        self.style = style
        self._to_safe: dict[str, str] = {}
        self._to_mcp: dict[str, str] = {}
        for name in sorted(set(mcp_names)):
            self._add(name)

    def _add(self, name: str) -> None:
        safe = _sanitise(name, self.style)
        taken = safe in self._to_mcp or (self.style == "identifier" and safe in _RESERVED and safe != name)
        if len(safe) > _MAX or taken:
            safe = f"{safe[:_MAX - 9]}_{_digest(name)}"
        if safe in self._to_mcp:  # a hash collision: practically impossible, never silently merged
            raise ValueError(f"tool names {name!r} and {self._to_mcp[safe]!r} map to the same name {safe!r}")
        self._to_safe[name] = safe
        self._to_mcp[safe] = name

    def safe(self, mcp_name: str) -> str:
        """The safe name of ``mcp_name`` (``KeyError`` when it is not in the map)."""
        return self._to_safe[mcp_name]

    def mcp(self, safe_name: str) -> str | None:
        """The MCP name behind ``safe_name``; ``None`` for a name the map does not know."""
        return self._to_mcp.get(safe_name)

    def __contains__(self, mcp_name: object) -> bool:
        return mcp_name in self._to_safe

    def __len__(self) -> int:
        return len(self._to_safe)

    def items(self) -> list[tuple[str, str]]:
        """``(mcp_name, safe_name)`` pairs, sorted by MCP name."""
        return sorted(self._to_safe.items())
