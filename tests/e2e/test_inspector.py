"""The MCP Inspector CLI (``mcp-inspector --cli``) against the served box, over HTTP in both eras and over stdio."""

from __future__ import annotations

import json
import subprocess
from typing import Any, NamedTuple

import pytest

from tests.e2e.conftest import REPO_ROOT, Box, NodeTools

pytestmark = pytest.mark.slow

ERAS = ("legacy", "modern")
META_TOOLS = {"search_tools", "call_tool"}
INSPECTOR_TIMEOUT_S = 90


class Inspection(NamedTuple):
    """One Inspector CLI run with ``--format json -q``: exit status and the JSON on stdout and stderr."""

    returncode: int
    out: dict[str, Any] | None
    err: dict[str, Any] | None


def _json_or_none(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text:
        return None
    value = json.loads(text.splitlines()[-1])
    assert isinstance(value, dict), text
    return value


def inspect(node_tools: NodeTools, target: list[str], *args: str, env: dict[str, str] | None = None) -> Inspection:
    """Run ``mcp-inspector --cli TARGET... ARGS... --format json -q`` and parse what it prints."""
    done = subprocess.run([node_tools.inspector, "--cli", *target, *args, "--format", "json", "-q"],
                          env=env or node_tools.env, capture_output=True, text=True, timeout=INSPECTOR_TIMEOUT_S,
                          check=False, cwd=REPO_ROOT)
    try:
        return Inspection(done.returncode, _json_or_none(done.stdout), _json_or_none(done.stderr))
    except json.JSONDecodeError as exc:
        raise AssertionError(f"the Inspector printed no JSON ({exc}):\n{done.stdout[-2000:]}\n"
                             f"{done.stderr[-2000:]}") from None


def _http(url: str, era: str) -> list[str]:
    return [url, "--transport", "http", "--protocol-era", era]


def _names(inspection: Inspection) -> set[str]:
    assert inspection.returncode == 0 and inspection.out is not None, inspection
    return {tool["name"] for tool in inspection.out["result"]["tools"]}


def _text(result: dict[str, Any]) -> str:
    return "".join(block["text"] for block in result["content"] if block["type"] == "text")


@pytest.mark.parametrize("era", ERAS)
def test_tools_list_on_toolset_endpoint_has_bare_names(node_tools: NodeTools, box: Box, era: str) -> None:
    """The single-namespace endpoint lists the meta-tools and every seeded tool by its bare name."""
    names = _names(inspect(node_tools, _http(box.toolset_url, era), "--method", "tools/list"))
    assert names == META_TOOLS | set(box.tools)


@pytest.mark.parametrize("era", ERAS)
def test_tools_list_on_main_endpoint_has_qualified_names(node_tools: NodeTools, box: Box, era: str) -> None:
    """The all-namespaces endpoint names tools ``namespace.name``."""
    names = _names(inspect(node_tools, _http(box.mcp_url, era), "--method", "tools/list"))
    assert names == META_TOOLS | {f"conformance.{name}" for name in box.tools}


@pytest.mark.parametrize("era", ERAS)
def test_tools_call_with_tool_args(node_tools: NodeTools, box: Box, era: str) -> None:
    """``--tool-arg a=1 b=41`` reaches the sandboxed tool; the result is text plus structuredContent."""
    run = inspect(node_tools, _http(box.toolset_url, era), "--method", "tools/call",
                  "--tool-name", "add_integers", "--tool-arg", "a=1", "b=41")
    assert run.returncode == 0 and run.out is not None, run
    result = run.out["result"]
    assert result["isError"] is False
    assert result["structuredContent"] == {"result": 42}
    assert _text(result) == "42"


@pytest.mark.parametrize("era", ERAS)
def test_tools_call_qualified_name_on_main_endpoint(node_tools: NodeTools, box: Box, era: str) -> None:
    """A str result is served as one plain text block."""
    run = inspect(node_tools, _http(box.mcp_url, era), "--method", "tools/call",
                  "--tool-name", "conformance.test_simple_text")
    assert run.returncode == 0 and run.out is not None, run
    assert _text(run.out["result"]) == "This is a simple text response for testing."


@pytest.mark.parametrize("era", ERAS)
def test_tool_that_raises_is_an_error_result(node_tools: NodeTools, box: Box, era: str) -> None:
    """A tool that raises gives an isError result "ExcType: message"; the Inspector exits 5."""
    run = inspect(node_tools, _http(box.toolset_url, era), "--method", "tools/call",
                  "--tool-name", "test_error_handling")
    assert run.returncode == 5, run
    assert run.out is not None and run.out["result"]["isError"] is True
    assert _text(run.out["result"]) == "RuntimeError: This tool intentionally returns an error for testing"
    assert run.err is not None and run.err["error"]["code"] == "tool_is_error"


def test_unknown_tool_is_not_found(node_tools: NodeTools, box: Box) -> None:
    """Calling a tool the endpoint does not serve is reported as not found, not as a tool error."""
    run = inspect(node_tools, _http(box.toolset_url, "modern"), "--method", "tools/call",
                  "--tool-name", "no_such_tool")
    assert run.returncode != 0 and run.out is None, run
    assert run.err is not None and run.err["error"]["code"] == "tool_not_found"


def test_stdio_server(node_tools: NodeTools, box: Box) -> None:
    """``distillery mcp`` over stdio, launched by the Inspector with the registry in its environment."""
    distillery = str(REPO_ROOT / ".venv" / "bin" / "distillery")
    target = [distillery, "mcp", "-e", f"DISTILLERY_DATA_DIR={box.data_dir}", "-e", "DISTILLERY_LOG_LEVEL=WARNING",
              "-e", f"DISTILLERY_SANDBOX__RUN_AS_UID={int(box.env['DISTILLERY_SANDBOX__RUN_AS_UID']) + 4}"]
    # (a uid range apart from the HTTP box's sandbox: sandboxes sharing call uids kill each other's calls)
    env = {**node_tools.env, "DISTILLERY_DATA_DIR": str(box.data_dir)}
    names = _names(inspect(node_tools, target, "--method", "tools/list", env=env))
    assert names == META_TOOLS | {f"conformance.{name}" for name in box.tools}
    run = inspect(node_tools, target, "--method", "tools/call", "--tool-name", "conformance.add_integers",
                  "--tool-arg", "a=20", "b=22", env=env)
    assert run.returncode == 0 and run.out is not None, run
    assert run.out["result"]["structuredContent"] == {"result": 42}
