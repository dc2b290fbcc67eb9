"""strip_schema_prose: prose keywords go wherever they are schema keywords; names and values stay."""

from __future__ import annotations

from typing import Any

import pytest

from toolbox.analysis import PROSE_KEYWORDS, strip_schema_prose

STR = {"type": "string"}
Schema = dict[str, Any]

CASES: list[tuple[str, Any, Any]] = [
    # id, schema, stripped
    ("top-level prose", {"type": "integer", "title": "N", "description": "a count", "examples": [1, 2]},
     {"type": "integer"}),
    *[(f"property named {name!r} is kept", {"type": "object", "properties": {name: {**STR, "description": "d"}},
                                            "required": [name]},
       {"type": "object", "properties": {name: STR}, "required": [name]}) for name in sorted(PROSE_KEYWORDS)],
    ("properties named like every prose keyword at once",
     {"type": "object", "title": "T", "properties": {"title": STR, "description": STR, "examples": STR}},
     {"type": "object", "properties": {"title": STR, "description": STR, "examples": STR}}),
    ("nested properties", {"type": "object", "properties": {"meta": {
        "type": "object", "description": "m", "properties": {"title": {**STR, "title": "x"}}}}},
     {"type": "object", "properties": {"meta": {"type": "object", "properties": {"title": STR}}}}),
    ("array items, object and tuple form",
     {"type": "array", "items": {**STR, "title": "item"}, "prefixItems": [{**STR, "examples": ["a"]}]},
     {"type": "array", "items": STR, "prefixItems": [STR]}),
    ("draft-4 tuple items", {"type": "array", "items": [{**STR, "description": "first"}, {"type": "integer"}]},
     {"type": "array", "items": [STR, {"type": "integer"}]}),
    ("anyOf / oneOf / allOf branches",
     {"anyOf": [{**STR, "title": "s"}], "oneOf": [{"type": "null", "description": "n"}], "allOf": [{"title": "x"}]},
     {"anyOf": [STR], "oneOf": [{"type": "null"}], "allOf": [{}]}),
    ("$defs names kept, their prose dropped",
     {"$defs": {"title": {**STR, "description": "d"}}, "$ref": "#/$defs/title"},
     {"$defs": {"title": STR}, "$ref": "#/$defs/title"}),
    ("additionalProperties schema and boolean",
     {"type": "object", "additionalProperties": {**STR, "title": "v"}, "patternProperties": {"^x": {"title": "p"}}},
     {"type": "object", "additionalProperties": STR, "patternProperties": {"^x": {}}}),
    ("boolean subschema", {"type": "object", "additionalProperties": False},
     {"type": "object", "additionalProperties": False}),
    ("instance values are data", {"type": "object", "default": {"title": "kept", "description": "kept"},
                                  "const": {"examples": 1}, "enum": [{"title": "a"}]},
     {"type": "object", "default": {"title": "kept", "description": "kept"}, "const": {"examples": 1},
      "enum": [{"title": "a"}]}),
    ("dependencies: schema or name list", {"dependencies": {"a": ["b"], "c": {"description": "d", "required": ["e"]}}},
     {"dependencies": {"a": ["b"], "c": {"required": ["e"]}}}),
    ("not / if / then / else",
     {"not": {"title": "n"}, "if": {"description": "i"}, "then": STR, "else": {"examples": []}},
     {"not": {}, "if": {}, "then": STR, "else": {}}),
    ("not a schema", None, None),
]


@pytest.mark.parametrize(("schema", "stripped"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_strip_schema_prose(schema: Any, stripped: Any) -> None:
    assert strip_schema_prose(schema) == stripped


def test_strip_schema_prose_does_not_modify_its_argument() -> None:
    schema: Schema = {"type": "object", "title": "T", "properties": {"a": {**STR, "description": "d"}}}
    before = repr(schema)
    strip_schema_prose(schema)
    assert repr(schema) == before
