"""Report files: summary.json keys, summary.md, the comparison table and the PNG chart."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from student.eval.report import (
    COMPARISON_JSON,
    COMPARISON_MD,
    SUMMARY_JSON,
    SUMMARY_MD,
    compare_chart,
    summarise,
    write_comparison,
    write_summary,
)
from student.eval.results import EvalError, TaskResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUIRED_KEYS = {"n", "correct", "accuracy", "ci95", "tokens_per_task", "seconds_per_task", "reuse_rate",
                 "by_family", "settings"}


def results(system: str, pattern: list[tuple[str, bool]]) -> list[TaskResult]:
    return [TaskResult(task_id=f"{family}-{i}", family=family, system=system, question="q", answer="a",
                       correct=correct, reason="", prompt_tokens=30, completion_tokens=10, seconds=0.5,
                       tools_used=["box.a"] if correct else [])
            for i, (family, correct) in enumerate(pattern)]


def write_run(folder: Path, system: str, pattern: list[tuple[str, bool]]) -> Path:
    write_summary(folder, summarise(results(system, pattern), {"system": system, "model": "fake"},
                                    ["box.a", "box.b"]))
    return folder


def test_summary_files_have_the_required_figures_per_run_and_family(tmp_path: Path) -> None:
    write_run(tmp_path, "box", [("game24", True), ("game24", False), ("countdown", True)])
    summary = json.loads((tmp_path / SUMMARY_JSON).read_text())
    assert set(summary) >= REQUIRED_KEYS
    assert (summary["n"], summary["correct"], summary["reuse_rate"]) == (3, 2, 0.5)
    assert summary["settings"] == {"system": "box", "model": "fake"}
    assert set(summary["by_family"]) == {"game24", "countdown"}
    assert summary["by_family"]["game24"]["accuracy"] == 0.5
    assert REQUIRED_KEYS - {"by_family", "settings"} <= set(summary["by_family"]["countdown"])
    markdown = (tmp_path / SUMMARY_MD).read_text()
    assert "| all | 3 | 2 | 66.7% |" in markdown and "| game24 | 2 | 1 | 50.0% |" in markdown


def test_the_comparison_table_has_a_row_per_system_and_family(tmp_path: Path) -> None:
    summaries = {name: summarise(results(name, pattern), {}, None) for name, pattern in
                 {"box": [("game24", True), ("countdown", True)],
                  "cot": [("game24", False), ("countdown", True)]}.items()}
    write_comparison(tmp_path, summaries, {"matched_compute": {"k": 3}})
    table = (tmp_path / COMPARISON_MD).read_text()
    assert "| box | 2 | 2 | 100.0% |" in table and "| cot | 2 | 1 | 50.0% |" in table
    assert "| cot / game24 | 1 | 0 | 0.0% |" in table
    data = json.loads((tmp_path / COMPARISON_JSON).read_text())
    assert set(data["systems"]) == {"box", "cot"} and data["matched_compute"] == {"k": 3}


def test_compare_draws_a_png_chart_of_the_runs(tmp_path: Path) -> None:
    runs = [write_run(tmp_path / "box", "box", [("game24", True)] * 3 + [("game24", False)]),
            write_run(tmp_path / "cot", "cot", [("game24", False)] * 3 + [("game24", True)])]
    chart = compare_chart(runs, tmp_path / "charts" / "compare.png")
    data = chart.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])   # the IHDR chunk
    assert width >= 300 and height >= 300
    assert len(data) > 5000


def test_compare_needs_summaries(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no readable summary"):
        compare_chart([tmp_path], tmp_path / "c.png")
    with pytest.raises(EvalError, match="at least one run"):
        compare_chart([], tmp_path / "c.png")
