"""``distillery ask``: one run against the live box, and its rich trace."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from student.ask import ask, render_run
from student.cli import ask_app
from tests.server.support import server_env
from tests.student.conftest import ADD, SOLVE24, BoxServer
from toolbox.settings import Settings
from toolbox.testing import ScriptedModel

pytestmark = pytest.mark.anyio


async def test_ask_runs_against_the_server_and_renders_a_trace(box_server: BoxServer) -> None:
    model = ScriptedModel([
        json.dumps({"tool": SOLVE24, "arguments": {"a": 4, "b": 6, "c": 1, "d": 1}}),
        json.dumps({"tool": "final_answer", "arguments": {"answer": "4 * 6 * 1 * 1"}}),
    ])
    run = await ask("Make 24 from 4 6 1 1.", model=model, model_name="scripted", settings=Settings(),
                    server=box_server.mcp_url, mode="json")
    assert run.answer == "4 * 6 * 1 * 1" and run.tools_used == [SOLVE24]
    console = Console(record=True, width=120)
    console.print(render_run(run))
    text = console.export_text()
    assert "step 1" in text and "chosen" in text and "Answer: 4 * 6 * 1 * 1" in text and SOLVE24 in text


async def test_ask_without_a_box_offers_no_tools() -> None:
    model = ScriptedModel(["Final answer: 4"])
    run = await ask("2 + 2?", model=model, model_name="scripted", settings=Settings(), mode="tools", no_box=True)
    assert run.answer == "4" and model.requests[0].tools is None


def test_the_command_reports_an_unreachable_model_endpoint() -> None:
    result = CliRunner().invoke(ask_app, ["2 + 2?", "--no-box", "--mode", "json", "--base-url",
                                          "http://127.0.0.1:9/v1", "--model", "m", "--api-key", "k"],
                                env={"DISTILLERY_LLM__MAX_RETRIES": "0"})
    assert result.exit_code == 1
    assert "stopped: error" in result.output and "connection error" in result.output


async def test_ask_over_stdio_starts_distillery_mcp(box_server: BoxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in server_env(box_server.registry.url).items():
        if key.startswith("DISTILLERY_"):
            monkeypatch.setenv(key, value)
    model = ScriptedModel([json.dumps({"tool": ADD, "arguments": {"numbers": [3, 4]}}),
                           json.dumps({"tool": "final_answer", "arguments": {"answer": "7"}})])
    run = await ask("3 + 4?", model=model, model_name="scripted", settings=Settings(), stdio=True, mode="json")
    assert run.steps[0].observation == "7.0" and run.answer == "7"
