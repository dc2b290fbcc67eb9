"""Schema prose: the one place that knows which JSON Schema keywords are documentation only.

``title``, ``description`` and ``examples`` change what a schema *says*, never what it accepts or
returns. ``strip_schema_prose`` drops them where they are keywords of a schema, walking only into
the keywords that hold subschemas. Everything else is kept as it is: the names in a
``properties`` map (a property may well be called ``title``), and instance values such as
``default``, ``const`` and ``enum``, whose keys are data. Version identity, the publisher's
stated-versus-derived check and the semver classifier all compare schemas through it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROSE_KEYWORDS", "strip_schema_prose"]

PROSE_KEYWORDS = frozenset({"title", "description", "examples"})
# Keywords whose value is one subschema (``items`` may also be a list: the draft-4 tuple form).
_SUBSCHEMA = frozenset({"items", "additionalItems", "additionalProperties", "unevaluatedItems",
                        "unevaluatedProperties", "contains", "propertyNames", "not", "if", "then", "else",
                        "contentSchema"})
# Keywords whose value is a list of subschemas.
_SCHEMA_LISTS = frozenset({"prefixItems", "anyOf", "oneOf", "allOf"})
# Keywords whose value maps names (data, kept) to subschemas (``dependencies`` values may be name lists).
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas",
                          "dependencies"})


def strip_schema_prose(schema: Any) -> Any:
    """A copy of the JSON Schema ``schema`` without its prose keywords (see ``PROSE_KEYWORDS``).

    Property names, ``$defs`` names and instance values (``default``, ``const``, ``enum``) are kept;
    a non-schema value (a boolean schema, ``None``) comes back unchanged.
    """
    if isinstance(schema, list):  # ``items`` in its tuple form
        return [strip_schema_prose(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    stripped: dict[str, Any] = {}
    for key, value in schema.items():
        if key in PROSE_KEYWORDS:
            continue
        if key in _SUBSCHEMA:
            stripped[key] = strip_schema_prose(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            stripped[key] = [strip_schema_prose(item) for item in value]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            stripped[key] = {name: strip_schema_prose(sub) if isinstance(sub, dict) else sub
                             for name, sub in value.items()}
        else:
            stripped[key] = value
    return stripped
