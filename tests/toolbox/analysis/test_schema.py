"""Schemas from type hints and Google docstrings, read from the AST only."""

from __future__ import annotations

import ast
from typing import Any

import jsonschema
import pytest

from toolbox.analysis import (
    as_output_schema,
    derive_schemas,
    is_wrapped_output,
    parse_docstring,
    wrap_output_schema,
    wrap_output_value,
)
from toolbox.analysis.schema import type_schema
from toolbox.errors import AnalysisError


def annotation_schema(annotation: str) -> tuple[dict[str, Any], list[str]]:
    """Schema and finding codes of one annotation written as source."""
    node = ast.parse(annotation, mode="eval").body
    schema, findings = type_schema(node)
    return schema, [f.code for f in findings]


def tool(signature: str, doc: str = "Do it.", body: str = "return None") -> str:
    """Source of a one-function tool with the given signature."""
    return f'def f({signature}):\n    """{doc}"""\n    {body}\n'


INT, NUM, STR, BOOL, NULL = ({"type": t} for t in ("integer", "number", "string", "boolean", "null"))


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("int", INT),
        ("float", NUM),
        ("str", STR),
        ("bool", BOOL),
        ("None", NULL),
        ("Any", {}),
        ("typing.Any", {}),
        ("list[int]", {"type": "array", "items": INT}),
        ("List[str]", {"type": "array", "items": STR}),
        ("typing.List[float]", {"type": "array", "items": NUM}),
        ("list", {"type": "array"}),
        ("tuple[int, ...]", {"type": "array", "items": INT}),
        ("tuple[int, str]", {"type": "array", "prefixItems": [INT, STR], "minItems": 2, "maxItems": 2}),
        ("Tuple[float, float]", {"type": "array", "prefixItems": [NUM, NUM], "minItems": 2, "maxItems": 2}),
        ("dict[str, int]", {"type": "object", "additionalProperties": INT}),
        ("Dict[str, Any]", {"type": "object"}),
        ("dict", {"type": "object"}),
        ("int | None", {"anyOf": [INT, NULL]}),
        ("Optional[str]", {"anyOf": [STR, NULL]}),
        ("typing.Optional[list[int]]", {"anyOf": [{"type": "array", "items": INT}, NULL]}),
        ("Union[int, str]", {"anyOf": [INT, STR]}),
        ("Union[int, str, None]", {"anyOf": [INT, STR, NULL]}),
        ("int | str | None", {"anyOf": [INT, STR, NULL]}),
        ("Union[int, Any]", {}),
        ("Literal['a', 'b']", {"type": "string", "enum": ["a", "b"]}),
        ("typing.Literal[1, -2]", {"type": "integer", "enum": [1, -2]}),
        ("Literal['x', 1]", {"enum": ["x", 1]}),
        ("Annotated[int, 'a count']", {"type": "integer", "description": "a count"}),
        ("'list[int]'", {"type": "array", "items": INT}),
        ("list[dict[str, list[float]]]",
         {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "array", "items": NUM}}}),
    ],
)
def test_annotation_schema(annotation: str, expected: dict[str, Any]) -> None:
    schema, codes = annotation_schema(annotation)
    assert codes == []
    assert schema == expected


@pytest.mark.parametrize(
    "annotation", ["set[int]", "frozenset", "dict[int, str]", "np.ndarray", "MyClass", "bytes", "'not valid ('",
                   "Literal[x]", "tuple[int, ..., str]"],
)
def test_unsupported_annotation_is_reported(annotation: str) -> None:
    schema, codes = annotation_schema(annotation)
    assert codes == ["unsupported-type"]
    assert schema == {}


def test_unsupported_type_finding_names_line_and_alternative() -> None:
    with pytest.raises(AnalysisError) as info:
        derive_schemas("import numpy as np\n\n" + tool("x: set[int]", body="return 1") + "\n", "f")
    finding = info.value.findings[0]
    assert (finding.line, finding.code) == (3, "unsupported-type")
    assert "use list[X]" in finding.message and "`x`" in finding.message


