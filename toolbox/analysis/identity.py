"""The content identity of a tool version: code, entrypoint and schemas, without prose."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from toolbox.analysis.normalize import normalized_hash
from toolbox.spec import ToolSpec

__all__ = ["strip_schema_text", "version_hash"]

_SUBSCHEMA = {"items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
              "additionalItems", "unevaluatedItems", "unevaluatedProperties"}
_SCHEMA_LISTS = {"prefixItems", "anyOf", "oneOf", "allOf"}
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}


def strip_schema_text(schema: Any) -> Any:
    """A copy of a JSON Schema without ``description``/``title`` keywords (property names are kept)."""
    if not isinstance(schema, dict):
        return schema
    stripped: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("description", "title"):
            continue
        if key in _SUBSCHEMA:
            stripped[key] = strip_schema_text(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            stripped[key] = [strip_schema_text(v) for v in value]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            stripped[key] = {k: strip_schema_text(v) for k, v in value.items()}
        else:
            stripped[key] = value
    return stripped


def version_hash(spec: ToolSpec) -> str:
    """Content identity of a version: normalised code, entrypoint and schemas (text stripped)."""
    identity = {
        "code": normalized_hash(spec.source, spec.entrypoint),
        "entrypoint": spec.entrypoint,
        "input_schema": strip_schema_text(spec.input_schema),
        "output_schema": strip_schema_text(spec.output_schema),
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
