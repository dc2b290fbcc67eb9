"""/ui/health: figures and charts, empty states, and one-click suggestions with the key's role, CSRF and audit."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from registry.container import RegistryServices
from registry.models import utcnow
from registry.service.queries import get_tool, get_version
from tests.registry.api.api_support import Keys
from tests.registry.console.console_support import csrf_of, login
from tests.registry.service.rows import add_version, audit_entries
from tests.registry.usage_factory import record_usage

ROLL_BACK = {"kind": "roll_back", "namespace": "math", "name": "add", "ref": "1.1.0", "replacement": "math.add@1.0.0",
             "days": "30", "reason": "errors after 1.1.0"}


def _box(services: RegistryServices) -> None:
    """math.add 1.0.0 (healthy) and 1.1.0 (fails half its calls), text.greet (a few calls)."""
    engine = services.engine
    old, new = add_version(engine, "math", "add", semver="1.0.0"), add_version(engine, "math", "add", semver="1.1.0")
    greet = add_version(engine, "text", "greet")
    record_usage(engine, old.id, day=utcnow(), latencies=[3.0] * 10, via_search=5)
    record_usage(engine, new.id, day=utcnow(), latencies=[40.0] * 10, errors=5)
    record_usage(engine, greet.id, day=utcnow(), latencies=[1.0, 1.0])


def _forms(page: str) -> list[str]:
    return re.findall(r'<form method="post" action="/ui/health/apply".*?</form>', page, flags=re.S)


def test_the_page_shows_figures_charts_and_findings(client: TestClient, services: RegistryServices) -> None:
    _box(services)
    page = client.get("/ui/health").text
    totals = re.search(r'<dl class="figures" id="health-totals">(.*?)</dl>', page, flags=re.S)
    assert totals is not None
    assert re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", totals.group(1))).split() == [
        "Calls", "22", "Error", "rate", "22.7%", "p50", "latency", "4.7", "ms", "p95", "latency", "40.0", "ms",
        "Reached", "via", "search_tools", "22.7%", "Versions", "called", "3", "of", "3"]
    assert page.count('<svg class="chart"') == 3 and page.count('<svg class="spark"') == 3
    assert "error rate rose from 0.0% on 1.0.0 (10 calls) to 50.0% on 1.1.0 (10 calls)" in page
    assert "math.add@1.0.0 was called 10 times in the last 30 days although math.add@1.1.0 is active" in page
    assert _forms(page) == [] and "with a curator key to apply it with one click" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    week = client.get("/ui/health", params={"days": 7}).text
    assert "last 7 days" in week and client.get("/ui/health", params={"days": 0}).status_code == 422


def test_empty_states_say_what_to_do(client: TestClient, services: RegistryServices) -> None:
    assert "No tools yet, so nothing to report" in client.get("/ui/health").text
    add_version(services.engine, "math", "add")
    page = client.get("/ui/health").text
    assert "No calls recorded in the last 30 days" in page and "distillery serve" in page
    assert "Nothing to act on" in page and '<svg class="chart"' not in page


def test_a_curator_rolls_back_with_one_click_and_each_step_is_audited(client: TestClient, services: RegistryServices,
                                                                     keys: Keys) -> None:
    _box(services)
    login(client, keys.curator)
    page = client.get("/ui/health").text
    [roll_back, superseded] = _forms(page)
    assert 'value="roll_back"' in roll_back and "Roll back to 1.0.0</button>" in roll_back
    assert 'value="deprecate_superseded"' in superseded
    response = client.post("/ui/health/apply", data={**ROLL_BACK, "csrf": csrf_of(client, "/ui/health")})
    assert response.status_code == 200 and "Suggestion applied" in response.text
    assert get_version(services.engine, "math", "add", "1.1.0").status.value == "deprecated"
    served = get_tool(services.engine, "math", "add").latest
    assert served is not None and served.semver == "1.0.0"
    [entry] = audit_entries(services.engine, ["deprecate"])
    assert entry.actor.startswith("curator#") and entry.detail["reason"] == "errors after 1.1.0"
    assert entry.detail["replacement"] == "math.add@1.0.0"
    assert "error rate rose" not in response.text  # the finding is resolved


def test_a_read_only_or_other_namespace_key_is_refused(client: TestClient, services: RegistryServices,
                                                       keys: Keys) -> None:
    _box(services)
    login(client, keys.reader)
    assert _forms(client.get("/ui/health").text) == []
    refused = client.post("/ui/health/apply", data={**ROLL_BACK, "csrf": csrf_of(client, "/ui/health")})
    assert refused.status_code == 403 and "has role reader" in refused.text and "Traceback" not in refused.text
    login(client, keys.math_curator)
    other = {**ROLL_BACK, "namespace": "text", "name": "greet", "ref": "1.0.0", "kind": "deprecate_unused",
             "replacement": "", "csrf": csrf_of(client, "/ui/health")}
    assert client.post("/ui/health/apply", data=other).status_code == 403
    assert get_version(services.engine, "math", "add", "1.1.0").status.value == "active"
    assert get_version(services.engine, "text", "greet", "1.0.0").status.value == "active"
    assert audit_entries(services.engine, ["deprecate", "restore", "alias.set"]) == []


def test_csrf_origin_and_bad_forms_are_refused(client: TestClient, services: RegistryServices, keys: Keys) -> None:
    _box(services)
    assert client.post("/ui/health/apply", data=ROLL_BACK).status_code == 401
    login(client, keys.curator)
    token = csrf_of(client, "/ui/health")
    assert client.post("/ui/health/apply", data=ROLL_BACK).status_code == 403
    assert client.post("/ui/health/apply", data={**ROLL_BACK, "csrf": "0" * 64}).status_code == 403
    foreign = client.post("/ui/health/apply", data={**ROLL_BACK, "csrf": token},
                          headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "another site" in foreign.text
    bad_kind = client.post("/ui/health/apply", data={**ROLL_BACK, "csrf": token, "kind": "yank_everything"})
    assert bad_kind.status_code == 422 and "the kinds are deprecate_unused" in bad_kind.text
    bad_ref = client.post("/ui/health/apply", data={**ROLL_BACK, "csrf": token, "replacement": "not a target"})
    assert bad_ref.status_code == 422 and "replacement&#39; is not valid here" in bad_ref.text
    assert get_version(services.engine, "math", "add", "1.1.0").status.value == "active"
    assert audit_entries(services.engine, ["deprecate", "restore", "alias.set"]) == []
