"""The console's SVG charts: escaped text, proportional bars, and a clear error on mismatched input."""

from __future__ import annotations

import pytest

from registry.console.svg import Bar, bar_chart, column_chart, sparkline


def test_bars_are_proportional_and_every_text_is_escaped() -> None:
    svg = str(bar_chart([Bar("<b>x</b>", 10, 5, href="/ui/tools/a/b?v=1&x=2"), Bar("y", 5)], title="T & U",
                        width=460))
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg and 'aria-label="T &amp; U"' in svg
    assert 'href="/ui/tools/a/b?v=1&amp;x=2"' in svg
    assert 'class="bar" x="260" y="5" width="55.0"' in svg and 'class="bar problem" x="315.0" y="5" width="55.0"' in svg
    assert 'class="bar" x="260" y="25" width="55.0"' in svg


def test_columns_and_sparklines() -> None:
    svg = str(column_chart([0, 4], ["2026-03-01", "2026-03-02"], problems=[0, 1], title="days", width=100,
                           height=118))
    assert 'height="75.0"' in svg and 'height="25.0"' in svg and ">2026-03-01<" in svg
    with pytest.raises(ValueError, match="one label"):
        column_chart([1, 2], ["only one"], title="x")
    assert 'points="0.0,20.0 60.0,20.0 120.0,20.0"' in str(sparkline([0, 0, 0], title="flat"))
    assert 'points="0.0,20.0 120.0,2.0"' in str(sparkline([0, 9], title="up"))
