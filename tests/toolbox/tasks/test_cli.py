"""``distillery tasks`` through the root app, in-process."""

from __future__ import annotations

import logging
from pathlib import Path

from typer.testing import CliRunner, Result

from toolbox.cli import app
from toolbox.tasks import families, load_tasks, make_tasks


def run(*args: str, code: int = 0) -> Result:
    """Invoke ``distillery tasks ARGS`` in-process and check its exit code."""
    try:
        result = CliRunner().invoke(app, ["--log-level", "WARNING", "tasks", *args])
    finally:  # the root callback attaches a handler to the runner's (now closed) stderr
        logger = logging.getLogger("distillery")
        for handler in [h for h in logger.handlers if getattr(h, "_distillery", False)]:
            logger.removeHandler(handler)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def test_families_lists_every_family() -> None:
    assert run("families").stdout.split() == families()


def test_make_prints_loadable_jsonl(tmp_path: Path) -> None:
    result = run("make", "game24", "--split", "test", "--n", "3")
    path = tmp_path / "tasks.jsonl"
    path.write_text(result.stdout)
    assert load_tasks(path) == make_tasks("game24", "test", 3)


def test_make_with_a_seed_matches_the_library(tmp_path: Path) -> None:
    result = run("make", "calendar_arithmetic", "--split", "holdout", "--n", "4", "--seed", "5")
    path = tmp_path / "tasks.jsonl"
    path.write_text(result.stdout)
    assert load_tasks(path) == make_tasks("calendar_arithmetic", "holdout", 4, seed=5)


def test_unknown_family_is_a_clear_error() -> None:
    result = run("make", "chess", code=1)
    assert "unknown task family 'chess'; choose one of: game24" in result.stderr
    assert result.stdout == ""


def test_unknown_split_is_a_clear_error() -> None:
    result = run("make", "game24", "--split", "dev", code=1)
    assert "unknown split 'dev'; choose one of: train, test, holdout" in result.stderr
