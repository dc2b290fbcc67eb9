"""Reading and writing task files (JSON Lines, one task per line)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from toolbox.tasks.model import Task, TaskError

__all__ = ["dump_tasks", "load_tasks"]


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"field {where!r}: {message}" if where else message


def load_tasks(path: Path) -> list[Task]:
    """Read the tasks of a JSONL file; raises ``TaskError`` naming the line of the first problem."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TaskError(f"{path}: cannot read the task file ({exc.strerror}); check the path") from None
    tasks: list[Task] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); "
                            "write one JSON object per line") from None
        if not isinstance(data, dict):
            raise TaskError(f"{where}: expected a JSON object, got {type(data).__name__}; "
                            "write one task object per line")
        try:
            task = Task.model_validate(data)
        except ValidationError as exc:
            raise TaskError(f"{where}: invalid task, {_validation_message(exc)}; "
                            "fix the field (see `distillery tasks make` for the shape)") from None
        if task.id in first_line_of:
            raise TaskError(f"{where}: duplicate task id {task.id!r} (first on line {first_line_of[task.id]}); "
                            "give every task a unique id")
        first_line_of[task.id] = number
        tasks.append(task)
    return tasks


def dump_tasks(tasks: Iterable[Task], stream: TextIO) -> None:
    """Write tasks as JSON Lines, one compact object per line, in order."""
    for task in tasks:
        stream.write(task.model_dump_json() + "\n")
