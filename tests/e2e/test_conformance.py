"""The official MCP conformance suite's server scenarios against ``distillery serve``.

Each applicable (spec version, scenario) pair runs ``conformance server --scenario ...`` against the
toolset endpoint ``/mcp/conformance`` with ``conformance-expected-failures.yml`` as the baseline: the
CLI exits non-zero on any failure or warning not in the baseline and on baseline entries that now
pass. The scenarios that do not apply to a tools-only server are listed in ``NOT_APPLICABLE`` (and in
docs/conformance.md); ``test_every_listed_scenario_is_classified`` catches new ones in a suite upgrade.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.e2e.conftest import E2E_DIR, Box, NodeTools

pytestmark = pytest.mark.slow

SPEC_VERSIONS = ("2025-11-25", "2026-07-28")
EXPECTED_FAILURES = E2E_DIR / "conformance-expected-failures.yml"
SCENARIO_TIMEOUT_S = 90
PARALLEL_RUNS = 4  # scenario runs in flight at once (each is one short-lived Node process)
# Scenarios whose every check is a SHOULD this server does not implement: no SUCCESS check to expect.
WARNINGS_ONLY = {"server-sse-polling"}

APPLICABLE: dict[str, tuple[str, ...]] = {
    "2025-11-25": (
        "server-initialize", "server-session-lifecycle", "ping", "tools-list", "tools-call-simple-text",
        "tools-call-error", "tools-call-with-progress", "server-sse-polling", "server-sse-multiple-streams",
        "dns-rebinding-protection",
    ),
    "2026-07-28": (
        "server-stateless", "tools-list", "tools-call-simple-text", "tools-call-error", "tools-call-with-progress",
        "server-sse-multiple-streams", "dns-rebinding-protection", "caching", "http-header-validation",
    ),
}

_CONTENT = "Distillery tools return JSON values, served as one text block plus structuredContent; a tool cannot "
_NO_BACKCHANNEL = ("Distillery tools are sandboxed pure functions with no back-channel to the client "
                   "(no sampling, elicitation, roots, logging or MRTR input requests)")
_MRTR = f"needs a tool that answers with an InputRequiredResult (SEP-2322 multi-round requests); {_NO_BACKCHANNEL}"
NOT_APPLICABLE: dict[str, str] = {
    "logging-set-level": "the server has no logging capability: tools cannot emit log messages",
    "completion-complete": "the server has no prompts or resource templates, so nothing to complete",
    "tools-call-image": _CONTENT + "produce image content",
    "tools-call-audio": _CONTENT + "produce audio content",
    "tools-call-embedded-resource": _CONTENT + "produce embedded resources (the server has no resources)",
    "tools-call-mixed-content": _CONTENT + "produce image or resource blocks",
    "tools-call-with-logging": f"needs logging/setLevel and log notifications during a call; {_NO_BACKCHANNEL}",
    "tools-call-sampling": f"needs a tool that requests sampling/createMessage; {_NO_BACKCHANNEL}",
    "tools-call-elicitation": f"needs a tool that sends elicitation/create; {_NO_BACKCHANNEL}",
    "elicitation-sep1034-defaults": f"needs a tool that sends elicitation/create; {_NO_BACKCHANNEL}",
    "elicitation-sep1330-enums": f"needs a tool that sends elicitation/create; {_NO_BACKCHANNEL}",
    "json-schema-2020-12": (
        "needs a tool whose inputSchema has $schema, $defs/$anchor, allOf/anyOf and if/then/else; a Distillery "
        "input schema is always derived from the Python signature (the publisher rejects a stated schema that "
        "disagrees with it) and the derivation never emits those keywords"),
    "http-custom-header-server-validation": (
        "needs tools whose input schemas carry x-mcp-header annotations (SEP-2243 custom headers); derived "
        "input schemas never have them"),
    "resources-list": "the server has no resources",
    "resources-read-text": "the server has no resources",
    "resources-read-binary": "the server has no resources",
    "resources-templates-read": "the server has no resources",
    "resources-subscribe": "the server has no resources",
    "resources-unsubscribe": "the server has no resources",
    "sep-2164-resource-not-found": "the server has no resources (resources/read answers -32601)",
    "prompts-list": "the server has no prompts",
    "prompts-get-simple": "the server has no prompts",
    "prompts-get-with-args": "the server has no prompts",
    "prompts-get-embedded-resource": "the server has no prompts",
    "prompts-get-with-image": "the server has no prompts",
    **{f"input-required-result-{name}": _MRTR for name in (
        "basic-elicitation", "basic-sampling", "basic-list-roots", "request-state", "multiple-input-requests",
        "multi-round", "missing-input-response", "non-tool-request", "result-type", "unsupported-methods",
        "tampered-state", "capability-check", "ignore-extra-params", "validate-input")},
}

# What the fixture tools must answer, beyond what the suite itself checks.
SIMPLE_TEXT = "This is a simple text response for testing."
ERROR_TEXT = "RuntimeError: This tool intentionally returns an error for testing"
PROGRESS_TEXT = "test_tool_with_progress finished after 3.5 seconds"


def _listed_scenarios(node_tools: NodeTools, spec_version: str) -> set[str]:
    done = subprocess.run([node_tools.conformance, "list", "--server", "--spec-version", spec_version],
                          env=node_tools.env, capture_output=True, text=True, timeout=60, check=True)
    return {line.split()[1] for line in done.stdout.splitlines() if line.startswith("  - ")}


class ScenarioRun(NamedTuple):
    """One ``conformance server --scenario`` run: the CLI's exit status and output, and its checks."""

    returncode: int
    output: str
    checks: list[dict[str, Any]]


