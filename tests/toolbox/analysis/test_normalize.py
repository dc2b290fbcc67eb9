"""``normalized_hash`` and ``version_hash``: equal for cosmetic changes, different for behaviour changes."""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import textwrap
import tokenize

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolbox.analysis import build_spec, normalized_hash, version_hash
from toolbox.errors import AnalysisError
from toolbox.settings import DEFAULT_ALLOWED_IMPORTS


def h(source: str, entrypoint: str = "f") -> str:
    """normalized_hash of dedented source."""
    return normalized_hash(textwrap.dedent(source), entrypoint)


EQUAL_PAIRS: list[tuple[str, str, str]] = [
    ("renamed locals",
     "def f(a: int) -> int:\n    total = a * 2\n    return total + 1\n",
     "def f(a: int) -> int:\n    result = a * 2\n    return result + 1\n"),
    ("comments, blank lines and spacing",
     "def f(a: int) -> int:\n    b = a+1\n    return b*2\n",
     "# header\n\ndef f(a: int)->int:  # entry\n\n    b   =   (a + 1)\n    return (b *\n            2)  # done\n"),
    ("docstring changed or removed",
     'def f(a: int) -> int:\n    """Old text."""\n    return a\n',
     "def f(a: int) -> int:\n    return a\n"),
    ("docstring-only bodies",
     'class K:\n    """Doc."""\n\ndef f() -> int:\n    """Doc."""\n    return 1\n',
     "class K:\n    pass\n\ndef f() -> int:\n    return 1\n"),
    ("loop variable",
     "def f(xs: list[int]) -> int:\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
     "def f(xs: list[int]) -> int:\n    acc = 0\n    for item in xs:\n        acc += item\n    return acc\n"),
    ("comprehension variable",
     "def f(xs: list[int]) -> list[int]:\n    return [x * x for x in xs if x]\n",
     "def f(xs: list[int]) -> list[int]:\n    return [v * v for v in xs if v]\n"),
    ("module-level helper function",
     "def _sq(v: int) -> int:\n    return v * v\n\ndef f(a: int) -> int:\n    return _sq(a)\n",
     "def _square(v: int) -> int:\n    return v * v\n\ndef f(a: int) -> int:\n    return _square(a)\n"),
    ("module-level helper class",
     "class P:\n    k = 1\n\ndef f(a: int) -> int:\n    return P.k + a\n",
     "class Holder:\n    k = 1\n\ndef f(a: int) -> int:\n    return Holder.k + a\n"),
    ("except and with names",
     "def f(a: str) -> str:\n    try:\n        return a\n    except ValueError as e:\n        return str(e)\n",
     "def f(a: str) -> str:\n    try:\n        return a\n    except ValueError as err:\n        return str(err)\n"),
    ("nested function and its locals",
     "def f(a: int) -> int:\n    def g(b):\n        c = b + a\n        return c\n    return g(1)\n",
     "def f(a: int) -> int:\n    def inner(b):\n        tmp = b + a\n        return tmp\n    return inner(1)\n"),
    ("function-local import alias",
     "def f(a: float) -> float:\n    import math as m\n    return m.sqrt(a)\n",
     "def f(a: float) -> float:\n    import math as maths\n    return maths.sqrt(a)\n"),
    ("swapped local names",
     "def f(p: int) -> int:\n    a = p\n    b = 2\n    return a - b\n",
     "def f(p: int) -> int:\n    b = p\n    a = 2\n    return b - a\n"),
    ("walrus target",
     "def f(xs: list[int]) -> int:\n    if (n := len(xs)) > 2:\n        return n\n    return 0\n",
     "def f(xs: list[int]) -> int:\n    if (size := len(xs)) > 2:\n        return size\n    return 0\n"),
    ("closure over an outer local with nonlocal",
     "def f(a: int) -> int:\n    c = 0\n    def g():\n        nonlocal c\n        c += a\n    g()\n    return c\n",
     "def f(a: int) -> int:\n    n = 0\n    def bump():\n        nonlocal n\n        n += a\n"
     "    bump()\n    return n\n"),
    ("helper named __, locals named like canonical names (hypothesis counterexample)",
     '\nimport math\n\n\ndef v_c(x: float) -> float:\n    v_a = math.sqrt(abs(x))\n    return v_a - 1\n\n\n'
     'def f(xs: list[int], k: int) -> list[float]:\n    """Transform each value."""\n'
     '    v_b = [v_c(v_a) * k for v_a in xs if v_a % 2 == 0]\n    v_d = sorted(v_b)\n    return v_d[:3]\n',
     'import math\ndef __(x: float) -> float:\n    _0 = math.sqrt(abs(x))\n    return _0 - 1\n'
     'def f(xs: list[int], k: int) -> list[float]:\n    b = [__(_0) * k for _0 in xs if _0 % 2 == 0]\n'
     '    a = sorted(b)\n    return a[:3]\n'),
    ("double-underscore helper names",
     "class __P:\n    k = 1\n\ndef __sq(v: int) -> int:\n    return v * v\n\ndef f(a: int) -> int:\n"
     "    return __sq(a) + __P.k\n",
     "class P:\n    k = 1\n\ndef sq(v: int) -> int:\n    return v * v\n\ndef f(a: int) -> int:\n"
     "    return sq(a) + P.k\n"),
    ("comprehension variable reusing a local's name",
     "def f(xs: list[int]) -> int:\n    x = 1\n    ys = [x for x in xs]\n    return x + len(ys)\n",
     "def f(xs: list[int]) -> int:\n    y = 1\n    ys = [x for x in xs]\n    return y + len(ys)\n"),
    ("nested comprehensions, dict and generator",
     "def f(m: list[list[int]]) -> dict[int, int]:\n    return {i: sum(j for j in r) for i, r in enumerate(m)}\n",
     "def f(m: list[list[int]]) -> dict[int, int]:\n    return {n: sum(v for v in row) for n, row in enumerate(m)}\n"),
    ("comprehension variable in a class body",
     "class K:\n    ys = [a * 2 for a in range(3)]\n\ndef f() -> int:\n    return K.ys[1]\n",
     "class K:\n    ys = [b * 2 for b in range(3)]\n\ndef f() -> int:\n    return K.ys[1]\n"),
    ("walrus inside a comprehension binds the function's local",
     "def f(xs: list[int]) -> int:\n    ys = [(t := x) for x in xs]\n    return t + len(ys)\n",
     "def f(xs: list[int]) -> int:\n    ys = [(last := v) for v in xs]\n    return last + len(ys)\n"),
]

