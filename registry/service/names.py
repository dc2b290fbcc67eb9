"""Names that imitate another tool of the same namespace (part of the poisoning scan).

Tool names are ASCII (``toolbox.spec.NAME_PATTERN``), so the homoglyphs that matter are the ASCII
ones: ``0``/``o``, ``1``/``l``, ``5``/``s``, ``rn``/``m``, ``vv``/``w``, and underscores that a
reader skips. A name *imitates* another when their skeletons are equal, or when, both being at
least ``MIN_EDIT_LENGTH`` long, one edit (insert, delete or substitute a character) turns one into
the other; a digit replaced by another digit (``step1``/``step2``) is a sibling, not an imitation.
"""

from __future__ import annotations

from collections.abc import Iterable

from registry.schemas import ReviewFinding

__all__ = ["MIN_EDIT_LENGTH", "imitated_names", "one_edit_apart", "skeleton"]

MIN_EDIT_LENGTH = 5
_PAIRS = (("rn", "m"), ("vv", "w"))
_SINGLE = str.maketrans({"0": "o", "1": "l", "5": "s", "_": None})


def skeleton(name: str) -> str:
    """``name`` as a reader sees it: look-alike characters folded, underscores dropped."""
    folded = name.lower()
    for pair, single in _PAIRS:
        folded = folded.replace(pair, single)
    return folded.translate(_SINGLE)


def one_edit_apart(a: str, b: str) -> bool:
    """Whether one insertion, deletion or substitution (not digit for digit) turns ``a`` into ``b``."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        return len(diffs) == 1 and not (diffs[0][0].isdigit() and diffs[0][1].isdigit())
    short, long = (a, b) if len(a) < len(b) else (b, a)
    index = next((i for i, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[index:] == long[index + 1:]


def imitated_names(name: str, others: Iterable[str]) -> list[ReviewFinding]:
    """A finding for each name in ``others`` that ``name`` imitates (``name`` itself is skipped)."""
    findings = []
    mine = skeleton(name)
    for other in sorted(set(others) - {name}):
        if skeleton(other) == mine:
            how = "reads the same as"
        elif min(len(name), len(other)) >= MIN_EDIT_LENGTH and one_edit_apart(name, other):
            how = "is one edit away from"
        else:
            continue
        findings.append(ReviewFinding(kind="imitation", where="name", excerpt=name,
                                      message=f"the name {name!r} {how} the existing tool {other!r} in this "
                                              "namespace; a model may call one for the other"))
    return findings
