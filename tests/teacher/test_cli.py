"""``distillery teach`` from a recorded transcript, resumed, and ``distillery trajectories``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry.container import build_services
from teacher.pipeline import RunReport, Teacher
from teacher.publishing import InProcessBoxWriter
from teacher.replay import RecordingModel
from teacher.state import RunJournal
from tests.teacher.conftest import UID_BASE
from tests.teacher.distil_fixtures import TeacherBrain, good_handler, weekday_tasks
from toolbox.cli import app
from toolbox.settings import Settings
from toolbox.tasks import Task, dump_tasks


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sandbox settings of these tests, through the environment as a user would set them."""
    monkeypatch.setenv("DISTILLERY_SANDBOX__WORKERS", "1")
    monkeypatch.setenv("DISTILLERY_SANDBOX__RUN_AS_UID", str(UID_BASE + 6))
    monkeypatch.setenv("DISTILLERY_SANDBOX__TIMEOUT_S", "5")
    monkeypatch.setenv("DISTILLERY_TEACHER__HOLDOUT_INSTANCES", "1")


async def record_transcript(tasks: list[Task], tasks_file: Path, transcript: Path, data_dir: Path) -> None:
    """Run the teacher once in process with a recording model, as a real local run would be recorded."""
    settings = Settings(data_dir=data_dir)
    services = build_services(settings)
    try:
        brain = TeacherBrain(tasks, good_handler(tasks))
        model = RecordingModel(brain.model, transcript, model="teacher-brain")
        teacher = Teacher(model=model, writer=InProcessBoxWriter(services), sandbox=services.sandbox,
                          settings=settings, journal=RunJournal(data_dir / "journal.jsonl"), run_id="recording",
                          teacher_model="teacher-brain", namespace="box", activate=True)
        report = await teacher.run(tasks)
        assert report.published == 2
    finally:
        services.close()


def test_teach_replays_a_transcript_resumes_and_exports(
    env: None, tmp_path: Path, game24_task: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = [game24_task([4, 6, 1, 1]), *weekday_tasks(1)]  # type: ignore[operator]
    tasks_file, transcript = tmp_path / "tasks.jsonl", tmp_path / "teacher.jsonl"
    with tasks_file.open("w") as stream:
        dump_tasks(tasks, stream)
    asyncio.run(record_transcript(tasks, tasks_file, transcript, tmp_path / "recording"))
    monkeypatch.setenv("DISTILLERY_DATA_DIR", str(tmp_path / "fresh"))
    runner = CliRunner()

    args = ["teach", str(tasks_file), "--replay", str(transcript), "--namespace", "box", "--activate", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    report = RunReport.model_validate_json(first.stdout)
    assert (report.tasks_run, report.tasks_solved, report.published) == (2, 2, 2)
    assert report.teacher_model == "teacher-brain" and report.rejected == {}
    assert {line.split(":")[0] for line in report.box} == {"solve_countdown", "weekday_name"}

    again = RunReport.model_validate_json(runner.invoke(app, args).stdout)
    assert (again.tasks_skipped, again.tasks_run, again.published) == (2, 0, 0)

    listed = runner.invoke(app, ["trajectories", "list"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(r["task_id"] for r in rows) == sorted(t.id for t in tasks)
    shown = runner.invoke(app, ["trajectories", "show", rows[0]["id"]])
    assert json.loads(shown.stdout)["id"] == rows[0]["id"]
    exported = runner.invoke(app, ["trajectories", "export", "--format", "log-data"])
    assert exported.exit_code == 0 and len(exported.stdout.strip().splitlines()) == 2
    assert runner.invoke(app, ["trajectories", "export", "--format", "csv"]).exit_code == 1


def test_teach_reports_a_bad_task_file_in_one_line(env: None, tmp_path: Path) -> None:
    bad = tmp_path / "tasks.jsonl"
    bad.write_text('{"id": "a"}\n')
    result = CliRunner().invoke(app, ["teach", str(bad), "--replay", str(bad)])
    assert result.exit_code == 1 and "tasks.jsonl:1" in result.output
