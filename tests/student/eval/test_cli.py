"""``distillery eval`` through typer's CliRunner, with a fake model and agent injected at the seams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import student.eval.cli as eval_cli
from student.eval.cli import eval_app
from tests.student.eval.support import fake_agent_factory, oracle_model
from toolbox.llm.endpoint import Endpoint
from toolbox.settings import Settings
from toolbox.tasks import Task, dump_tasks
from toolbox.testing import FunctionModel

SAMPLING = ("self-consistency", "best-of-k-verified")


@pytest.fixture
def model() -> FunctionModel:
    """The model every run of a test talks to (answers right except every fourth reply)."""
    return oracle_model(wrong_every=4)


@pytest.fixture
def made() -> list[dict[str, Any]]:
    """Agents created by the runs: one record per task and agent system."""
    return []


@pytest.fixture(autouse=True)
def seams(monkeypatch: pytest.MonkeyPatch, model: FunctionModel, made: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inject the fake model (through chat_endpoint) and the fake agent; returns chat_endpoint's calls."""
    endpoint_calls: list[dict[str, Any]] = []

    @contextmanager
    def fake_endpoint(settings: Settings, **kwargs: Any) -> Iterator[Endpoint]:
        endpoint_calls.append(kwargs)
        yield Endpoint(model=model, name="oracle", base_url="http://127.0.0.1:9/v1", local=False)

    monkeypatch.setattr(eval_cli, "chat_endpoint", fake_endpoint)
    monkeypatch.setattr(eval_cli, "make_agent_factory",
                        lambda settings, sag: fake_agent_factory(["math.add"], made, {"math.add": {"a": 2, "b": 3}}))
    return endpoint_calls


@pytest.fixture
def tasks_file(tmp_path: Path, tasks: list[Task]) -> Path:
    """The fixture tasks as a JSONL file (the format people bring their own tasks in)."""
    path = tmp_path / "tasks.jsonl"
    with path.open("w") as stream:
        dump_tasks(tasks, stream)
    return path


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(eval_app, list(args))
    return result


def test_eval_tasks_out_runs_the_student_and_writes_the_reports(
        tmp_path: Path, tasks_file: Path, seams: list[dict[str, Any]], made: list[dict[str, Any]]) -> None:
    out = tmp_path / "run"
    result = invoke(str(tasks_file), "--no-box", "--mode", "code", "--out", str(out), "--concurrency", "2")
    assert result.exit_code == 0, result.output
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 5
    record = json.loads(lines[0])
    assert {"messages", "tool_calls", "answer", "correct", "prompt_tokens", "seconds", "tools_used"} <= set(record)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 5 and summary["system"] == "code-no-box"
    assert summary["settings"]["eval"]["mode"] == "code" and "api_key" not in summary["settings"]["eval"]
    assert summary["settings"]["model"]["name"] == "oracle" and summary["settings"]["box"] is None
    assert summary["reuse_rate"] is None
    assert {m["box"] for m in made} == {None}
    assert seams[0]["local_default"] == Settings().student.model
    assert "code-no-box" in result.output


