"""The student's actions and how each mode's model output becomes one.

An action is a call of a box tool, a final answer, or (``code`` mode) a Python cell. Parsing never
raises: a reply that is not a usable action gives a :class:`Candidate` with a ``problem`` that goes
back to the model as its observation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

from student.connection import BoxTool
from student.naming import NameMap
from toolbox.llm.base import ChatMessage
from toolbox.tasks.answers import extract_final_answer

__all__ = ["FINAL_ANSWER", "Action", "Candidate", "CodeAction", "FinalAnswer", "ToolAction",
           "action_schema", "argument_problem", "canonical_arguments", "parse_code_reply", "parse_json_reply",
           "parse_tools_reply", "validate_action"]

FINAL_ANSWER = "final_answer"
_JSON_HINT = ('Reply with one JSON object: {"tool": NAME, "arguments": {...}} or '
              '{"tool": "final_answer", "arguments": {"answer": ...}}.')
_FROZEN = ConfigDict(frozen=True, extra="forbid")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_CODE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


class ToolAction(BaseModel):
    """Call the box tool ``tool`` (its MCP name) with ``arguments``."""

    model_config = _FROZEN
    kind: Literal["tool"] = "tool"
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class FinalAnswer(BaseModel):
    """End the run with ``answer``."""

    model_config = _FROZEN
    kind: Literal["final"] = "final"
    answer: str


class CodeAction(BaseModel):
    """Run ``code`` as one cell of the sandbox session (``code`` mode)."""

    model_config = _FROZEN
    kind: Literal["code"] = "code"
    code: str


Action = Annotated[ToolAction | FinalAnswer | CodeAction, Field(discriminator="kind")]


class Candidate(BaseModel):
    """One sampled reply: its raw text, the action it parsed to, or why it is not usable."""

    model_config = _FROZEN
    index: int
    raw: str
    action: Action | None = None
    problem: str | None = None
    thought: str | None = None


def canonical_arguments(arguments: Mapping[str, Any]) -> str:
    """Arguments as canonical JSON (sorted keys, no spaces): the cache key of a call."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def argument_problem(tool: BoxTool, arguments: Mapping[str, Any]) -> str | None:
    """Why ``arguments`` break ``tool``'s input schema, or ``None`` when they fit."""
    try:
        validator = jsonschema.validators.validator_for(tool.input_schema)(tool.input_schema)
        error = next(iter(sorted(validator.iter_errors(dict(arguments)), key=lambda e: list(e.path))), None)
    except jsonschema.SchemaError as exc:
        return f"the tool {tool.name} has an unusable input schema ({exc.message})"
    if error is None:
        return None
    where = "/".join(str(part) for part in error.path)
    return f"Invalid arguments for {tool.name}{f' at {where}' if where else ''}: {error.message}"


def validate_action(action: Action, tools: Mapping[str, BoxTool], names: NameMap | None = None) -> str | None:
    """The problem with ``action`` against the known tools (unknown tool, bad arguments), or ``None``.

    With ``names`` the message lists the tools as the model sees them (function names).
    """
    if not isinstance(action, ToolAction):
        return None
    tool = tools.get(action.tool)
    if tool is None:
        shown = sorted(names.safe(name) if names is not None and name in names else name for name in tools)
        return f"Unknown tool: {action.tool}. Known tools: {', '.join(shown) or 'none'}."
    return argument_problem(tool, action.arguments)


