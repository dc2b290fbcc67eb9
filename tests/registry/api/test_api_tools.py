"""Read routes: listing with filters and cursor pagination, details, versions, diff, search, usage."""

from __future__ import annotations

from fastapi.testclient import TestClient

from registry.container import RegistryServices
from tests.registry.api.api_support import Keys, Publish


def _publish_many(publish: Publish, count: int) -> None:
    for i in range(count):
        publish(f"tool_{i:02d}", namespace="math" if i % 2 else "text", body=f"return a + b + {i}",
                tests=[({"a": 1, "b": 2}, 3 + i)], doc=f"Add two integers and {i}.")


def test_cursor_pagination_visits_every_tool_once(client: TestClient, publish: Publish) -> None:
    _publish_many(publish, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/tools", params=params).json()
        seen += [f"{t['namespace']}.{t['name']}" for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7
    assert seen == sorted(seen)


def test_list_filters(client: TestClient, publish: Publish, keys: Keys) -> None:
    _publish_many(publish, 4)
    publish("draft_tool", activate=False, body="return a * b", tests=[({"a": 2, "b": 3}, 6)])
    math = client.get("/api/v1/tools", params={"namespace": "math"}).json()["items"]
    assert {t["name"] for t in math} == {"tool_01", "tool_03"}
    drafts = client.get("/api/v1/tools", params={"status": "draft"}).json()["items"]
    assert [t["name"] for t in drafts] == ["draft_tool"]
    assert client.get("/api/v1/tools", params={"tag": "nothing"}).json()["items"] == []
    assert client.get("/api/v1/tools", params={"cursor": "garbage!"}).status_code == 422


def test_tool_version_and_ref_routes(client: TestClient, publish: Publish) -> None:
    publish("add")
    publish("add", body="return b + a")
    detail = client.get("/api/v1/tools/default/add").json()
    assert [v["semver"] for v in detail["versions"]] == ["1.0.1", "1.0.0"] or \
        [v["semver"] for v in detail["versions"]] == ["1.0.0", "1.0.1"]
    versions = client.get("/api/v1/tools/default/add/versions").json()
    assert {v["semver"] for v in versions} == {"1.0.0", "1.0.1"}
    by_id = client.get(f"/api/v1/tools/default/add/versions/{versions[0]['id']}").json()
    assert by_id["id"] == versions[0]["id"] and by_id["input_schema"]["required"] == ["a", "b"]
    assert client.get("/api/v1/tools/default/add/versions/latest").json()["semver"] == "1.0.1"
    missing = client.get("/api/v1/tools/default/nope")
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"
    assert client.get("/api/v1/tools/default/add/versions/2.0.0").status_code == 404


def test_diff(client: TestClient, publish: Publish) -> None:
    publish("add")
    publish("add", params="a: int, b: int, c: int = 0", body="return a + b + c")
    diff = client.get("/api/v1/tools/default/add/diff", params={"base": "1.0.0", "head": "latest"}).json()
    assert diff["classification"] == "minor" and diff["head"]["semver"] == "1.1.0"
    assert "+ c" in diff["source_diff"] and diff["schema_changes"]
    assert client.get("/api/v1/tools/default/add/diff", params={"base": "1.0.0"}).status_code == 422


def test_search(client: TestClient, publish: Publish, keys: Keys) -> None:
    publish("add")
    publish("concat", params="a: str, b: str", returns="str", doc="Join two strings together.",
            tests=[({"a": "x", "b": "y"}, "xy")])
    result = client.get("/api/v1/search", params={"q": "join strings", "k": 1}).json()
    assert result["query"] == "join strings" and [h["name"] for h in result["items"]] == ["concat"]
    assert client.get("/api/v1/search", params={"q": "add", "namespace": "other"}).json()["items"] == []
    assert client.get("/api/v1/search", params={"q": "add", "k": 101}).status_code == 422
    assert client.get("/api/v1/search", params={"q": ""}).status_code == 422


def test_usage(client: TestClient, publish: Publish, services: RegistryServices) -> None:
    outcome = publish("add")
    services.usage.record(outcome["version"]["id"], ok=True, latency_ms=4.0)
    services.usage.record(outcome["version"]["id"], ok=False, latency_ms=8.0)
    services.usage.flush()
    usage = client.get("/api/v1/tools/default/add/usage").json()
    assert [(u["semver"], u["calls"], u["errors"]) for u in usage] == [("1.0.0", 2, 1)]
    assert usage[0]["max_latency_ms"] == 8.0
