"""The student's system prompts, one per action mode (``PROMPT_VERSION`` names this wording)."""

from __future__ import annotations

from collections.abc import Sequence

from student.connection import BoxTool

__all__ = ["PROMPT_VERSION", "code_prompt", "json_prompt", "observation_message", "tools_prompt"]

PROMPT_VERSION = "student-2026-12-04.5"

_COMMON = ("Solve the user's task. Prefer a tool whenever one fits: tools are tested code, they do not make "
           "arithmetic mistakes. Read each observation before the next step. If a call fails, fix the arguments "
           "or try another way. Give the final answer in exactly the form the task asks for (for a puzzle that asks "
           "for an expression, the expression itself); when a tool returned it, copy the tool's output exactly.")

_SEARCH = ("The box holds more tools than are listed. Call search_tools with a few words describing what you need; "
           "then call a tool it found by its name.")


def _signature(tool: BoxTool) -> str:
    schema = tool.input_schema
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    parts = []
    for name, spec in properties.items():
        kind = spec.get("type", "any") if isinstance(spec, dict) else "any"
        kind = kind if isinstance(kind, str) else "|".join(kind)
        parts.append(f"{name}: {kind}" + ("" if name in required else " = optional"))
    return ", ".join(parts)


def _catalogue(tools: Sequence[BoxTool], names: dict[str, str] | None = None) -> str:
    lines = []
    for tool in tools:
        name = names.get(tool.name, tool.name) if names else tool.name
        description = tool.description.split("\n\n")[0].strip().replace("\n", " ")[:300]
        lines.append(f"- {name}({_signature(tool)}): {description}")
    return "\n".join(lines) or "(no tools)"


def tools_prompt(tools: Sequence[BoxTool], *, searchable: bool) -> str:
    """``tools`` mode: native function calling; the final answer is a plain message."""
    return "\n\n".join(part for part in (
        _COMMON,
        _SEARCH if searchable else "",
        "When you know the answer, reply without calling a tool, ending with a line 'Final answer: <answer>'.",
    ) if part)


def json_prompt(tools: Sequence[BoxTool], *, searchable: bool) -> str:
    """``json`` mode: one JSON action per reply, constrained by the response schema."""
    return "\n\n".join(part for part in (
        _COMMON,
        _SEARCH if searchable else "",
        f"Tools:\n{_catalogue(tools)}",
        'Reply with exactly one JSON object per turn: {"tool": "<tool name>", "arguments": {...}}. '
        'When you know the answer: {"tool": "final_answer", "arguments": {"answer": "<answer>"}}. '
        "Each tool's result comes back as an observation.",
    ) if part)


_CODE_EXAMPLE = """Example of two replies, for a different task ("What is the sum of the digits of 2**100?"):

Thought: I compute the digit sum in code and print it.
```python
print(sum(int(d) for d in str(2**100)))
```

Observation:
115

Thought: The code printed 115, so that is the answer.
```python
final_answer("115")
```"""


def code_prompt(tools: Sequence[BoxTool], names: dict[str, str], *, searchable: bool) -> str:
    """``code`` mode (CodeAct): Python cells in a persistent session, tools as functions."""
    functions = _catalogue(tools, names)
    search = ("search_tools(query, k=5) returns matching tools (name, description, parameters); call one with "
              "call_tool(name, arguments_dict)." if searchable else "")
    return "\n\n".join(part for part in (
        _COMMON,
        "Act by writing Python in one ```python block per reply. The code runs in a persistent session: variables "
        "stay between replies, and print() output comes back as the observation. The modules datetime, fractions, "
        "itertools, math and re are already imported. "
        + (f"These functions are defined (call them with keyword or positional arguments):\n{functions}" if tools
           else "No tools are defined: write the code yourself."),
        search,
        "Every reply is one short thought and one ```python block, nothing after it. When you have the answer, "
        "call final_answer(answer) in your code; the task ends only then.",
        _CODE_EXAMPLE,
    ) if part)


def observation_message(text: str) -> str:
    """The user turn that carries an observation in ``json`` and ``code`` mode."""
    return f"Observation:\n{text}\n\nIf this answers the task, give the final answer now; otherwise take the next step."

