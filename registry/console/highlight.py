"""A tiny server-side Python highlighter: stdlib ``tokenize`` tokens wrapped in escaped ``<span>``s.

Every character of the source is HTML-escaped; only the spans added here are markup. Source that
does not tokenize (it was stored, so it parsed once, but be safe) comes back escaped and plain.
"""

from __future__ import annotations

import builtins
import io
import keyword
import token
import tokenize

from markupsafe import Markup, escape

__all__ = ["highlight_python"]

_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))


def _css_class(kind: int, text: str) -> str | None:
    if kind == token.NAME:
        if keyword.iskeyword(text) or keyword.issoftkeyword(text):
            return "kw"
        return "bi" if text in _BUILTINS else None
    return {token.STRING: "str", token.NUMBER: "num", token.COMMENT: "com", token.OP: "op"}.get(kind)


def _offsets(source: str) -> list[int]:
    """Offset of the start of each line (1-based line numbers index it directly)."""
    starts = [0, 0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def highlight_python(source: str) -> Markup:
    """``source`` as escaped HTML with ``<span class="kw|bi|str|num|com|op">`` around its tokens."""
    starts = _offsets(source)
    out: list[str] = []
    position = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            css = _css_class(tok.type, tok.string)
            if css is None or not tok.string:
                continue
            begin = starts[tok.start[0]] + tok.start[1]
            end = starts[tok.end[0]] + tok.end[1]
            if begin < position:
                continue
            out.append(str(escape(source[position:begin])))
            out.append(f'<span class="{css}">{escape(source[begin:end])}</span>')
            position = end
    except (tokenize.TokenError, SyntaxError, IndexError):
        return Markup(escape(source))
    out.append(str(escape(source[position:])))
    return Markup("".join(out))
