"""JSON Schemas for a tool's parameters and result, derived from the AST alone.

The tool's code is never imported or executed: annotations are read as syntax. Supported:
``int``, ``float``, ``str``, ``bool``, ``None``, ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``,
``dict[str, X]``, ``X | None``, ``Optional[X]``, ``Union[...]``, ``Literal[...]``, ``Annotated[X, "doc"]``,
``Any``, in bare, ``typing.``/``collections.abc.`` and string (forward-reference) forms.

MCP requires an ``outputSchema`` to describe an object. A tool whose return type is not an object
(``int``, ``list[str]``, ``str | None`` ...) gets the *wrapped* output schema
``{"type": "object", "properties": {"result": <schema>}, "required": ["result"]}`` and the server
returns its value as ``{"result": value}`` (see ``toolbox.analysis.output``).
"""

from __future__ import annotations

import ast
import math
from typing import Any

from toolbox.analysis.docstrings import Docstring
from toolbox.analysis.findings import Finding
from toolbox.analysis.output import JSONSchema, as_output_schema

__all__ = ["JSONSchema", "function_schemas", "json_default", "type_schema"]

_SCALARS: dict[str, JSONSchema] = {
    "int": {"type": "integer"}, "float": {"type": "number"}, "str": {"type": "string"},
    "bool": {"type": "boolean"}, "None": {"type": "null"}, "NoneType": {"type": "null"},
}
_ANY = {"Any", "object"}
_ARRAYS = {"list", "List", "Sequence", "MutableSequence", "Iterable", "Collection"}
_TUPLES = {"tuple", "Tuple"}
_OBJECTS = {"dict", "Dict", "Mapping", "MutableMapping"}
_SETS = {"set", "Set", "frozenset", "FrozenSet", "AbstractSet", "MutableSet"}
_PREFIXES = {"typing", "typing_extensions", "collections.abc", "builtins"}
_SUPPORTED = ("int, float, str, bool, None, list[X], tuple[X, ...], dict[str, X], X | None, "
              "Literal[...] or Any")
_NO_SETS = "JSON has no sets: use list[X] and convert inside the tool"


