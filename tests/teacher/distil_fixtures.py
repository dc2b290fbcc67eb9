"""A function model that plays the teacher of the distil half, and the tools it writes.

``TeacherBrain`` answers the CodeAct solve prompt (a correct final answer for game24, countdown and
weekday tasks) and the distil prompts (extract, abstract, repair, consolidate) from handlers the
tests choose, so each test scripts only what it is about.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from teacher.extract import SYSTEM as DISTIL_SYSTEM
from toolbox.llm.base import ChatMessage
from toolbox.tasks import Task, make_tasks
from toolbox.testing import FunctionModel

SOLVE_COUNTDOWN = '''
def solve_countdown(numbers: list[int], target: int = 24) -> str:
    """Find an arithmetic expression over the numbers that equals the target.

    Args:
        numbers: The numbers; each may be used at most once.
        target: The value the expression must have.

    Returns:
        The expression, or an empty string when there is none.
    """
    def search(items: list[tuple[float, str]]) -> str:
        if len(items) == 1:
            return items[0][1] if abs(items[0][0] - target) < 1e-9 else ""
        for i in range(len(items)):
            for j in range(len(items)):
                if i == j:
                    continue
                (a, ta), (b, tb) = items[i], items[j]
                rest = [items[k] for k in range(len(items)) if k not in (i, j)]
                options = [(a + b, f"({ta} + {tb})"), (a - b, f"({ta} - {tb})"), (a * b, f"({ta} * {tb})")]
                if b != 0:
                    options.append((a / b, f"({ta} / {tb})"))
                for option in options:
                    found = search([*rest, option])
                    if found:
                        return found
        return ""

    return search([(float(n), str(n)) for n in numbers])
'''

WEEKDAY_NAME = '''
import datetime


def weekday_name(year: int, month: int, day: int) -> str:
    """The English name of the weekday of a date.

    Args:
        year: The year.
        month: The month, 1-12.
        day: The day of the month.

    Returns:
        The weekday, such as "Monday".
    """
    return datetime.date(year, month, day).strftime("%A")
'''

WEEKDAY_INDEX = '''
import datetime


def weekday_index(year: int, month: int, day: int) -> int:
    """The weekday of a date as a number, Monday being 0.

    Args:
        year: The year.
        month: The month, 1-12.
        day: The day of the month.

    Returns:
        0 for Monday up to 6 for Sunday.
    """
    return datetime.date(year, month, day).weekday()
'''

WEEKDAY = '''
import datetime


def weekday(year: int, month: int, day: int, as_name: bool = True) -> str | int:
    """The weekday of a date, as its English name or as a number (Monday being 0).

    Args:
        year: The year.
        month: The month, 1-12.
        day: The day of the month.
        as_name: True for the name ("Monday"), False for the number 0-6.

    Returns:
        The weekday's name or number.
    """
    moment = datetime.date(year, month, day)
    return moment.strftime("%A") if as_name else moment.weekday()
'''

PARSE_DATE_QUESTION = '''
import re

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]


def parse_question(question: str) -> dict:
    found = re.search(r"(\\d{1,2})/(\\d{1,2})/(\\d{4})", question)
    if found:
        return {"year": int(found.group(3)), "month": int(found.group(1)), "day": int(found.group(2))}
    found = re.search(r"([A-Za-z]+) (\\d{1,2}), (\\d{4})", question)
    if found and found.group(1).lower() in _MONTHS:
        return {"year": int(found.group(3)), "month": _MONTHS.index(found.group(1).lower()) + 1,
                "day": int(found.group(2))}
    found = re.search(r"(\\d{4})-(\\d{2})-(\\d{2})", question)
    if found:
        return {"year": int(found.group(1)), "month": int(found.group(2)), "day": int(found.group(3))}
    raise ValueError("no date in the question")
'''

Handler = Callable[[str, str], str]
"""(prompt kind, user prompt) -> the teacher's answer text."""


def fenced(payload: dict[str, Any]) -> str:
    """A teacher answer holding ``payload`` as one ```json block."""
    return "Here are the tools.\n```json\n" + json.dumps(payload, indent=1) + "\n```\n"


def tool_answer(source: str, *, name: str | None = None, role: str = "solver",
                inputs: list[dict[str, Any]] | None = None, tests: list[dict[str, Any]] | None = None,
                adapter: str | None = None,
                arg_maps: dict[str, Any] | None = None) -> str:
    """An extraction-style answer with one tool."""
    tool: dict[str, Any] = {"name": name, "role": role, "source": source, "trajectory_inputs": inputs or [],
                            "tests": tests or []}
    if adapter is not None:
        tool["parse_question"] = adapter
    if arg_maps is not None:
        tool["arg_maps"] = arg_maps
    return fenced({"tools": [tool]})


