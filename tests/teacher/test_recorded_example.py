"""The committed recording of the real local teacher replays to the same box, with no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolbox.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "teach"


def test_the_recorded_qwen_teacher_run_replays_to_its_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLERY_DATA_DIR", str(tmp_path))
    # The flags of the recorded run (examples/teach/README.md): a different step limit is a different prompt.
    args = ["teach", str(EXAMPLE / "tasks.jsonl"), "--replay", str(EXAMPLE / "teacher.jsonl"), "--namespace", "box",
            "--max-steps", "4", "--activate", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["teacher_model"] == "qwen2.5-coder-1.5b"
    assert (report["tasks_run"], report["tasks_solved"], report["published"]) == (6, 1, 1)
    assert [line.split(":")[0] for line in report["box"]] == ["prime_factors"]
    # its printed output was the final answer, so it is a solver and its held-out answers are scored
    assert report["holdout_checks"] == {"scored-by-metadata": 1}
