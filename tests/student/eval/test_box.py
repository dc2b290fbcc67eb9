"""A box run against a real ``distillery serve`` that the harness starts for ``--box NAMESPACE``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import student.eval.cli as eval_cli
from registry.container import build_services
from student.eval.box import mcp_url
from student.eval.cli import eval_app
from tests.server.support import fixture_specs, publish, server_env, server_settings
from tests.student.eval.support import fake_agent_factory, oracle_model
from toolbox.embeddings import HashingEmbedder
from toolbox.llm.endpoint import Endpoint
from toolbox.settings import Settings
from toolbox.tasks import Task, dump_tasks


@pytest.fixture
def registry_url(tmp_path: Path) -> Iterator[str]:
    """A SQLite registry with the server suite's fixture tools (math.add, math.mul, text.*, ops.*) active."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    services = build_services(server_settings(url), embedder=HashingEmbedder())
    try:
        for spec in fixture_specs():
            publish(services, spec)
    finally:
        services.close()
    yield url


def test_mcp_url_keeps_a_given_path_and_adds_the_toolset_endpoint() -> None:
    assert mcp_url("http://h:1", None) == "http://h:1/mcp"
    assert mcp_url("http://h:1/", "math") == "http://h:1/mcp/math"
    assert mcp_url("http://h:1/mcp/other", "math") == "http://h:1/mcp/other"


@pytest.mark.slow
def test_box_namespace_starts_a_server_and_records_the_box(
        tmp_path: Path, registry_url: str, tasks: list[Task], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in server_env(registry_url).items():
        if key.startswith("DISTILLERY_"):
            monkeypatch.setenv(key, value)
    made: list[dict[str, Any]] = []

    @contextmanager
    def fake_endpoint(settings: Settings, **_kwargs: Any) -> Iterator[Endpoint]:
        yield Endpoint(model=oracle_model(), name="oracle", base_url="http://127.0.0.1:9/v1", local=False)

    monkeypatch.setattr(eval_cli, "chat_endpoint", fake_endpoint)
    monkeypatch.setattr(eval_cli, "make_agent_factory",
                        lambda settings, sag: fake_agent_factory(["add"], made, {"add": {"a": 2, "b": 3}}))
    tasks_file = tmp_path / "tasks.jsonl"
    with tasks_file.open("w") as stream:
        dump_tasks(tasks[:2], stream)
    out = tmp_path / "box-run"
    result = CliRunner().invoke(eval_app, [str(tasks_file), "--box", "math", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    box = summary["settings"]["box"]
    assert box["namespace"] == "math" and box["started_here"] is True
    assert box["tools"] == ["add", "mul"] and box["tool_count"] == 2  # one namespace: names without the prefix
    assert isinstance(box["revision"], int) and box["revision"] > 0
    assert box["url"].endswith("/mcp/math")
    assert summary["settings"]["eval"]["builtin"] is False  # no python/retrieve beside the box unless --builtin
    assert summary["system"] == "box" and summary["accuracy"] == 1.0
    assert summary["reuse_rate"] == 0.5
    assert len(made) == 2 and all(m["box"] is not None for m in made)

    # Other settings into the same folder: refused with the reason, no traceback, though the box was open.
    rerun = CliRunner().invoke(eval_app, [str(tasks_file), "--box", "math", "--builtin", "--out", str(out)])
    assert rerun.exit_code == 1 and rerun.exception is not None and isinstance(rerun.exception, SystemExit)
    assert "holds results of other settings" in rerun.output and "Traceback" not in rerun.output