def _json_object(text: str) -> dict[str, Any] | None:
    fenced = _FENCE.search(text)
    body = (fenced.group(1) if fenced else text).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(body[start:end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _action_from_object(value: Mapping[str, Any], resolve: Mapping[str, str]) -> tuple[Action | None, str | None]:
    """Read ``{"tool"|"name": ..., "arguments": {...}}`` or ``{"final_answer"|"answer": ...}``."""
    name = value.get("tool", value.get("name"))
    arguments = value.get("arguments", value.get("parameters", {}))
    if name is None:
        for key in (FINAL_ANSWER, "answer"):
            if key in value:
                return FinalAnswer(answer=str(value[key])), None
        return None, 'The JSON action needs "tool" and "arguments".'
    if not isinstance(arguments, dict):
        return None, f'"arguments" of {name} must be a JSON object.'
    if name == FINAL_ANSWER:
        answer = arguments.get("answer", next(iter(arguments.values()), None))
        if answer is None:
            return None, 'final_answer needs {"answer": "..."}.'
        return FinalAnswer(answer=str(answer)), None
    return ToolAction(tool=resolve.get(str(name), str(name)), arguments=arguments), None


def parse_json_reply(index: int, text: str | None, names: NameMap | None = None) -> Candidate:
    """A ``json`` mode reply: one JSON action object (fences and surrounding text tolerated)."""
    raw = text or ""
    value = _json_object(raw)
    if value is None:
        return Candidate(index=index, raw=raw, problem=_JSON_HINT)
    action, problem = _action_from_object(value, _resolver(names))
    thought = value.get("thought")
    return Candidate(index=index, raw=raw, action=action, problem=problem,
                     thought=str(thought) if thought is not None else None)


def _resolver(names: NameMap | None) -> dict[str, str]:
    return {safe: mcp for mcp, safe in names.items()} if names is not None else {}


def parse_tools_reply(index: int, message: ChatMessage, names: NameMap) -> Candidate:
    """A ``tools`` mode reply: the first native tool call, JSON written as text, or a final answer."""
    if message.tool_calls:
        call = message.tool_calls[0]
        raw = json.dumps({"tool": call.name, "arguments": call.arguments})
        mcp_name = names.mcp(call.name) or call.name
        try:
            arguments = call.parsed_arguments()
        except ValueError as exc:
            return Candidate(index=index, raw=raw, problem=f"The arguments of {call.name} are not a JSON object: {exc}")
        if mcp_name == FINAL_ANSWER:
            return parse_json_reply(index, json.dumps({"tool": FINAL_ANSWER, "arguments": arguments}))
        return Candidate(index=index, raw=raw, action=ToolAction(tool=mcp_name, arguments=arguments),
                         thought=message.content)
    text = (message.content or "").strip()
    if not text:
        return Candidate(index=index, raw="", problem="The reply was empty: call a tool or give the final answer.")
    value = _json_object(text) if "{" in text else None
    if value is not None and ("tool" in value or "name" in value):
        return parse_json_reply(index, text, names)
    return Candidate(index=index, raw=text, action=FinalAnswer(answer=extract_final_answer(text) or text))


# "Final answer: X" or "The final answer is X." on a line of a reply without code
_STATED_ANSWER = re.compile(r"(?im)\bfinal answer(?:\s*[:\uff1a]|\s+is\s*:?)\s*(.+?)\.?\s*$")


def parse_code_reply(index: int, text: str | None) -> Candidate:
    """A ``code`` mode reply: the ```python blocks joined into one cell, or a stated final answer."""
    raw = text or ""
    blocks = [block.strip("\n") for block in _CODE.findall(raw) if block.strip()]
    if blocks:
        thought = raw[:raw.find("```")].strip() or None
        return Candidate(index=index, raw=raw, action=CodeAction(code="\n".join(blocks)), thought=thought)
    stated = _STATED_ANSWER.search(raw)
    if stated:
        return Candidate(index=index, raw=raw, action=FinalAnswer(answer=stated.group(1).strip().strip("*`").strip()))
    return Candidate(index=index, raw=raw, problem="No ```python code block found: write one, and call "
                     "final_answer(x) in it when you have the answer.")


def action_schema(tools: Sequence[BoxTool]) -> dict[str, Any]:
    """The ``json`` mode response schema: anyOf over one object per tool, plus ``final_answer``."""
    branches: list[dict[str, Any]] = [
        {"type": "object",
         "properties": {"tool": {"const": tool.name}, "arguments": _arguments_schema(tool.input_schema)},
         "required": ["tool", "arguments"], "additionalProperties": False}
        for tool in tools
    ]
    branches.append({"type": "object",
                     "properties": {"tool": {"const": FINAL_ANSWER},
                                    "arguments": {"type": "object", "properties": {"answer": {"type": "string"}},
                                                  "required": ["answer"], "additionalProperties": False}},
                     "required": ["tool", "arguments"], "additionalProperties": False})
    return {"anyOf": branches}


# Size and pattern keywords become grammar repetitions in llama.cpp; a large bound (``maxLength: 100000``)
# kills its server. The reply is checked against the tool's full schema afterwards (``argument_problem``).
_GRAMMAR_HOSTILE = frozenset({"minLength", "maxLength", "minItems", "maxItems", "pattern", "format"})


def _grammar_safe(value: Any) -> Any:
    """``value`` without the keywords in ``_GRAMMAR_HOSTILE`` (recursively; property *names* are kept)."""
    if isinstance(value, dict):
        return {k: (_grammar_safe(v) if k != "properties" else {n: _grammar_safe(p) for n, p in v.items()})
                for k, v in value.items() if k not in _GRAMMAR_HOSTILE}
    if isinstance(value, list):
        return [_grammar_safe(v) for v in value]
    return value


def _arguments_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    out = _grammar_safe(dict(schema)) or {"type": "object"}
    out.setdefault("type", "object")
    out.setdefault("properties", {})
    return out
