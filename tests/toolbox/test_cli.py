"""The toolbox's own commands through the installed ``distillery`` script: check, run-tool, doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTILLERY = str(Path(sys.executable).with_name("distillery"))
SOLVE24 = str(ROOT / "examples" / "tools" / "solve24.py")


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``distillery ARGS`` with this test's environment and capture its output."""
    env = {**os.environ, "DISTILLERY_LOG_LEVEL": "WARNING"}
    return subprocess.run([DISTILLERY, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False)


def write_tool(tmp_path: Path, source: str) -> str:
    path = tmp_path / "tool.py"
    path.write_text(source)
    return str(path)


def test_check_reports_schemas_of_a_good_tool() -> None:
    result = run_cli("check", SOLVE24)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["entrypoint"] == "solve24"
    assert set(report["input_schema"]["required"]) == {"a", "b", "c", "d"}


def test_check_names_the_line_of_each_problem(tmp_path: Path) -> None:
    source = "import os\n\ndef f(x):\n    return os.getcwd()\n"
    result = run_cli("check", write_tool(tmp_path, source))
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    assert any(f["line"] == 1 and "os" in f["message"] for f in findings)
    assert any(f["line"] == 3 for f in findings)


def test_run_tool_runs_in_the_sandbox_and_prints_the_result() -> None:
    result = run_cli("run-tool", SOLVE24, "--args", '{"a": 4, "b": 7, "c": 8, "d": 8}')
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["ok"] is True
    assert outcome["isolation"] == "bwrap"
    assert eval(outcome["value"], {"__builtins__": {}}) == 24  # the expression the tool found


def test_run_tool_reports_a_tool_error_with_exit_code_1(tmp_path: Path) -> None:
    source = (
        'def f(x: int) -> int:\n    """Fail.\n\n    Args:\n        x: Anything.\n    """\n    raise ValueError("no")\n'
    )
    result = run_cli("run-tool", write_tool(tmp_path, source), "--args", '{"x": 1}')
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert (error["type"], error["message"]) == ("ValueError", "no")


@pytest.mark.parametrize(("args", "message"), [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_run_tool_refuses_bad_arguments_with_a_clear_message(args: str, message: str) -> None:
    result = run_cli("run-tool", SOLVE24, "--args", args)
    assert result.returncode == 1
    assert message in result.stderr


def test_doctor_reports_the_active_isolation_level() -> None:
    result = run_cli("doctor")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["configured"] == "bwrap"
    assert report["configured_available"] is True
    assert report["levels"]["bwrap"]["available"] is True


def test_doctor_fails_when_the_configured_level_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    result = run_cli("doctor")
    assert result.returncode == 1
    assert json.loads(result.stdout)["configured_available"] is False


def test_sigterm_exits_through_the_with_blocks_so_started_servers_stop(tmp_path: Path) -> None:
    marker = tmp_path / "cleaned-up"
    script = f"""
import contextlib, pathlib, sys, time
import toolbox.cli

@contextlib.contextmanager
def server():
    try:
        yield
    finally:
        pathlib.Path({str(marker)!r}).write_text("stopped")

def hold():
    with server():
        print("ready", flush=True)
        time.sleep(60)

toolbox.cli.app = lambda prog_name: hold()
toolbox.cli.main()
"""
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.terminate()
        assert child.wait(timeout=20) == 128 + 15
    assert marker.read_text() == "stopped"
