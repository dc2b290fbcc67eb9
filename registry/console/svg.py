"""Tiny server-side SVG charts for the console: horizontal bars, daily columns and sparklines.

Every text is escaped; the output is inline ``<svg>`` markup (no script, no external asset), styled
by classes of ``console.css`` and described by ``role="img"``, an ``aria-label`` and ``<title>``s
so a screen reader and a hover both get the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Bar", "bar_chart", "column_chart", "sparkline"]

_LABEL_W = 260
_VALUE_W = 90
_ROW_H = 20


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, and the part of it drawn as a problem (errors)."""

    label: str
    value: float
    problem: float = 0.0
    text: str | None = None  # the figure printed after the bar (default: the value)
    href: str | None = None


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 720, scale_max: float | None = None) -> Markup:
    """Horizontal bars, one row each: label, bar (its ``problem`` part in the problem colour), figure."""
    top = scale_max if scale_max is not None else max((b.value for b in bars), default=0.0)
    track = width - _LABEL_W - _VALUE_W
    height = _ROW_H * max(len(bars), 1) + 4
    rows = []
    for index, bar in enumerate(bars):
        y = index * _ROW_H + 2
        full = track * bar.value / top if top > 0 else 0.0
        bad = track * min(bar.problem, bar.value) / top if top > 0 else 0.0
        figure = bar.text if bar.text is not None else _num(bar.value)
        label = (f'<text class="label" x="{_LABEL_W - 6}" y="{y + 14}" text-anchor="end">'
                 f'{escape(_clip(bar.label, 40))}</text>')
        if bar.href:
            label = f'<a href="{escape(bar.href)}">{label}</a>'
        rows.append(
            f'<g><title>{escape(bar.label)}: {escape(figure)}</title>{label}'
            f'<rect class="bar" x="{_LABEL_W}" y="{y + 3}" width="{full - bad:.1f}" height="{_ROW_H - 6}"/>'
            f'<rect class="bar problem" x="{_LABEL_W + full - bad:.1f}" y="{y + 3}" width="{bad:.1f}" '
            f'height="{_ROW_H - 6}"/>'
            f'<text class="figure" x="{_LABEL_W + track + 6}" y="{y + 14}">{escape(figure)}</text></g>')
    return Markup(f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
                  f'{"".join(rows)}</svg>')


def column_chart(values: Sequence[int], labels: Sequence[str], *, title: str, problems: Sequence[int] = (),
                 width: int = 720, height: int = 120) -> Markup:
    """One column per value (days, oldest first), its ``problems`` part drawn in the problem colour."""
    if len(labels) != len(values) or (problems and len(problems) != len(values)):
        raise ValueError("column_chart needs one label (and one problem count, if any) per value")
    top = max(values, default=0)
    step = width / max(len(values), 1)
    plot = height - 18
    columns = []
    for index, value in enumerate(values):
        bad = problems[index] if problems else 0
        tall = plot * value / top if top else 0.0
        low = plot * min(bad, value) / top if top else 0.0
        x = index * step + 1
        columns.append(
            f'<g><title>{escape(labels[index])}: {value} calls, {bad} errors</title>'
            f'<rect class="bar" x="{x:.1f}" y="{plot - tall:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{tall - low:.1f}"/>'
            f'<rect class="bar problem" x="{x:.1f}" y="{plot - low:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{low:.1f}"/></g>')
    ends = (f'<text class="axis" x="0" y="{height - 4}">{escape(labels[0])}</text>'
            f'<text class="axis" x="{width}" y="{height - 4}" text-anchor="end">{escape(labels[-1])}</text>'
            if labels else "")
    return Markup(f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
                  f'{"".join(columns)}{ends}</svg>')


def sparkline(values: Sequence[int], *, title: str, width: int = 120, height: int = 22) -> Markup:
    """A line through ``values`` (oldest first) scaled to the largest; flat at the bottom when all are 0."""
    top = max(values, default=0)
    count = len(values)
    step = width / (count - 1) if count > 1 else 0.0
    points = " ".join(f"{i * step:.1f},{height - 2 - (height - 4) * v / top if top else height - 2:.1f}"
                      for i, v in enumerate(values))
    return Markup(f'<svg class="spark" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
                  f'<polyline points="{points}"/></svg>')