DIFFERENT_PAIRS: list[tuple[str, str, str]] = [
    ("constant", "def f(a: int) -> int:\n    return a + 1\n", "def f(a: int) -> int:\n    return a + 2\n"),
    ("int vs float constant", "def f(a: int) -> float:\n    return a * 2\n",
     "def f(a: int) -> float:\n    return a * 2.0\n"),
    ("string constant", "def f() -> str:\n    return 'a'\n", "def f() -> str:\n    return 'b'\n"),
    ("operator", "def f(a: int) -> int:\n    return a + 1\n", "def f(a: int) -> int:\n    return a - 1\n"),
    ("comparison", "def f(a: int) -> bool:\n    return a < 1\n", "def f(a: int) -> bool:\n    return a <= 1\n"),
    ("operand order", "def f(a: int, b: int) -> int:\n    return a - b\n",
     "def f(a: int, b: int) -> int:\n    return b - a\n"),
    ("statement order",
     "def f(xs: list[int]) -> list[int]:\n    xs.append(1)\n    xs.sort()\n    return xs\n",
     "def f(xs: list[int]) -> list[int]:\n    xs.sort()\n    xs.append(1)\n    return xs\n"),
    ("parameter name", "def f(a: int) -> int:\n    return a\n", "def f(b: int) -> int:\n    return b\n"),
    ("called builtin", "def f(xs: list[int]) -> int:\n    return min(xs)\n",
     "def f(xs: list[int]) -> int:\n    return max(xs)\n"),
    ("attribute", "import math\n\ndef f(a: float) -> int:\n    return math.floor(a)\n",
     "import math\n\ndef f(a: float) -> int:\n    return math.ceil(a)\n"),
    ("default value", "def f(a: int = 1) -> int:\n    return a\n", "def f(a: int = 2) -> int:\n    return a\n"),
    ("annotation", "def f(a: int) -> int:\n    return a\n", "def f(a: float) -> int:\n    return a\n"),
    ("which local is returned", "def f(a: int) -> int:\n    x = a\n    y = 2\n    return x\n",
     "def f(a: int) -> int:\n    x = a\n    y = 2\n    return y\n"),
    ("keyword argument name", "def f(a: float) -> float:\n    return round(a, ndigits=2)\n",
     "def f(a: float) -> float:\n    return round(a, digits=2)\n"),
    ("local shadows a global vs uses it",
     "K = 3\n\ndef f(a: int) -> int:\n    K = 4\n    return a + K\n",
     "K = 3\n\ndef f(a: int) -> int:\n    t = 4\n    return a + K\n"),
    ("closure vs own parameter",
     "def f(a: int) -> int:\n    def g(b):\n        return a\n    return g(0)\n",
     "def f(a: int) -> int:\n    def g(b):\n        return b\n    return g(0)\n"),
    ("bare dotted import vs aliased",
     "def f() -> str:\n    import os.path\n    return str(os)\n",
     "def f() -> str:\n    import os.path as os\n    return str(os)\n"),
    ("comprehension variable does not leak: the later name is a global",
     "X = 1\nY = 2\n\ndef f(xs: list[int]) -> int:\n    ys = [X for X in xs]\n    return X + len(ys)\n",
     "X = 1\nY = 2\n\ndef f(xs: list[int]) -> int:\n    ys = [Y for Y in xs]\n    return Y + len(ys)\n"),
    ("comprehension in a class body reads the global, not the class attribute",
     "X = 1\nY = 2\n\ndef f() -> int:\n    class K:\n        X = 3\n        ys = [X for _ in range(1)]\n"
     "    return K.ys[0]\n",
     "X = 1\nY = 2\n\ndef f() -> int:\n    class K:\n        Y = 3\n        ys = [Y for _ in range(1)]\n"
     "    return K.ys[0]\n"),
    ("module hook keeps its name", "def __getattr__(n: str) -> int:\n    return 1\n\ndef f() -> int:\n    return 1\n",
     "def helper(n: str) -> int:\n    return 1\n\ndef f() -> int:\n    return 1\n"),
    ("imported module", "def f(a: float) -> float:\n    import math as m\n    return m.sqrt(a)\n",
     "def f(a: float) -> float:\n    import cmath as m\n    return m.sqrt(a)\n"),
]


