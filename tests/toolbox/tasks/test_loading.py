"""Task files: JSONL in, JSONL out, line-numbered errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from toolbox.tasks import Task, TaskError, dump_tasks, load_tasks

GOOD = {"id": "t1", "question": "Make 24", "scorer": "countdown", "numbers": [4, 4, 6, 8], "target": 24,
        "family": "game24"}


def write_lines(tmp_path: Path, *lines: str) -> Path:
    """A tasks.jsonl holding ``lines``."""
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_round_trip_skips_blank_lines(tmp_path: Path) -> None:
    second = {**GOOD, "id": "t2", "scorer": "exact", "answer": "x", "numbers": None, "target": None,
              "meta": {"k": [1, 2]}}
    path = write_lines(tmp_path, json.dumps(GOOD), "", "   ", json.dumps(second))
    tasks = load_tasks(path)
    assert [task.id for task in tasks] == ["t1", "t2"]
    buffer = io.StringIO()
    dump_tasks(tasks, buffer)
    assert [Task.model_validate_json(line) for line in buffer.getvalue().splitlines()] == tasks


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "tasks.jsonl:2: not valid JSON"),
        ("[1, 2]", "tasks.jsonl:2: expected a JSON object, got list"),
        (json.dumps({**GOOD, "id": "t2", "scorer": "vibes"}), "tasks.jsonl:2: invalid task, field 'scorer'"),
        (json.dumps({**GOOD, "id": "t2", "colour": "red"}), "tasks.jsonl:2: invalid task, field 'colour'"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "question"}), "field 'question'"),
        (json.dumps({**GOOD, "id": "t2", "numbers": None}), "the countdown scorer needs 'numbers'"),
        (json.dumps({**GOOD, "id": "t2", "scorer": "exact"}), "the exact scorer needs 'answer'"),
        (json.dumps({**GOOD, "id": "t2", "scorer": "reasoning_gym"}), "needs meta.rg_dataset"),
        (json.dumps(GOOD), "tasks.jsonl:2: duplicate task id 't1' (first on line 1)"),
    ],
)
def test_errors_name_the_line_and_the_problem(tmp_path: Path, bad_line: str, message: str) -> None:
    path = write_lines(tmp_path, json.dumps(GOOD), bad_line)
    with pytest.raises(TaskError) as caught:
        load_tasks(path)
    assert message in str(caught.value)


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path, json.dumps(GOOD), "", "oops")
    with pytest.raises(TaskError, match=r"tasks\.jsonl:3: "):
        load_tasks(path)


def test_a_missing_file_is_a_task_error(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="cannot read the task file"):
        load_tasks(tmp_path / "absent.jsonl")
