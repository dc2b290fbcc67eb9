"""The semver rule table: schema diffs classified as major, minor, patch or none."""

from __future__ import annotations

from typing import Any

import pytest

from registry.schemas import ChangeKind
from registry.service.semver import bump, classify_change, describe_changes, parse_semver


def obj(required: tuple[str, ...] = (), **props: dict[str, Any]) -> dict[str, Any]:
    """An input schema with ``props`` as properties and ``required`` names."""
    return {"type": "object", "properties": props, "required": list(required)}


INT = {"type": "integer"}
NUM = {"type": "number"}
STR = {"type": "string"}
BASE = obj(("a", "b"), a=INT, b=INT)

Schema = dict[str, Any]
CASES: list[tuple[str, Schema, Schema, Schema | None, Schema | None, bool, ChangeKind]] = [
    # id, old_input, new_input, old_output, new_output, code_changed, expected
    ("identical", BASE, BASE, INT, INT, False, "none"),
    ("code only", BASE, BASE, INT, INT, True, "patch"),
    ("doc only", BASE, obj(("a", "b"), a={**INT, "description": "first"}, b=INT), INT, INT, True, "patch"),
    ("removed parameter", BASE, obj(("a",), a=INT), INT, INT, True, "major"),
    ("renamed parameter", BASE, obj(("a", "c"), a=INT, c=INT), INT, INT, True, "major"),
    ("new required parameter", BASE, obj(("a", "b", "c"), a=INT, b=INT, c=INT), INT, INT, True, "major"),
    ("new optional parameter", BASE, obj(("a", "b"), a=INT, b=INT, c={**INT, "default": 0}), INT, INT, True, "minor"),
    ("optional became required", obj(("a",), a=INT, b=INT), BASE, INT, INT, True, "major"),
    ("required became optional", BASE, obj(("a",), a=INT, b={**INT, "default": 1}), INT, INT, True, "minor"),
    ("narrowed number to integer", obj(("x",), x=NUM), obj(("x",), x=INT), NUM, NUM, True, "major"),
    ("widened integer to number", obj(("x",), x=INT), obj(("x",), x=NUM), NUM, NUM, True, "minor"),
    ("unrelated type", obj(("x",), x=INT), obj(("x",), x=STR), NUM, NUM, True, "major"),
    ("optional widened", obj(("x",), x=INT),
     obj(("x",), x={"anyOf": [INT, {"type": "null"}]}), INT, INT, True, "minor"),
    ("enum member removed", obj(("m",), m={"type": "string", "enum": ["a", "b"]}),
     obj(("m",), m={"type": "string", "enum": ["a"]}), STR, STR, True, "major"),
    ("enum member added", obj(("m",), m={"type": "string", "enum": ["a"]}),
     obj(("m",), m={"type": "string", "enum": ["a", "b"]}), STR, STR, True, "minor"),
    ("enum introduced", obj(("m",), m=STR), obj(("m",), m={"type": "string", "enum": ["a"]}), STR, STR, True, "major"),
    ("bound tightened", obj(("n",), n={"type": "integer", "minimum": 0}),
     obj(("n",), n={"type": "integer", "minimum": 1}), INT, INT, True, "major"),
    ("bound loosened", obj(("n",), n={"type": "integer", "maximum": 5}),
     obj(("n",), n={"type": "integer", "maximum": 9}), INT, INT, True, "minor"),
    ("array items narrowed", obj(("xs",), xs={"type": "array", "items": NUM}),
     obj(("xs",), xs={"type": "array", "items": INT}), NUM, NUM, True, "major"),
    ("output type changed", BASE, BASE, INT, STR, True, "major"),
    ("output narrowed is still a change", BASE, BASE, NUM, INT, True, "major"),
    ("output declared", BASE, BASE, None, INT, True, "minor"),
    ("output removed", BASE, BASE, INT, None, True, "major"),
    ("default changed", obj(("a",), a=INT, b={**INT, "default": 1}),
     obj(("a",), a=INT, b={**INT, "default": 2}), INT, INT, True, "minor"),
    ("closed additional properties", {**BASE, "additionalProperties": True},
     {**BASE, "additionalProperties": False}, INT, INT, True, "major"),
    ("major wins over minor", BASE, obj(("a",), a=INT, c={**INT, "default": 0}), INT, INT, True, "major"),
]

# Output schemas whose *properties* are named like the prose keywords: removing one is a change of
# what callers receive (major), never prose; the prose keywords themselves are a patch wherever they are.
PROSE_NAMED = ("title", "description", "examples")


def out_obj(required: tuple[str, ...] = ("value",), **props: dict[str, Any]) -> dict[str, Any]:
    """An output object schema with ``value`` (a string) plus ``props``."""
    return obj(required, value=STR, **props)