@pytest.mark.parametrize(("label", "left", "right"), EQUAL_PAIRS, ids=[p[0] for p in EQUAL_PAIRS])
def test_equal_hashes(label: str, left: str, right: str) -> None:
    assert h(left) == h(right), label


@pytest.mark.parametrize(("label", "left", "right"), DIFFERENT_PAIRS, ids=[p[0] for p in DIFFERENT_PAIRS])
def test_different_hashes(label: str, left: str, right: str) -> None:
    assert h(left) != h(right), label


def test_entrypoint_name_is_part_of_the_identity() -> None:
    assert h("def f() -> int:\n    return 1\n", "f") != h("def g() -> int:\n    return 1\n", "g")


def test_module_constant_names_are_kept() -> None:
    """Module-level constants keep their names (documented decision); helper functions do not."""
    assert h("SCALE = 2\n\ndef f() -> int:\n    return SCALE\n") != h("K = 2\n\ndef f() -> int:\n    return K\n")


def test_hash_is_sha256_hex() -> None:
    digest = h("def f() -> int:\n    return 1\n")
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_unparsable_source_raises_analysis_error() -> None:
    with pytest.raises(AnalysisError) as info:
        normalized_hash("def f(:\n", "f")
    assert [f.code for f in info.value.findings] == ["syntax"]


# --- property-based: cosmetic rewrites keep the hash, mutations change it -------------------------

SEEDS: list[str] = [
    '''
    def f(values: list[float], scale: float = 1.0) -> float:
        """Scaled sum of positive values."""
        {a} = 0.0
        for {b} in values:
            if {b} > 0:
                {a} += {b} * scale
        return {a}
    ''',
    '''
    import math


    def {c}(x: float) -> float:
        {a} = math.sqrt(abs(x))
        return {a} - 1


    def f(xs: list[int], k: int) -> list[float]:
        """Transform each value."""
        {b} = [{c}({a}) * k for {a} in xs if {a} % 2 == 0]
        {d} = sorted({b})
        return {d}[:3]
    ''',
    '''
    def f(text: str, sep: str = ",") -> dict[str, int]:
        """Count the fields of a separated string."""
        {a}: dict[str, int] = {{}}
        for {b} in text.split(sep):
            {c} = {b}.strip()
            try:
                {a}[{c}] = {a}.get({c}, 0) + 1
            except KeyError as {d}:
                raise ValueError(str({d})) from {d}
        return {a}
    ''',
    '''
    def f(n: int) -> int:
        """Fibonacci with a nested helper."""
        def {a}(m: int) -> int:
            {c}, {d} = 0, 1
            for _ in range(m):
                {c}, {d} = {d}, {c} + {d}
            return {c}
        {b} = {a}(n)
        return {b} * 3
    ''',
]
SLOTS = ("a", "b", "c", "d")
TAKEN = {"f", "values", "scale", "x", "xs", "k", "text", "sep", "n", "m", "math", "_"}

identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,7}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and not keyword.issoftkeyword(s) and s not in TAKEN
    and not hasattr(builtins, s))


