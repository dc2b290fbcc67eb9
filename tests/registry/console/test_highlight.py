"""The source highlighter escapes everything and marks keywords, strings and comments."""

from __future__ import annotations

from registry.console.highlight import highlight_python


def test_highlight_marks_tokens_and_escapes() -> None:
    html = str(highlight_python('def f(a: int) -> str:\n    """<b>x</b>"""\n    return "</pre>"  # <i>\n'))
    assert '<span class="kw">def</span> f' in html and '<span class="bi">int</span>' in html
    assert "<b>" not in html and "</pre>" not in html and "&lt;b&gt;" in html
    assert '<span class="com"># &lt;i&gt;</span>' in html


def test_untokenizable_source_comes_back_escaped() -> None:
    assert str(highlight_python('x = """<open')) == "x = &#34;&#34;&#34;&lt;open"