PROSE_CASES: list[tuple[str, Schema, Schema, Schema | None, Schema | None, ChangeKind]] = [
    *[(f"optional output property {name!r} removed", BASE, BASE, out_obj(**{name: STR}), out_obj(), "major")
      for name in PROSE_NAMED],
    *[(f"required output property {name!r} removed", BASE, BASE, out_obj(("value", name), **{name: STR}),
       out_obj(), "major") for name in PROSE_NAMED],
    *[(f"optional output property {name!r} added", BASE, BASE, out_obj(), out_obj(**{name: STR}), "major")
      for name in PROSE_NAMED],
    *[(f"output property {name!r} retyped", BASE, BASE, out_obj(**{name: STR}), out_obj(**{name: INT}), "major")
      for name in PROSE_NAMED],
    *[(f"nested output property {name!r} removed", BASE, BASE,
       out_obj(meta=obj((), **{name: STR}, other=INT)), out_obj(meta=obj((), other=INT)), "major")
      for name in PROSE_NAMED],
    *[(f"output array item property {name!r} removed", BASE, BASE,
       {"type": "array", "items": obj((), **{name: STR}, n=INT)}, {"type": "array", "items": obj((), n=INT)},
       "major") for name in PROSE_NAMED],
    *[(f"input parameter {name!r} removed", obj(("a",), a=INT, **{name: STR}), obj(("a",), a=INT), INT, INT,
       "major") for name in PROSE_NAMED],
    *[(f"input parameter {name!r} renamed", obj(("a", name), a=INT, **{name: STR}), obj(("a", "b"), a=INT, b=STR),
       INT, INT, "major") for name in PROSE_NAMED],
    ("output prose keywords added", BASE, BASE, out_obj(),
     {**out_obj(), "title": "Result", "description": "What comes back.", "examples": [{"value": "x"}],
      "properties": {"value": {**STR, "title": "Value", "description": "the value", "examples": ["x"]}}},
     "patch"),
    ("output prose keywords changed on a property named title", BASE, BASE,
     out_obj(title={**STR, "title": "Old", "description": "old words"}),
     out_obj(title={**STR, "title": "New", "description": "new words", "examples": ["t"]}), "patch"),
    ("output prose removed from nested and array schemas", BASE, BASE,
     {"type": "array", "title": "Rows", "items": {**obj((), title=STR), "description": "a row",
                                                  "examples": [{"title": "x"}]}},
     {"type": "array", "items": obj((), title=STR)}, "patch"),
    ("output prose in anyOf branches", BASE, BASE,
     {"anyOf": [{**STR, "description": "text"}, {"type": "null", "title": "nothing"}]},
     {"anyOf": [STR, {"type": "null"}]}, "patch"),
    ("input prose keywords changed", obj(("a",), a={**INT, "description": "old", "title": "A"}),
     obj(("a",), a={**INT, "description": "new", "examples": [1]}), INT, INT, "patch"),
    ("input property named title documented", obj(("title",), title=STR),
     obj(("title",), title={**STR, "title": "Title", "description": "the title"}), INT, INT, "patch"),
    ("output default holding a key named title changed", BASE, BASE,
     out_obj(opts={"type": "object", "default": {"title": "a"}}),
     out_obj(opts={"type": "object", "default": {"title": "b"}}), "major"),
]


@pytest.mark.parametrize(("old_in", "new_in", "old_out", "new_out", "expected"),
                         [c[1:] for c in PROSE_CASES], ids=[c[0] for c in PROSE_CASES])
def test_prose_keywords_against_properties_named_like_them(old_in: Schema, new_in: Schema, old_out: Schema | None,
                                                           new_out: Schema | None, expected: ChangeKind) -> None:
    kind, changes = classify_change(old_in, old_out, new_in, new_out, code_changed=True)
    assert kind == expected, changes
    if expected == "patch":
        assert [c.path for c in changes] == ["source"]


def test_removed_output_property_says_the_schema_changed() -> None:
    _, changes = classify_change(BASE, out_obj(title=STR), BASE, out_obj(), code_changed=True)
    assert [c.message for c in changes] == [
        "output schema changed (still object): properties, bounds or constraints differ"]


@pytest.mark.parametrize(("old_in", "new_in", "old_out", "new_out", "code_changed", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_table(old_in: dict[str, Any], new_in: dict[str, Any], old_out: dict[str, Any] | None,
                    new_out: dict[str, Any] | None, code_changed: bool, expected: ChangeKind) -> None:
    kind, changes = classify_change(old_in, old_out, new_in, new_out, code_changed=code_changed)
    assert kind == expected
    assert (kind == "none") == (changes == [])
    assert max((c.kind for c in changes), key=["none", "patch", "minor", "major"].index, default="none") == kind


def test_rename_is_reported_as_a_rename() -> None:
    _, changes = classify_change(BASE, INT, obj(("a", "c"), a=INT, c=INT), INT, code_changed=True)
    assert [c.message for c in changes] == ["parameter 'b' renamed to 'c'"]
    assert changes[0].path == "input.properties.b"


def test_describe_changes_lists_most_severe_first() -> None:
    _, changes = classify_change(BASE, INT, obj(("a",), a=NUM, c={**INT, "default": 0}), INT, code_changed=True)
    text = describe_changes(changes)
    lines = text.splitlines()
    assert lines[0].startswith("- major: parameter 'b' removed")
    assert any("widened" in line for line in lines)
    assert any("new optional parameter 'c'" in line for line in lines)


@pytest.mark.parametrize(("version", "change", "expected"), [
    ("1.0.0", "major", "2.0.0"), ("1.4.2", "minor", "1.5.0"), ("1.4.2", "patch", "1.4.3"), ("3.1.4", "none", "3.1.4"),
])
def test_bump(version: str, change: ChangeKind, expected: str) -> None:
    assert bump(version, change) == expected


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "1.0.0-rc1", "a.b.c", ""])
def test_parse_semver_rejects_non_versions(bad: str) -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        parse_semver(bad)
