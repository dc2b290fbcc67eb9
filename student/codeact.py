"""``code`` mode (CodeAct): the model's Python cells run in a sandbox session where every box tool
is a function whose calls go through the server's ``tools/call``.

With a large box the session offers ``search_tools(query, k)`` and ``call_tool(name, arguments)``
plus the core tools instead of one function per tool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from student.actions import CodeAction
from student.connection import CALL_TOOL, META_TOOLS, SEARCH_TOOLS, BoxTool, Observation
from student.naming import NameMap
from student.prompts import code_prompt
from toolbox.errors import ToolboxError
from toolbox.sandbox.session import SandboxSession, SessionFunction, observation, open_session

if TYPE_CHECKING:
    from student.agent import RunState, StudentAgent

__all__ = ["PRELUDE", "CodeMode", "open_code_mode"]

# Small models forget their imports; these modules are imported before the first cell (the prompt says so).
PRELUDE = "import datetime, fractions, itertools, math, re"


@dataclass
class CodeMode:
    """The open session of a ``code`` mode run and the system prompt that describes its functions."""

    session: SandboxSession
    prompt: str

    async def execute(self, action: CodeAction) -> Observation:
        """Run one cell; a ``final_answer(x)`` call shows up as ``structured["final_answer"]``."""
        result = await self.session.run_cell(action.code)
        return Observation(ok=result.ok, text=observation(result),
                           structured={"final_answer": result.final_answer, "calls": len(result.calls)})


def _box_function(agent: StudentAgent, state: RunState, tool: BoxTool, name: str) -> SessionFunction:
    async def call(arguments: dict[str, Any]) -> Any:
        found = await agent.call_box(state, tool.name, arguments)
        if not found.ok:
            raise ToolboxError(found.text.removeprefix("ERROR: "))
        if tool.name == SEARCH_TOOLS and isinstance(found.value, dict):
            return found.value.get("tools", [])
        return found.value

    return SessionFunction(name=name, parameters=tool.parameters, description=tool.description, call=call)


def _functions(agent: StudentAgent, state: RunState, tools: list[BoxTool]) -> tuple[list[SessionFunction],
                                                                                     dict[str, str]]:
    box_tools = [tool for tool in tools if tool.name not in META_TOOLS]
    names = NameMap([tool.name for tool in box_tools], style="identifier")
    mapping = {tool.name: names.safe(tool.name) for tool in box_tools}
    mapping.update({tool.name: tool.name for tool in tools if tool.name in META_TOOLS})
    functions = [_box_function(agent, state, tool, mapping[tool.name]) for tool in tools]
    return functions, mapping


@asynccontextmanager
async def open_code_mode(agent: StudentAgent, state: RunState) -> AsyncIterator[CodeMode]:
    """A sandbox session with the box's tools as functions, for one run."""
    tools, searchable = await agent.offered_tools(state)
    functions, mapping = _functions(agent, state, tools)
    shown = [tool for tool in tools if tool.name not in (SEARCH_TOOLS, CALL_TOOL)]
    prompt = code_prompt(shown, mapping, searchable=searchable)
    async with open_session(agent.sandbox_settings, functions=functions, prelude=PRELUDE) as session:
        yield CodeMode(session=session, prompt=prompt)