def _run_scenario(node_tools: NodeTools, box: Box, spec_version: str, scenario: str, out_dir: Path) -> ScenarioRun:
    done = subprocess.run(
        [node_tools.conformance, "server", "--url", box.toolset_url, "--spec-version", spec_version,
         "--scenario", scenario, "--expected-failures", str(EXPECTED_FAILURES), "-o", str(out_dir)],
        env=node_tools.env, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S, check=False)
    files = sorted(out_dir.glob("**/checks.json"))
    checks: list[dict[str, Any]] = json.loads(files[0].read_text()) if files else []
    return ScenarioRun(done.returncode, f"{done.stdout[-2500:]}\n{done.stderr[-1500:]}", checks)


@pytest.fixture(scope="session")
def scenario_runs(request: pytest.FixtureRequest, node_tools: NodeTools, box: Box,
                  tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], ScenarioRun]:
    """Runs every selected (spec version, scenario) pair up front, a few at a time, against the box."""
    selected = sorted({(str(item.callspec.params["spec_version"]), str(item.callspec.params["scenario"]))
                       for item in request.session.items
                       if isinstance(item, pytest.Function) and item.originalname == "test_conformance_scenario"})
    root = tmp_path_factory.mktemp("conformance")

    def run(pair: tuple[str, str]) -> ScenarioRun:
        version, scenario = pair
        return _run_scenario(node_tools, box, version, scenario, root / version / scenario)

    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        return dict(zip(selected, pool.map(run, selected), strict=True))


def _summary(checks: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {c['status']:<8} {c['id']}: {c.get('errorMessage') or ''}" for c in checks
                     if c["status"] in {"FAILURE", "WARNING"}) or "  (no failing or warning checks)"


def _result_of(checks: list[dict[str, Any]], check_id: str) -> dict[str, Any]:
    found = [c for c in checks if c["id"] == check_id]
    assert found, f"the scenario reported no {check_id!r} check"
    result: dict[str, Any] = found[0]["details"]["result"]
    return result


def _text(result: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in result.get("content", []) if block.get("type") == "text")


@pytest.mark.parametrize("spec_version", SPEC_VERSIONS)
def test_every_listed_scenario_is_classified(node_tools: NodeTools, spec_version: str) -> None:
    """Every server scenario the suite lists for the version is run here or documented as not applicable."""
    listed = _listed_scenarios(node_tools, spec_version)
    applicable = set(APPLICABLE[spec_version])
    assert applicable <= listed, f"not offered by the suite at {spec_version}: {sorted(applicable - listed)}"
    unclassified = listed - applicable - set(NOT_APPLICABLE)
    assert not unclassified, f"new scenarios at {spec_version}: classify them (and update docs/conformance.md)"


@pytest.mark.timeout(420)  # the first test's setup runs every selected scenario (about 75 s here)
@pytest.mark.parametrize(("spec_version", "scenario"),
                         [(v, s) for v in SPEC_VERSIONS for s in APPLICABLE[v]])
def test_conformance_scenario(scenario_runs: dict[tuple[str, str], ScenarioRun], box: Box, spec_version: str,
                              scenario: str) -> None:
    """The scenario passes, apart from the documented, still-failing checks in the baseline."""
    returncode, output, checks = scenario_runs[spec_version, scenario]
    assert checks, f"no checks.json written:\n{output}"
    assert scenario in WARNINGS_ONLY or any(c["status"] == "SUCCESS" for c in checks), _summary(checks)
    assert returncode == 0, (
        f"conformance {scenario} @ {spec_version} exited {returncode}:\n{_summary(checks)}\n"
        f"--- CLI output (tail) ---\n{output}\n--- server log (tail) ---\n{box.log_tail()}")
    if scenario == "tools-call-simple-text":
        result = _result_of(checks, "tools-call-simple-text")
        assert result.get("isError") is not True and _text(result) == SIMPLE_TEXT, result
    elif scenario == "tools-call-error":
        result = _result_of(checks, "tools-call-error")
        assert result["isError"] is True and _text(result) == ERROR_TEXT, result
    elif scenario == "tools-call-with-progress":
        # The suite only counts the notifications; the call itself must also succeed.
        result = _result_of(checks, "tools-call-with-progress")
        assert result.get("isError") is not True and _text(result) == PROGRESS_TEXT, result
