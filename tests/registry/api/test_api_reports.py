"""GET /api/v1/health-report and /api/v1/clusters: the same read rules as the other reads."""

from __future__ import annotations

from fastapi.testclient import TestClient

from registry.container import RegistryServices
from registry.models import utcnow
from tests.registry.api.api_support import ApiFactory, Keys, auth
from tests.registry.service.rows import add_version
from tests.registry.usage_factory import record_usage


def test_health_report_figures_and_namespace_limits(client: TestClient, services: RegistryServices,
                                                    keys: Keys) -> None:
    add = add_version(services.engine, "math", "add")
    other = add_version(services.engine, "text", "greet")
    record_usage(services.engine, add.id, day=utcnow(), latencies=[3.0, 3.0, 40.0, 40.0], errors=1, via_search=2)
    record_usage(services.engine, other.id, day=utcnow(), latencies=[1.0])
    body = client.get("/api/v1/health-report", params={"days": 7}).json()
    assert body["days"] == 7 and len(body["window"]) == 7 and body["totals"]["calls"] == 5
    [row] = [v for v in body["versions"] if v["name"] == "add"]
    assert (row["calls"], row["errors"], row["error_rate"], row["search_share"], row["p50_ms"], row["p95_ms"]) == (
        4, 1, 0.25, 0.5, 5.0, 40.0)
    limited = client.get("/api/v1/health-report", headers=auth(keys.math_reader)).json()
    assert [v["name"] for v in limited["versions"]] == ["add"] and limited["totals"]["calls"] == 4
    bad = client.get("/api/v1/health-report", params={"days": 0})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_reports_need_a_key_when_reads_are_closed(api: ApiFactory, keys: Keys) -> None:
    closed = api(auth={"open_reads": False})
    for path in ("/api/v1/health-report", "/api/v1/clusters"):
        assert closed.get(path).status_code == 401
        assert closed.get(path, headers=auth(keys.reader)).status_code == 200


def test_clusters_from_near_duplicates_recorded_at_publish(client: TestClient, services: RegistryServices,
                                                           keys: Keys) -> None:
    assert client.get("/api/v1/clusters").json() == []
    add = add_version(services.engine, "math", "add")
    add_version(services.engine, "math", "plus", validation_report={"near_duplicates": [
        {"version_id": add.id, "tool": "math.add", "semver": "1.0.0", "similarity": 0.93, "same_fingerprint": False,
         "verified": True, "differential": {"equivalent": False, "inputs": 2,
                                            "mismatches": [{"reason": "outputs differ"}]}}]})
    add_version(services.engine, "text", "join", validation_report={"near_duplicates": [
        {"version_id": add.id, "similarity": 0.9, "verified": False}]})
    [cluster] = client.get("/api/v1/clusters").json()
    assert [f"{m['namespace']}.{m['name']}" for m in cluster["members"]] == ["math.add", "math.plus", "text.join"]
    assert cluster["state"] == "open"
    details = sorted(link["detail"] for link in cluster["links"])
    assert details == ["embedding cosine 0.9 at publish; not checked in a sandbox",
                       "embedding cosine 0.93 at publish; differential test: outputs differ"]
    limited = client.get("/api/v1/clusters", headers=auth(keys.math_reader)).json()
    assert [[m["name"] for m in c["members"]] for c in limited] == [["add", "plus"]]