def test_a_family_name_makes_that_split_and_limit_caps_it(tmp_path: Path) -> None:
    out = tmp_path / "fam"
    result = invoke("run", "game24", "--split", "test", "--limit", "3", "--no-box", "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 3 and set(summary["by_family"]) == {"game24"}
    assert summary["settings"]["tasks"] == {"source": "game24", "split": "test", "n": 3, "families": ["game24"]}


def test_baselines_run_every_system_with_matched_compute(tmp_path: Path, tasks_file: Path,
                                                         model: FunctionModel) -> None:
    out = tmp_path / "all"
    result = invoke(str(tasks_file), "--no-box", "--mode", "json", "--baselines", "--out", str(out))
    assert result.exit_code == 0, result.output
    systems = ["json-no-box", "code-no-box", "cot", *SAMPLING]
    for name in systems:
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["n"] == 5, name
    primary = json.loads((out / "json-no-box" / "summary.json").read_text())
    budget = json.loads((out / "self-consistency" / "summary.json").read_text())["settings"]["matched_compute"]
    assert budget["k"] >= primary["samples_per_task"] == 2
    assert budget["k"] * budget["max_tokens_per_sample"] >= primary["tokens_per_task"] == 150
    for name in SAMPLING:
        assert json.loads((out / name / "summary.json").read_text())["samples_per_task"] == budget["k"]
    sampled = [r for r in model.requests if r.max_tokens == budget["max_tokens_per_sample"]]
    assert len(sampled) == 2 * 5 * budget["k"]
    table = (out / "comparison.md").read_text()
    assert all(f"| {name} |" in table for name in systems)


def test_a_box_run_on_the_train_split_is_refused_without_allow_train(tmp_path: Path, tasks_file: Path,
                                                                    seams: list[dict[str, Any]]) -> None:
    result = invoke(str(tasks_file), "--split", "train", "--box", "math", "--out", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert "distilled from the train split" in result.output and "--allow-train" in result.output
    assert seams == []  # refused before any model or server was started


def test_a_box_run_needs_a_box_or_no_box(tmp_path: Path, tasks_file: Path) -> None:
    result = invoke(str(tasks_file), "--out", str(tmp_path / "x"))
    assert result.exit_code == 1 and "--server URL" in result.output and "--no-box" in result.output
    result = invoke(str(tasks_file), "--no-box", "--box", "math", "--out", str(tmp_path / "x"))
    assert result.exit_code == 1 and "cannot be combined" in result.output


def test_compare_writes_the_chart_and_prints_the_table(tmp_path: Path, tasks_file: Path) -> None:
    runs = []
    for mode in ("code", "json"):
        runs.append(tmp_path / mode)
        assert invoke(str(tasks_file), "--no-box", "--mode", mode, "--out", str(runs[-1])).exit_code == 0
    chart = tmp_path / "chart.png"
    result = invoke("compare", *map(str, runs), "--out", str(chart))
    assert result.exit_code == 0, result.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "code-no-box" in result.output and "json-no-box" in result.output


def test_compare_of_a_folder_without_a_summary_fails_clearly(tmp_path: Path) -> None:
    result = invoke("compare", str(tmp_path), "--out", str(tmp_path / "c.png"))
    assert result.exit_code == 1 and "no readable summary" in result.output


def test_auto_mode_probes_the_endpoint_and_records_the_choice(tmp_path: Path, tasks_file: Path,
                                                              model: FunctionModel,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTILLERY_STUDENT__MODE", raising=False)
    out = tmp_path / "auto"
    result = invoke(str(tasks_file), "--no-box", "--out", str(out))
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "summary.json").read_text())["settings"]["eval"]
    assert (recorded["mode"], recorded["mode_probed"]) == ("json", True)  # the fake answers the probe in text
    assert model.requests[0].tool_names == ["record_word"]


def test_distillery_eval_tasks_works_under_the_root_command(tmp_path: Path, tasks_file: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import toolbox.cli

    monkeypatch.setitem(toolbox.cli.LAZY_COMMANDS, "eval", "student.eval.cli:eval_app")
    out = tmp_path / "root"
    result = CliRunner().invoke(toolbox.cli.app, ["eval", str(tasks_file), "--no-box", "--mode", "code",
                                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["n"] == 5
    chart = tmp_path / "c.png"
    result = CliRunner().invoke(toolbox.cli.app, ["eval", "compare", str(out), "--out", str(chart)])
    assert result.exit_code == 0, result.output
    assert chart.stat().st_size > 1000


def test_a_rerun_resumes_but_refuses_a_folder_of_other_settings(tmp_path: Path, tasks_file: Path,
                                                                model: FunctionModel) -> None:
    out = tmp_path / "again"
    assert invoke(str(tasks_file), "--no-box", "--mode", "code", "--limit", "2", "--out", str(out)).exit_code == 0
    asked = len(model.requests)
    assert invoke(str(tasks_file), "--no-box", "--mode", "code", "--out", str(out)).exit_code == 0
    assert len(model.requests) - asked == 3   # only the three tasks the first run did not reach
    assert json.loads((out / "summary.json").read_text())["n"] == 5
    result = invoke(str(tasks_file), "--no-box", "--mode", "json", "--out", str(out))
    assert result.exit_code == 1 and "other settings" in result.output
