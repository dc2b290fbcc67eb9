"""Export trajectories in Kang et al.'s ``log_data`` JSONL shape, for users who fine-tune later.

One line per trajectory, as ``append_result`` writes it in Nardien/agent-distillation
(exps_research/unified_framework/processors/agent.py, ``annotated_result``; ``log_data`` from
``MultiStepAgent.save_memory_to_logs`` in src/smolagents/agents.py and the message shapes of
``TaskStep``/``ActionStep.to_messages`` in src/smolagents/memory.py, commit 0f6cae3)::

    {"model_id", "question", "generated_answer", "true_answer", "cost", "score",
     "log_data": {"messages": [{"role": "system"|"user"|"assistant"|"tool-call"|"tool-response",
                                "content": [{"type": "text", "text": ...}]}, ...],
                  "original_memory": {"system_prompt": {"system_prompt": ...}, "steps": []},
                  "metadata": {"task", "agent_name", "model": {"name", "model_id"}, "timestamp",
                               "total_steps", "success", "final_answer", "performance", "cost"}}}

Their training code (exps_research/train_utils/preprocess.py) reads ``log_data.messages`` and turns
``tool-response`` into user turns, so the observations travel as ``tool-response`` messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic import BaseModel

from teacher.trajectory import TeacherTrajectory

__all__ = ["export_log_data", "log_data_row"]

RETRY_NOTE = (
    "\nNow let's retry: take care not to repeat previous errors! If you have retried several times, "
    "try a completely different approach.\n"
)


def _text(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": text}]}


def _as_record(trajectory: TeacherTrajectory | BaseModel | Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    if isinstance(trajectory, TeacherTrajectory):
        return trajectory.to_record().model_dump(mode="json"), trajectory.task.answer
    record = trajectory.model_dump(mode="json") if isinstance(trajectory, BaseModel) else dict(trajectory)
    return record, record.get("true_answer")


def _messages(record: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    conversation = record.get("messages") or []
    system = next((str(m.get("content") or "") for m in conversation if m.get("role") == "system"), "")
    task = next((str(m.get("content") or "") for m in conversation if m.get("role") == "user"), "")
    replies = [str(m.get("content") or "") for m in conversation if m.get("role") == "assistant"]
    out = [_text("system", system), _text("user", task or f"New task:\n{record.get('question', '')}")]
    for position, step in enumerate(record.get("steps") or []):
        call_id = f"call_{position + 1}"
        if position < len(replies):
            out.append(_text("assistant", replies[position].strip()))
        code = step.get("code")
        if code is not None:
            call = {"id": call_id, "type": "function", "function": {"name": "python_interpreter", "arguments": code}}
            out.append(_text("tool-call", "Calling tools:\n" + str([call])))
        if step.get("ok"):
            out.append(_text("tool-response", f"Call id: {call_id}\nObservation:\n{step.get('observation', '')}"))
        else:
            prefix = f"Call id: {call_id}\n" if code is not None else ""
            out.append(_text("tool-response", f"{prefix}Error:\n{step.get('observation', '')}{RETRY_NOTE}"))
    return out, system


def log_data_row(trajectory: TeacherTrajectory | BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """One trajectory (teacher, registry record or its dict) as a Kang et al. ``log_data`` row."""
    record, true_answer = _as_record(trajectory)
    messages, system = _messages(record)
    steps = record.get("steps") or []
    seconds = float(record.get("seconds") or 0.0)
    created = record.get("created_at")
    timestamp = str(created) if created else datetime.now(UTC).isoformat(timespec="seconds")
    model_id = str(record.get("teacher_model", ""))
    prompt_tokens = int(record.get("prompt_tokens") or 0)
    completion_tokens = int(record.get("completion_tokens") or 0)
    correct = record.get("correct")
    row: dict[str, Any] = {
        "model_id": model_id,
        "question": record.get("question", ""),
        "generated_answer": record.get("final_answer"),
        "true_answer": true_answer,
        "log_data": {
            "messages": messages,
            "original_memory": {"system_prompt": {"system_prompt": system}, "steps": []},
            "metadata": {
                "task": record.get("question", ""),
                "agent_name": "CodeAgent",
                "model": {"name": "distillery-teacher", "model_id": model_id},
                "timestamp": timestamp,
                "total_steps": len(steps),
                "success": record.get("final_answer") is not None,
                "final_answer": record.get("final_answer"),
                "performance": {
                    "total_duration": seconds,
                    "average_step_duration": seconds / len(steps) if steps else 0,
                },
                "cost": {
                    "total_cost": 0.0, "input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                    "input_cost": 0.0, "output_cost": 0.0, "model": model_id,
                },
            },
        },
        "cost": 0.0,
        "score": None if correct is None else int(bool(correct)),
        "distillery": {
            "trajectory_id": record.get("id"), "task_id": record.get("task_id"), "family": record.get("family"),
            "status": record.get("status"), "prompt_version": record.get("prompt_version"), "ftp": record.get("ftp"),
        },
    }
    return row


def export_log_data(
    trajectories: Iterable[TeacherTrajectory | BaseModel | Mapping[str, Any]],
    stream: TextIO,
    *,
    only_correct: bool = False,
) -> int:
    """Write one ``log_data`` JSONL line per trajectory (``only_correct``: scored correct only); the count."""
    written = 0
    for trajectory in trajectories:
        row = log_data_row(trajectory)
        if only_correct and row["score"] != 1:
            continue
        stream.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        written += 1
    return written
