"""export_log_data writes Kang et al.'s log_data JSONL rows from teacher trajectories and registry records."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from teacher.export import export_log_data
from teacher.trajectory import TeacherStep, TeacherTrajectory, trajectory_id
from toolbox.tasks import Task


def _trajectory(task: Task, *, correct: bool | None = True) -> TeacherTrajectory:
    steps = [
        TeacherStep(index=0, thought="Define a helper.", code="def f(xs):\n    return '*'.join(map(str, xs))",
                    observation="(no output)", ok=True, prompt_tokens=10, completion_tokens=5),
        TeacherStep(index=1, thought="Oops.", code=None, observation="Error: no code block", ok=False),
        TeacherStep(index=2, thought="Answer.", code="final_answer(f([2, 3, 4, 1]))", observation="2*3*4*1",
                    ok=True, final_answer="2*3*4*1", prompt_tokens=20, completion_tokens=7),
    ]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "SYSTEM"},
        {"role": "user", "content": "New task:\n" + task.question},
    ]
    for step in steps:
        messages += [{"role": "assistant", "content": f"Thought: {step.thought}"},
                     {"role": "user", "content": f"Observation:\n{step.observation}"}]
    return TeacherTrajectory(
        id=trajectory_id("run-1", task.id), run_id="run-1", task=task, steps=steps, messages=messages,
        final_answer="2*3*4*1", correct=correct, status="solved", prompt_version="v1", teacher_model="qwen-test",
        prompt_tokens=30, completion_tokens=12, seconds=1.5,
    )


def test_log_data_shape(game24_task: Callable[..., Task]) -> None:
    task = game24_task()
    out = io.StringIO()
    assert export_log_data([_trajectory(task)], out) == 1
    row = json.loads(out.getvalue())
    assert set(row) >= {"model_id", "question", "generated_answer", "true_answer", "log_data", "cost", "score"}
    assert (row["model_id"], row["question"], row["generated_answer"], row["score"]) == (
        "qwen-test", task.question, "2*3*4*1", 1)
    log_data = row["log_data"]
    assert set(log_data) == {"messages", "original_memory", "metadata"}
    assert log_data["original_memory"]["system_prompt"] == {"system_prompt": "SYSTEM"}
    roles = [m["role"] for m in log_data["messages"]]
    assert roles == ["system", "user", "assistant", "tool-call", "tool-response", "assistant", "tool-response",
                     "assistant", "tool-call", "tool-response"]
    texts = [m["content"][0]["text"] for m in log_data["messages"]]
    assert all(m["content"][0]["type"] == "text" for m in log_data["messages"])
    assert texts[1].startswith("New task:\n") and "python_interpreter" in texts[3]
    assert texts[4].startswith("Call id: call_1\nObservation:\n")
    assert texts[6].startswith("Error:\nError: no code block") and "Now let's retry" in texts[6]
    metadata = log_data["metadata"]
    assert metadata["total_steps"] == 3 and metadata["success"] is True and metadata["final_answer"] == "2*3*4*1"
    assert metadata["cost"]["input_tokens"] == 30 and metadata["cost"]["output_tokens"] == 12


def test_registry_records_export_and_only_correct_filters(game24_task: Callable[..., Task]) -> None:
    good = _trajectory(game24_task([2, 3, 4, 1]))
    wrong = _trajectory(game24_task([1, 2, 3, 4]), correct=False)
    out = io.StringIO()
    assert export_log_data([good.to_record(), wrong.to_record()], out, only_correct=True) == 1
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 1 and rows[0]["distillery"]["trajectory_id"] == good.id
    assert rows[0]["true_answer"] is None  # records keep no gold answer
