"""Pulling the final answer out of a model's free text."""

from __future__ import annotations

import re

__all__ = ["extract_final_answer"]

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_LABELLED = re.compile(
    r"^\W*(?:the\s+)?(?:final\s+answer|answer)(?:[\s*_]*[:=]|\s+is\b[\s*_]*:?)\s*(.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_BOXED = "\\boxed{"


def _last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``, honouring nested braces."""
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    depth, begin = 1, start + len(_BOXED)
    for position in range(begin, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return text[begin:position]
    return None


def _clean(candidate: str) -> str | None:
    candidate = candidate.strip().strip("*`").strip()
    return candidate or None


def extract_final_answer(text: str) -> str | None:
    """The answer a model gave in ``text``, or ``None`` when it is empty.

    Looks, in order, for the last ``<answer>X</answer>``, the last ``\\boxed{X}``, the last line
    labelled ``Final answer: X`` or ``Answer: X`` (markdown emphasis allowed), and falls back to
    the last non-empty line.
    """
    tags = _ANSWER_TAG.findall(text)
    if tags:
        return _clean(tags[-1])
    boxed = _last_boxed(text)
    if boxed is not None:
        return _clean(boxed)
    labelled = [match for match in _LABELLED.findall(text) if _clean(match)]
    if labelled:
        return _clean(labelled[-1])
    lines = [line for line in text.splitlines() if line.strip()]
    return _clean(lines[-1]) if lines else None