def _type_name(node: ast.expr) -> str | None:
    """``List`` for ``List`` or ``typing.List``; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        try:
            prefix = ast.unparse(node.value)
        except Exception:  # pragma: no cover - unparse of a parsed node does not fail
            return None
        return node.attr if prefix in _PREFIXES else None
    return None


def _union(schemas: list[JSONSchema]) -> JSONSchema:
    members: list[JSONSchema] = []
    for schema in schemas:
        for member in schema["anyOf"] if set(schema) == {"anyOf"} else [schema]:
            if not member:
                return {}
            if member not in members:
                members.append(member)
    return members[0] if len(members) == 1 else {"anyOf": members}


def _admits_null(schema: JSONSchema) -> bool:
    if not schema or schema.get("type") == "null":
        return True
    return any(_admits_null(member) for member in schema.get("anyOf", []))


def _literal_value(node: ast.expr) -> tuple[bool, Any]:
    """``(True, value)`` for a JSON scalar literal (``json_default`` without containers)."""
    ok, value = json_default(node)
    return (True, value) if ok and not isinstance(value, list | dict) else (False, None)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


class _Converter:
    """Turns annotation expressions into JSON Schema, collecting ``unsupported-type`` findings."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def unsupported(self, node: ast.expr, where: str, hint: str = "") -> JSONSchema:
        text = ast.unparse(node)
        self.findings.append(Finding(
            line=node.lineno, col=node.col_offset, code="unsupported-type",
            message=f"{where}: type `{text}` has no JSON Schema equivalent; "
                    f"{hint or 'use one of ' + _SUPPORTED}",
        ))
        return {}

    def convert(self, node: ast.expr, where: str) -> JSONSchema:
        if isinstance(node, ast.Constant):
            if node.value is None:
                return {"type": "null"}
            if isinstance(node.value, str):
                try:
                    parsed = ast.parse(node.value.strip(), mode="eval").body
                except SyntaxError:
                    return self.unsupported(node, where)
                ast.copy_location(parsed, node)
                for child in ast.walk(parsed):
                    ast.copy_location(child, node)
                return self.convert(parsed, where)
            return self.unsupported(node, where)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return _union([self.convert(node.left, where), self.convert(node.right, where)])
        if isinstance(node, ast.Subscript):
            return self.generic(node, where)
        name = _type_name(node)
        if name in _SCALARS:
            return dict(_SCALARS[name])
        if name in _ANY:
            return {}
        if name in _ARRAYS or name in _TUPLES:
            return {"type": "array"}
        if name in _OBJECTS:
            return {"type": "object"}
        if name in _SETS:
            return self.unsupported(node, where, _NO_SETS)
        return self.unsupported(node, where)

    def generic(self, node: ast.Subscript, where: str) -> JSONSchema:
        name = _type_name(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if name in _ARRAYS and len(args) == 1:
            return {"type": "array", "items": self.convert(args[0], where)}
        if name in _TUPLES:
            return self.tuple(node, args, where)
        if name in _OBJECTS and len(args) == 2:
            if _type_name(args[0]) != "str":
                return self.unsupported(node, where, "JSON object keys are strings: use dict[str, X]")
            values = self.convert(args[1], where)
            return {"type": "object", "additionalProperties": values} if values else {"type": "object"}
        if name == "Optional" and len(args) == 1:
            return _union([self.convert(args[0], where), {"type": "null"}])
        if name == "Union":
            return _union([self.convert(arg, where) for arg in args])
        if name == "Literal":
            return self.literal(node, args, where)
        if name == "Annotated" and args:
            schema = self.convert(args[0], where)
            notes = [a.value for a in args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            return {**schema, "description": notes[0]} if notes else schema
        if name in _SETS:
            return self.unsupported(node, where, _NO_SETS)
        return self.unsupported(node, where)

    def tuple(self, node: ast.Subscript, args: list[ast.expr], where: str) -> JSONSchema:
        if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
            return {"type": "array", "items": self.convert(args[0], where)}
        if len(args) == 1 and isinstance(args[0], ast.Tuple) and not args[0].elts:
            return {"type": "array", "maxItems": 0}
        if any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in args):
            return self.unsupported(node, where, "write tuple[X, ...] or tuple[X, Y]")
        items = [self.convert(arg, where) for arg in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}

    def literal(self, node: ast.Subscript, args: list[ast.expr], where: str) -> JSONSchema:
        values: list[Any] = []
        for arg in args:
            ok, value = _literal_value(arg)
            if not ok:
                return self.unsupported(node, where, "Literal values must be str, int, float, bool or None")
            values.append(value)
        types = {_json_type(v) for v in values}
        schema: JSONSchema = {"enum": values}
        if len(types) == 1:
            schema = {"type": types.pop(), **schema}
        return schema


def type_schema(node: ast.expr, where: str = "annotation") -> tuple[JSONSchema, list[Finding]]:
    """The JSON Schema of one annotation expression and any ``unsupported-type`` findings."""
    converter = _Converter()
    return converter.convert(node, where), converter.findings


def json_default(node: ast.expr) -> tuple[bool, Any]:
    """``(True, value)`` when a default is a JSON-able literal (tuples become lists), else ``(False, None)``."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None

    def plain(item: Any) -> Any:
        if item is None or isinstance(item, bool | int | str):
            return item
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(item)
            return item
        if isinstance(item, list | tuple):
            return [plain(x) for x in item]
        if isinstance(item, dict) and all(isinstance(k, str) for k in item):
            return {k: plain(v) for k, v in item.items()}
        raise ValueError(item)

    try:
        return True, plain(value)
    except ValueError:
        return False, None


def function_schemas(
    func: ast.FunctionDef | ast.AsyncFunctionDef, docs: Docstring
) -> tuple[JSONSchema, JSONSchema | None, list[Finding]]:
    """Input schema, output schema (None without a return annotation) and findings for a function.

    Parameters without an annotation accept anything (``{}``); missing hints and ``*args`` are
    reported by the entrypoint checks, not here.
    """
    converter = _Converter()
    arguments = func.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: dict[str, ast.expr] = dict(
        zip([a.arg for a in positional][len(positional) - len(arguments.defaults):], arguments.defaults,
            strict=True)
    )
    defaults.update({a.arg: d for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if d})
    properties: dict[str, JSONSchema] = {}
    required: list[str] = []
    for arg in [*positional, *arguments.kwonlyargs]:
        where = f"parameter `{arg.arg}`"
        schema = converter.convert(arg.annotation, where) if arg.annotation is not None else {}
        if arg.arg in docs.params:
            schema = {**schema, "description": docs.params[arg.arg]}
        default = defaults.get(arg.arg)
        if default is None:
            required.append(arg.arg)
        else:
            ok, value = json_default(default)
            if ok:
                if value is None and not _admits_null(schema):
                    described = {k: v for k, v in schema.items() if k != "description"}
                    schema = _union([described, {"type": "null"}])
                    if arg.arg in docs.params:
                        schema = {**schema, "description": docs.params[arg.arg]}
                schema = {**schema, "default": value}
        properties[arg.arg] = schema
    input_schema: JSONSchema = {"type": "object", "properties": properties, "required": required,
                                "additionalProperties": False}
    output_schema: JSONSchema | None = None
    if func.returns is not None:
        output_schema = as_output_schema(converter.convert(func.returns, "return type"), docs.returns)
    return input_schema, output_schema, converter.findings