def render(seed: int, names: list[str]) -> str:
    return textwrap.dedent(SEEDS[seed]).format(**dict(zip(SLOTS, names, strict=True)))


def respace(source: str, data: st.DataObject) -> str:
    """Re-emit ``source`` token by token with random spaces, comments and blank lines."""
    out: list[str] = []
    line: list[str] = []
    previous_end: tuple[int, int] | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.NEWLINE, tokenize.NL):
            if line:
                comment = data.draw(st.sampled_from(["", "  # note", "# x = 1"]))
                out.append("".join(line) + comment)
            out.extend([""] * data.draw(st.integers(0, 2)))
            line, previous_end = [], None
            continue
        if token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER, tokenize.COMMENT):
            continue
        if previous_end is None:
            line.append(token.line[: token.start[1]])
        else:
            gap = token.start[1] - previous_end[1]
            line.append(" " * (data.draw(st.integers(1, 3)) if gap else data.draw(st.integers(0, 1))))
        line.append(token.string)
        previous_end = token.end
    return "\n".join(out) + "\n"


def redocument(source: str, text: str) -> str:
    """Replace the entrypoint's docstring with ``text`` (or drop it when empty)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "f":
            if ast.get_docstring(node) is not None:
                node.body = node.body[1:]
            if text:
                node.body.insert(0, ast.Expr(ast.Constant(text)))
    return ast.unparse(tree)


@given(seed=st.integers(0, len(SEEDS) - 1),
       names=st.lists(identifiers, min_size=4, max_size=4, unique=True),
       doc=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
       data=st.data())
def test_cosmetic_changes_keep_the_hash(seed: int, names: list[str], doc: str, data: st.DataObject) -> None:
    original = render(seed, ["v_a", "v_b", "v_c", "v_d"])
    rewritten = respace(redocument(render(seed, names), doc), data)
    assert ast.dump(ast.parse(rewritten)) != "" and h(rewritten) == h(original)


def _mutable_nodes(tree: ast.Module) -> list[ast.AST]:
    docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                  and ast.get_docstring(n) is not None and isinstance(n.body[0], ast.Expr)}
    return [n for n in ast.walk(tree)
            if (isinstance(n, ast.Constant) and id(n) not in docstrings) or isinstance(n, ast.BinOp | ast.Compare)]


OPERATORS = [ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow]
COMPARISONS = [ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq]


@given(seed=st.integers(0, len(SEEDS) - 1), data=st.data())
def test_mutations_change_the_hash(seed: int, data: st.DataObject) -> None:
    original = render(seed, ["v_a", "v_b", "v_c", "v_d"])
    tree = ast.parse(original)
    node = data.draw(st.sampled_from(_mutable_nodes(tree)))
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            node.value = data.draw(st.text(max_size=5).filter(lambda s: s != node.value))
        else:
            node.value = data.draw(st.one_of(st.integers(-5, 50), st.floats(-5, 50, allow_nan=False))
                                   .filter(lambda v: repr(v) != repr(node.value)))
    elif isinstance(node, ast.BinOp):
        node.op = data.draw(st.sampled_from([o for o in OPERATORS if not isinstance(node.op, o)]))()
    else:
        assert isinstance(node, ast.Compare)
        node.ops[0] = data.draw(st.sampled_from([o for o in COMPARISONS if not isinstance(node.ops[0], o)]))()
    assert h(ast.unparse(tree)) != h(original)


# --- version_hash ---------------------------------------------------------------------------------

def spec_of(source: str) -> object:
    return build_spec(textwrap.dedent(source), allowed_imports=DEFAULT_ALLOWED_IMPORTS)


TOOL = '''
def f(description: int, scale: float = 2.0) -> float:
    """{doc}

    Args:
        description: {arg}
        scale: Factor.
    """
    return description * scale
'''


def test_version_hash_ignores_descriptions_but_not_schemas() -> None:
    base = build_spec(textwrap.dedent(TOOL.format(doc="Scale.", arg="A count.")), allowed_imports=())
    reworded = build_spec(textwrap.dedent(TOOL.format(doc="Multiply.", arg="How many.")), allowed_imports=())
    assert base.input_schema != reworded.input_schema
    assert version_hash(base) == version_hash(reworded)
    retyped = build_spec(textwrap.dedent(TOOL.format(doc="Scale.", arg="A count.")).replace(
        "description: int", "description: float"), allowed_imports=())
    assert version_hash(base) != version_hash(retyped)
    defaulted = base.model_copy(update={"input_schema": {**base.input_schema, "required": []}})
    assert version_hash(base) != version_hash(defaulted)
    assert version_hash(base) != version_hash(base.model_copy(update={"source": base.source.replace("*", "+")}))
