"""``distillery ask``: one student run against a live box, and its trace for people (rich)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from student.agent import StudentAgent
from student.connection import BoxConnection, connect_http, connect_stdio
from student.probe import resolve_mode
from student.trace import AgentRun
from toolbox.llm.base import ChatModel
from toolbox.settings import Settings

__all__ = ["ask", "default_server_url", "open_box", "render_run"]


def default_server_url(settings: Settings) -> str:
    """The MCP endpoint of ``distillery serve`` with these settings."""
    return f"http://{settings.server.host}:{settings.server.port}/mcp"


def _distillery() -> str:
    exe = Path(sys.executable).with_name("distillery")
    return str(exe) if exe.exists() else "distillery"


@asynccontextmanager
async def open_box(settings: Settings, *, server: str | None, stdio: bool, api_key: str | None,
                   no_box: bool) -> AsyncIterator[BoxConnection | None]:
    """The box to run against: none, ``distillery mcp`` over stdio, or the server at ``server``."""
    if no_box:
        yield None
    elif stdio:
        async with connect_stdio(_distillery(), ["mcp"], env=dict(os.environ)) as box:  # settings live in env
            yield box
    else:
        async with connect_http(server or default_server_url(settings), api_key) as box:
            yield box


async def ask(question: str, *, model: ChatModel, model_name: str, settings: Settings, server: str | None = None,
              stdio: bool = False, api_key: str | None = None,
              mode: Literal["auto", "tools", "json", "code"] = "auto", no_box: bool = False) -> AgentRun:
    """Run the student once on ``question`` and return the whole run."""
    chosen = await resolve_mode(mode, model)
    async with open_box(settings, server=server, stdio=stdio, api_key=api_key, no_box=no_box) as box:
        agent = StudentAgent(model, box, mode=chosen, settings=settings.student, sandbox_settings=settings.sandbox,
                             model_name=model_name)
        return await agent.run(question)


def _clip(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def render_run(run: AgentRun) -> RenderableType:
    """The run as panels: each step with its candidates and observation, then the answer and costs."""
    parts: list[RenderableType] = [Text(f"Question: {run.question}", style="bold")]
    for step in run.steps:
        table = Table(show_header=True, header_style="dim", expand=True)
        table.add_column("#", width=3)
        table.add_column("candidate")
        table.add_column("verdict", width=28)
        for candidate in step.candidates:
            if candidate.action is not None:
                shown = json.dumps(candidate.action.model_dump(), ensure_ascii=False)
            else:
                shown = candidate.raw
            verdict = ("[green]chosen[/]" if candidate.chosen else
                       f"[red]{_clip(candidate.problem, 60)}[/]" if candidate.problem else f"group {candidate.group}")
            table.add_row(str(candidate.index), Text(_clip(shown, 300)), verdict)
        style = "green" if step.ok else "red"
        body = Group(table, Text(_clip(step.observation), style=style))
        parts.append(Panel(body, title=f"step {step.index + 1}", title_align="left"))
    footer = Text()
    footer.append(f"Answer: {run.answer}\n" if run.answer is not None else "No answer\n",
                  style="bold green" if run.answer is not None else "bold red")
    footer.append(f"stopped: {run.stopped}   mode: {run.mode}   model: {run.model}\n")
    footer.append(f"tokens: {run.prompt_tokens} prompt + {run.completion_tokens} completion   "
                  f"seconds: {run.seconds:.1f}   tools used: {', '.join(run.tools_used) or 'none'}")
    if run.error:
        footer.append(f"\nerror: {run.error}", style="red")
    parts.append(footer)
    return Group(*parts)
