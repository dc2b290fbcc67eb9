"""The official MCP conformance suite's server scenarios against ``distillery serve``, on both endpoints.

Each applicable (endpoint, spec version, scenario) runs ``conformance server --scenario ...`` against
the toolset endpoint ``/mcp/conformance`` (bare tool names, as the scenarios expect) or the default
endpoint ``/mcp`` (qualified names), with that endpoint's baseline (``conformance-expected-failures.yml``,
``conformance-expected-failures-default.yml``): the CLI exits non-zero on any failure or warning not
in the baseline and on baseline entries that now pass. ``test_conformance_tally`` asserts the count
of checks by status per endpoint and version. The scenarios that do not apply to a tools-only server
are listed in ``NOT_APPLICABLE`` (and in docs/conformance.md), those that need bare tool names in
``NEEDS_BARE_NAMES``; ``test_every_listed_scenario_is_classified`` catches new ones in a suite upgrade.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from tests.e2e.conftest import E2E_DIR, Box, NodeTools

pytestmark = pytest.mark.slow

SPEC_VERSIONS = ("2025-11-25", "2026-07-28")
# Endpoint -> the baseline of its expected failures; "toolset" is /mcp/conformance, "default" is /mcp.
ENDPOINTS = ("toolset", "default")
EXPECTED_FAILURES = {"toolset": E2E_DIR / "conformance-expected-failures.yml",
                     "default": E2E_DIR / "conformance-expected-failures-default.yml"}
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

# Scenarios that call the fixture tools by bare name (test_simple_text, ...): they run on the toolset
# endpoint only. The Inspector tests call tools by their qualified names on /mcp.
NEEDS_BARE_NAMES: dict[str, str] = dict.fromkeys(
    ("tools-call-simple-text", "tools-call-error", "tools-call-with-progress"),
    "calls its fixture tool by bare name; /mcp qualifies it (conformance.<name>), so the scenario runs on "
    "/mcp/conformance, and tests/e2e/test_inspector.py calls tools on /mcp")

# Checks by status over all applicable scenarios, per (endpoint, spec version), without the baseline
# (the statuses in checks.json): docs/conformance.md states the same tally.
EXPECTED_TALLY: dict[tuple[str, str], dict[str, int]] = {
    ("toolset", "2025-11-25"): {"SUCCESS": 23, "WARNING": 1, "INFO": 8},
    ("toolset", "2026-07-28"): {"SUCCESS": 55, "FAILURE": 6, "WARNING": 1, "SKIPPED": 2, "INFO": 1},
    ("default", "2025-11-25"): {"SUCCESS": 17, "WARNING": 1, "INFO": 8},
    ("default", "2026-07-28"): {"SUCCESS": 48, "FAILURE": 7, "WARNING": 1, "SKIPPED": 2, "INFO": 1},
}


def applicable(endpoint: str, spec_version: str) -> tuple[str, ...]:
    """The scenarios run at ``spec_version`` on ``endpoint``."""
    return tuple(s for s in APPLICABLE[spec_version] if endpoint == "toolset" or s not in NEEDS_BARE_NAMES)


def endpoint_url(box: Box, endpoint: str) -> str:
    """The URL of ``endpoint`` ("toolset" or "default") on the box."""
    return box.toolset_url if endpoint == "toolset" else box.mcp_url


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


def _run_scenario(node_tools: NodeTools, url: str, baseline: Path, spec_version: str, scenario: str,
                  out_dir: Path) -> ScenarioRun:
    done = subprocess.run(
        [node_tools.conformance, "server", "--url", url, "--spec-version", spec_version,
         "--scenario", scenario, "--expected-failures", str(baseline), "-o", str(out_dir)],
        env=node_tools.env, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S, check=False)
    files = sorted(out_dir.glob("**/checks.json"))
    checks: list[dict[str, Any]] = json.loads(files[0].read_text()) if files else []
    return ScenarioRun(done.returncode, f"{done.stdout[-2500:]}\n{done.stderr[-1500:]}", checks)


Run = tuple[str, str, str]  # (endpoint, spec version, scenario)


@pytest.fixture(scope="session")
def scenario_runs(request: pytest.FixtureRequest, node_tools: NodeTools, box: Box,
                  tmp_path_factory: pytest.TempPathFactory) -> dict[Run, ScenarioRun]:
    """Runs every selected (endpoint, spec version, scenario) up front, a few at a time, against the box.

    A selected scenario test needs its own run; a selected tally test needs every run of its endpoint
    and version.
    """
    wanted: set[Run] = set()
    for item in request.session.items:
        if not isinstance(item, pytest.Function) or not hasattr(item, "callspec"):
            continue
        params = item.callspec.params
        if item.originalname == "test_conformance_scenario":
            wanted.add((str(params["endpoint"]), str(params["spec_version"]), str(params["scenario"])))
        elif item.originalname == "test_conformance_tally":
            endpoint, version = str(params["endpoint"]), str(params["spec_version"])
            wanted.update((endpoint, version, scenario) for scenario in applicable(endpoint, version))
    selected = sorted(wanted)
    root = tmp_path_factory.mktemp("conformance")

    def run(key: Run) -> ScenarioRun:
        endpoint, version, scenario = key
        return _run_scenario(node_tools, endpoint_url(box, endpoint), EXPECTED_FAILURES[endpoint], version,
                             scenario, root / endpoint / version / scenario)

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
    assert set(NEEDS_BARE_NAMES) <= {s for v in SPEC_VERSIONS for s in APPLICABLE[v]}


# The first test's setup runs every selected scenario on both endpoints (about 150 s on 2 cores).
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("endpoint", "spec_version", "scenario"),
                         [(e, v, s) for e in ENDPOINTS for v in SPEC_VERSIONS for s in applicable(e, v)])
def test_conformance_scenario(scenario_runs: dict[Run, ScenarioRun], box: Box, endpoint: str, spec_version: str,
                              scenario: str) -> None:
    """The scenario passes on the endpoint, apart from the documented, still-failing checks in its baseline."""
    returncode, output, checks = scenario_runs[endpoint, spec_version, scenario]
    assert checks, f"no checks.json written:\n{output}"
    assert scenario in WARNINGS_ONLY or any(c["status"] == "SUCCESS" for c in checks), _summary(checks)
    assert returncode == 0, (
        f"conformance {scenario} @ {spec_version} on {endpoint} exited {returncode}:\n{_summary(checks)}\n"
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


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("endpoint", "spec_version"), list(EXPECTED_TALLY))
def test_conformance_tally(scenario_runs: dict[Run, ScenarioRun], endpoint: str, spec_version: str) -> None:
    """The checks by status over every applicable scenario of the endpoint are the documented tally."""
    per_scenario = {scenario: Counter(c["status"] for c in scenario_runs[endpoint, spec_version, scenario].checks)
                    for scenario in applicable(endpoint, spec_version)}
    total = sum(per_scenario.values(), Counter())
    breakdown = "\n".join(f"  {scenario}: {dict(counts)}" for scenario, counts in per_scenario.items())
    assert dict(total) == EXPECTED_TALLY[endpoint, spec_version], f"{endpoint} @ {spec_version}:\n{breakdown}"


def _frames(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response sent as JSON or as an SSE stream."""
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        return [response.json()]
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    return [json.loads(chunk) for chunk in data if chunk]


def test_no_log_notification_without_a_log_level(box: Box) -> None:
    """On /mcp (where the suite cannot find ``test_logging_tool`` by bare name): a call without a logLevel
    gets its result and no ``notifications/message``, as the ``sep-2575-server-no-log-without-loglevel``
    check requires."""
    version = "2026-07-28"
    name = "conformance.test_logging_tool"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": name, "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": version, "Mcp-Method": "tools/call", "Mcp-Name": name}
    response = httpx.post(box.mcp_url, json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    frames = _frames(response)
    assert not [f for f in frames if f.get("method") == "notifications/message"], frames
    [answer] = [f for f in frames if f.get("id") == 1]
    assert answer["result"].get("isError") is not True, answer
    assert _text(answer["result"]).startswith("test_logging_tool ran"), answer