def test_input_schema_from_signature_and_docstring() -> None:
    doc = """Scale numbers.

    Multiplies each value.

    Args:
        values (list[float]): The numbers to scale,
            one per item.
        factor: How much to multiply by.
        mode: Rounding mode.
        label: Optional label.

    Returns:
        The scaled numbers.
    """
    source = tool("values: list[float], factor: float = 2.0, *, mode: Literal['up', 'down'] = 'up', "
                  "label: str = None", doc, "return values")
    source = source.replace("return values", "return values").replace("):", ") -> list[float]:", 1)
    input_schema, output_schema = derive_schemas(source)
    assert input_schema == {
        "type": "object",
        "properties": {
            "values": {"type": "array", "items": NUM, "description": "The numbers to scale, one per item."},
            "factor": {"type": "number", "description": "How much to multiply by.", "default": 2.0},
            "mode": {"type": "string", "enum": ["up", "down"], "description": "Rounding mode.", "default": "up"},
            "label": {"anyOf": [STR, NULL], "description": "Optional label.", "default": None},
        },
        "required": ["values"],
        "additionalProperties": False,
    }
    assert output_schema == wrap_output_schema({"type": "array", "items": NUM, "description": "The scaled numbers."})
    jsonschema.Draft202012Validator.check_schema(input_schema)
    validator = jsonschema.Draft202012Validator(input_schema)
    assert validator.is_valid({"values": [1, 2.5], "label": None})
    assert not validator.is_valid({"values": [1], "extra": 1})
    assert not validator.is_valid({"factor": 1.0})


def test_non_literal_default_is_optional_without_default() -> None:
    input_schema, _ = derive_schemas(tool("x: float = math.pi, y: tuple[int, int] = (1, 2)") + "import math\n")
    assert input_schema["required"] == []
    assert "default" not in input_schema["properties"]["x"]
    assert input_schema["properties"]["y"]["default"] == [1, 2]


def test_object_return_is_not_wrapped() -> None:
    _, output_schema = derive_schemas(tool("x: int").replace("):", ") -> dict[str, int]:", 1))
    assert output_schema == {"type": "object", "additionalProperties": INT}
    assert not is_wrapped_output(output_schema)
    assert wrap_output_value({"a": 1}, output_schema) == {"a": 1}


def test_scalar_return_is_wrapped() -> None:
    _, output_schema = derive_schemas(tool("x: int").replace("):", ") -> int:", 1))
    assert output_schema == {"type": "object", "properties": {"result": INT}, "required": ["result"]}
    assert is_wrapped_output(output_schema)
    assert wrap_output_value(3, output_schema) == {"result": 3}


def test_missing_return_annotation_gives_no_output_schema() -> None:
    assert derive_schemas(tool("x: int")) == derive_schemas(tool("x: int"))
    assert derive_schemas(tool("x: int"))[1] is None


@pytest.mark.parametrize("schema", [None, {}, {"type": "object"}, {"type": "object", "properties": {"result": {}}},
                                    {"type": "object", "properties": {"result": {}}, "required": ["result"],
                                     "additionalProperties": False}])
def test_is_wrapped_output_rejects_other_schemas(schema: dict[str, Any] | None) -> None:
    assert not is_wrapped_output(schema)


def test_as_output_schema_wraps_optional_object() -> None:
    schema = as_output_schema({"anyOf": [{"type": "object"}, NULL]})
    assert is_wrapped_output(schema)
    assert as_output_schema({"type": "object"}, "a map") == {"type": "object", "description": "a map"}


def test_docstring_parser_sections() -> None:
    parsed = parse_docstring("""Summary line.

        More detail
        over two lines.

        Args:
            a (int): First.
            *rest: Ignored.

        Raises:
            ValueError: never.

        Returns:
            int: The value.
        """)
    assert parsed.description == "Summary line.\n\nMore detail over two lines."
    assert parsed.params == {"a": "First.", "rest": "Ignored."}
    assert parsed.returns == "int: The value."
    assert parse_docstring(None).description == ""
    assert parse_docstring("Just text.").params == {}


def test_derive_schemas_needs_an_entrypoint() -> None:
    with pytest.raises(AnalysisError) as info:
        derive_schemas("def _f() -> int:\n    return 1\n")
    assert info.value.findings[0].code == "entrypoint-not-found"
