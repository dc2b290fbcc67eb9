"""The MCP output-schema rule: tools returning non-objects are wrapped as ``{"result": value}``.

MCP requires a tool's ``outputSchema`` to describe an object. When a tool's return type is an
object (``dict[str, X]``) its schema is used as is and the server sends the value itself as
structured content. Otherwise the output schema is
``{"type": "object", "properties": {"result": <schema>}, "required": ["result"]}`` and the server
sends ``{"result": value}``. Server code decides with ``is_wrapped_output(spec.output_schema)``
or simply calls ``wrap_output_value(value, spec.output_schema)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JSONSchema", "as_output_schema", "is_wrapped_output", "wrap_output_schema", "wrap_output_value"]

JSONSchema = dict[str, Any]


def wrap_output_schema(schema: JSONSchema) -> JSONSchema:
    """The object schema ``{"result": schema}`` that MCP gets for a tool returning a non-object."""
    return {"type": "object", "properties": {"result": schema}, "required": ["result"]}


def is_wrapped_output(schema: JSONSchema | None) -> bool:
    """True when ``schema`` was made by ``wrap_output_schema``: the server sends ``{"result": value}``."""
    return (
        isinstance(schema, dict)
        and set(schema) == {"type", "properties", "required"}
        and schema["type"] == "object"
        and isinstance(schema["properties"], dict)
        and list(schema["properties"]) == ["result"]
        and schema["required"] == ["result"]
    )


def as_output_schema(schema: JSONSchema, description: str = "") -> JSONSchema:
    """``schema`` itself when it describes an object, else ``wrap_output_schema(schema)``."""
    if description:
        schema = {**schema, "description": description}
    if schema.get("type") == "object" and not is_wrapped_output(schema):
        return schema
    return wrap_output_schema(schema)


def wrap_output_value(value: Any, output_schema: JSONSchema | None) -> Any:
    """The structured content for ``value``: ``{"result": value}`` when the schema is wrapped."""
    return {"result": value} if is_wrapped_output(output_schema) else value
