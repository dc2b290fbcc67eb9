"""``distillery db|keys|tools`` through the console script's root app, on SQLite in the test's data directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from registry.migrations import head_revision
from tests.registry.factories import tool_source
from toolbox.cli import app


def run(*args: str, code: int = 0) -> Result:
    """Invoke ``distillery ARGS`` in-process and check its exit code."""
    try:
        result = CliRunner().invoke(app, ["--log-level", "WARNING", *args])
    finally:  # the root callback attaches a handler to the runner's (now closed) stderr
        logger = logging.getLogger("distillery")
        for handler in [h for h in logger.handlers if getattr(h, "_distillery", False)]:
            logger.removeHandler(handler)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def as_json(result: Result) -> Any:
    """The command's stdout, parsed."""
    return json.loads(result.stdout)


@pytest.fixture
def tool_files(tmp_path: Path) -> dict[str, Path]:
    """A tool module, a patched version of it, a failing one, and its tests."""
    files = {
        "add": tool_source("add"),
        "add_v2": tool_source("add", params="a: int, b: int, c: int = 0", body="return a + b + c"),
        "wrong": tool_source("add", body="return a - b"),
    }
    paths = {key: tmp_path / f"{key}.py" for key in files}
    for key, text in files.items():
        paths[key].write_text(text)
    paths["tests"] = tmp_path / "tests.json"
    paths["tests"].write_text(json.dumps([{"args": {"a": 1, "b": 2}, "expected": 3}]))
    return paths


def test_db_upgrade_creates_the_database(_isolated_data_dir: Path) -> None:
    assert as_json(run("db", "current"))["revision"] is None
    result = as_json(run("db", "upgrade"))
    head = head_revision()
    assert result["revision"] == head and (_isolated_data_dir / "registry.db").exists()
    assert as_json(run("db", "upgrade"))["revision"] == head
    assert as_json(run("db", "current")) == {**result, "head": head}


def test_keys_create_list_revoke() -> None:
    created = as_json(run("keys", "create", "--name", "ci", "--role", "curator", "--namespace", "math",
                          "--namespace", "text"))
    assert created["secret"].startswith("dst_") and created["namespaces"] == ["math", "text"]
    listed = as_json(run("keys", "list"))
    assert [k["name"] for k in listed] == ["ci"] and "secret" not in listed[0]
    revoked = as_json(run("keys", "revoke", created["prefix"]))
    assert revoked["revoked_at"] is not None and as_json(run("keys", "list")) == []
    again = run("keys", "revoke", created["id"], code=1)
    assert again.stderr.startswith("error: ") and "already revoked" in again.stderr
    assert "owner" in run("keys", "create", "--name", "x", "--role", "owner", code=2).stderr


def test_tools_publish_curate_and_read(tool_files: dict[str, Path]) -> None:
    outcome = as_json(run("tools", "publish", str(tool_files["add"]), "--tests", str(tool_files["tests"]),
                          "--namespace", "math", "--activate"))
    assert (outcome["kind"], outcome["semver"], outcome["version"]["status"]) == ("new_tool", "1.0.0", "active")
    second = as_json(run("tools", "publish", str(tool_files["add_v2"]), "--tests", str(tool_files["tests"]),
                         "--namespace", "math"))
    assert (second["kind"], second["semver"]) == ("new_version", "1.1.0")

    assert [t["name"] for t in as_json(run("tools", "list"))["items"]] == ["add"]
    assert len(as_json(run("tools", "show", "math.add"))["versions"]) == 2
    assert as_json(run("tools", "show", "math.add", "--ref", "1.1.0"))["status"] == "draft"
    assert as_json(run("tools", "diff", "math.add", "1.0.0", "1.1.0"))["classification"] == "minor"
    assert as_json(run("tools", "search", "add two integers", "-k", "1"))[0]["name"] == "add"

    assert as_json(run("tools", "approve", "math.add", "1.1.0"))["status"] == "active"
    deprecated = as_json(run("tools", "deprecate", "math.add", "1.0.0", "--replacement", "math.add@1.1.0",
                             "--reason", "superseded"))
    assert deprecated["status"] == "deprecated"
    assert as_json(run("tools", "yank", "math.add", "1.0.0", "--reason", "bug"))["status"] == "yanked"
    assert as_json(run("tools", "restore", "math.add", "1.0.0"))["status"] == "active"


def test_rejected_publish_prints_the_outcome_and_exits_1(tool_files: dict[str, Path], tmp_path: Path) -> None:
    rejected = as_json(run("tools", "publish", str(tool_files["wrong"]), "--tests", str(tool_files["tests"]),
                           code=1))
    assert rejected["kind"] == "rejected" and rejected["test_report"]["failed"] == 1
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\ndef f() -> int:\n    return 1\n")
    analysis = as_json(run("tools", "publish", str(bad), code=1))
    assert analysis["kind"] == "rejected" and analysis["findings"]


def test_errors_are_one_red_line(tool_files: dict[str, Path]) -> None:
    missing = run("tools", "show", "math.nope", code=1)
    assert missing.stdout == "" and missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1
    run("tools", "publish", str(tool_files["add"]), "--tests", str(tool_files["tests"]))
    conflict = run("tools", "restore", "default.add", "1.0.0", code=1)
    assert "error: " in conflict.stderr
    broken = tool_files["tests"].with_name("broken.json")
    broken.write_text("{")
    assert "not valid JSON" in run("tools", "publish", str(tool_files["add"]), "--tests", str(broken),
                                   code=1).stderr

