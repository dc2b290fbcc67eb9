"""RecordingModel and ReplayModel: a recorded transcript answers the same requests identically, no others."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from teacher.replay import RecordingModel, ReplayModel, TranscriptError, request_fingerprint
from teacher.solve import solve_task
from toolbox.errors import ScriptExhausted
from toolbox.llm.base import ChatMessage, ChatRequest
from toolbox.settings import SandboxSettings, TeacherSettings
from toolbox.tasks import Task
from toolbox.testing import FunctionModel

pytestmark = pytest.mark.anyio


def _echo(messages: list[ChatMessage], kwargs: dict[str, Any]) -> str:
    return f"reply to {messages[-1].content} at t={kwargs['temperature']}"


async def test_replay_answers_recorded_requests_identically(tmp_path: Path) -> None:
    transcript = tmp_path / "teacher.jsonl"
    recorder = RecordingModel(FunctionModel(_echo, model="teacher-x"), transcript)
    first = await recorder.chat([ChatMessage.user("one")], temperature=0.0)
    second = await recorder.chat([{"role": "user", "content": "two"}], temperature=0.5, max_tokens=9)

    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert lines[0]["recorded"] is True and lines[0]["model"] == "teacher-x" and lines[0]["created"]
    assert len(lines) == 3 and lines[1]["request"]["messages"] == [{"role": "user", "content": "one"}]

    replay = ReplayModel(transcript)
    assert replay.model == "teacher-x" and replay.recorded == 2
    assert await replay.chat([ChatMessage.user("two")], temperature=0.5, max_tokens=9) == second
    assert await replay.chat([ChatMessage.user("one")], temperature=0.0) == first
    assert first.content == "reply to one at t=0.0"


async def test_unknown_request_fails_loudly(tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    await RecordingModel(FunctionModel(_echo), transcript).chat([ChatMessage.user("one")], temperature=0.0)
    replay = ReplayModel(transcript)
    with pytest.raises(ScriptExhausted, match=r"no recorded answer.*'other'"):
        await replay.chat([ChatMessage.user("other")], temperature=0.0)
    with pytest.raises(ScriptExhausted):  # same messages, another parameter: another request
        await replay.chat([ChatMessage.user("one")], temperature=0.7)


async def test_repeated_request_gets_recorded_answers_in_order(tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    counter = iter(range(10))
    recorder = RecordingModel(FunctionModel(lambda m, k: f"answer {next(counter)}"), transcript)
    for _ in range(2):
        await recorder.chat([ChatMessage.user("same")])
    replay = ReplayModel(transcript)
    answers = [(await replay.chat([ChatMessage.user("same")])).content for _ in range(3)]
    assert answers == ["answer 0", "answer 1", "answer 1"]


async def test_recording_extends_an_existing_transcript_with_one_header(tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    for text in ("a", "b"):
        await RecordingModel(FunctionModel(_echo), transcript).chat([ChatMessage.user(text)], temperature=0.0)
    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [("recorded" in line) for line in lines] == [True, False, False]


def test_fingerprint_is_canonical() -> None:
    one = ChatRequest(messages=[ChatMessage.user("x")], temperature=0.2)
    same = ChatRequest(messages=[ChatMessage(role="user", content="x")], temperature=0.2)
    other = ChatRequest(messages=[ChatMessage.user("x")], temperature=0.3)
    assert request_fingerprint(one) == request_fingerprint(same) != request_fingerprint(other)


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "not a recorded transcript"), ('{"model": "m"}\n', "not a recorded transcript"),
     ('{"recorded": true}\nnot json\n', ":2: not JSON"), ('{"recorded": true}\n{"fingerprint": "f"}\n', "entry 2")],
)
def test_bad_transcripts_are_rejected(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TranscriptError, match=message):
        ReplayModel(path)


def test_missing_transcript_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="cannot read transcript"):
        ReplayModel(tmp_path / "absent.jsonl")


async def test_a_recorded_solve_replays_to_the_same_trajectory(
    tmp_path: Path, game24_task: Callable[..., Task], sandbox_settings: SandboxSettings,
    teacher_settings: TeacherSettings,
) -> None:
    def teacher(messages: list[ChatMessage], kwargs: dict[str, Any]) -> str:
        if any(m.role == "assistant" for m in messages):
            return "Thought: done.\n```python\nfinal_answer(answer)\n```"
        return "Thought: multiply.\n```python\nanswer = '*'.join(['2', '3', '4', '1'])\nprint(answer)\n```"

    transcript = tmp_path / "teacher.jsonl"
    runs = []
    for model in (RecordingModel(FunctionModel(teacher, model="teacher-x"), transcript), None):
        replaying = model or ReplayModel(transcript)
        runs.append(await solve_task(
            game24_task(), model=replaying, sandbox_settings=sandbox_settings, functions=(),
            settings=teacher_settings, run_id="r", teacher_model="teacher-x", ftp=True,
        ))
    recorded, replayed = (run.model_dump(exclude={"seconds"}) for run in runs)
    assert runs[0].status == "solved" and recorded == replayed
    other = await solve_task(
        game24_task([3, 8, 1, 1]), model=ReplayModel(transcript), sandbox_settings=sandbox_settings,
        functions=(), settings=teacher_settings, run_id="r", teacher_model="teacher-x", ftp=True,
    )
    assert other.status == "error" and "no recorded answer" in (other.error or "")