def weekday_tasks(n: int = 2) -> list[Task]:
    """``n`` calendar_arithmetic training tasks that ask for the weekday of a date."""
    pool = make_tasks("calendar_arithmetic", "train", 60)
    chosen = [t for t in pool if t.meta["rg_metadata"]["task"] == "weekday_of_date"][:n]
    assert len(chosen) == n, "the calendar family has too few weekday_of_date tasks in its first 60"
    return chosen


def date_of(task: Task) -> date:
    """The date a weekday task asks about."""
    return date.fromisoformat(task.meta["rg_metadata"]["target_date"])


def date_args(task: Task) -> dict[str, int]:
    """The weekday tools' arguments for ``task``."""
    moment = date_of(task)
    return {"year": moment.year, "month": moment.month, "day": moment.day}


def _solve_reply(question: str, tasks: dict[str, Task]) -> str:
    task = next((t for t in tasks.values() if t.question in question), None)
    if task is None:
        return "Thought: I cannot tell which task this is.\n```python\nfinal_answer('unknown')\n```"
    if task.numbers is not None:
        code = f"{SOLVE_COUNTDOWN}\nfinal_answer(solve_countdown({task.numbers!r}, {task.target!r}))"
        return f"Thought: I will search all expressions.\n```python\n{code}\n```"
    args = date_args(task)
    code = f"{WEEKDAY_NAME}\nfinal_answer(weekday_name({args['year']}, {args['month']}, {args['day']}))"
    return f"Thought: datetime knows the weekday.\n```python\n{code}\n```"


def kind_of(prompt: str) -> str:
    """Which distil prompt a user message is: extract, abstract, repair, consolidate or lift."""
    if "Turn what worked into reusable tools" in prompt:
        return "extract"
    if "does not generalise beyond the task" in prompt:
        return "abstract"
    if "failed a check" in prompt:
        return "repair"
    if "ONE consolidated tool" in prompt:
        return "consolidate"
    if "Rewrite it as ONE general Python function" in prompt:
        return "lift"
    raise AssertionError(f"unknown distil prompt: {prompt[:200]}")


class TeacherBrain:
    """Answers solve prompts by itself and distil prompts through ``handler``; records distil prompts."""

    def __init__(self, tasks: list[Task], handler: Handler,
                 slow: Callable[[str, str], Awaitable[None]] | None = None,
                 solve: Callable[[str, dict[str, Task]], str] | None = None) -> None:
        """``solve`` answers the solve prompts (default: a sound function per task, then its answer)."""
        self.tasks = {t.id: t for t in tasks}
        self.handler = handler
        self.solve = solve or _solve_reply
        self.slow = slow
        self.distil_prompts: list[tuple[str, str]] = []
        self.model = FunctionModel(self._reply, model="teacher-brain")

    async def _reply(self, messages: list[ChatMessage], kwargs: dict[str, Any]) -> str:
        system = messages[0].content or ""
        user = next((m.content or "" for m in messages if m.role == "user"), "")
        if system != DISTIL_SYSTEM:
            return self.solve(user, self.tasks)
        kind = kind_of(user)
        self.distil_prompts.append((kind, user))
        if self.slow is not None:
            await self.slow(kind, user)
        return self.handler(kind, user)


def task_of_prompt(prompt: str, tasks: list[Task]) -> Task:
    """The task an extraction prompt is about."""
    return next(t for t in tasks if t.question.strip() in prompt)


def good_handler(tasks: list[Task]) -> Handler:
    """A teacher that extracts the right, general tool for each task and consolidates weekday tools."""
    seen_weekday: list[str] = []

    def handle(kind: str, prompt: str) -> str:
        if kind == "consolidate":
            return tool_answer(WEEKDAY, name="weekday", role="solver",
                               arg_maps={"weekday_index": {"fixed": {"as_name": False}}},
                               tests=[{"args": {"year": 2024, "month": 1, "day": 1}, "expected": "Monday"}])
        task = task_of_prompt(prompt, tasks)
        if task.numbers is not None:
            return tool_answer(SOLVE_COUNTDOWN, name="solve_countdown",
                               inputs=[{"numbers": task.numbers, "target": task.target}],
                               tests=[{"args": {"numbers": [1, 1, 1, 1], "target": 24}, "expected": ""}])
        seen_weekday.append(task.id)
        if len(seen_weekday) == 1:
            return tool_answer(WEEKDAY_NAME, name="weekday_name", inputs=[date_args(task)],
                               tests=[{"args": {"year": 2024, "month": 1, "day": 1}, "expected": "Monday"}],
                               adapter=PARSE_DATE_QUESTION)
        return tool_answer(WEEKDAY_INDEX, name="weekday_index", role="helper", inputs=[date_args(task)],
                           tests=[{"args": {"year": 2024, "month": 1, "day": 1}, "expected": 0}],
                           adapter=PARSE_DATE_QUESTION)

    return handle


def strip_fences(text: str) -> str:
    """The text of the first fenced block (for assertions on prompts)."""
    found = re.search(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
    return found.group(1) if found else text
