"""Health and Prometheus metrics."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from registry.api import create_api
from registry.container import RegistryServices, build_services
from registry.db import make_engine
from tests.registry.api.api_support import ApiFactory, Keys, Publish, auth
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox
from toolbox.settings import Settings

SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$')


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def test_health(client: TestClient, services: RegistryServices) -> None:
    for path in ("/api/v1/health", "/health"):
        body = client.get(path).json()
        assert body["status"] == "ok" and body["database"]["reachable"] is True
        assert body["revision"] == 0 and body["sandbox"]["isolation"] == services.sandbox.isolation


def test_health_is_503_when_the_database_is_gone(api_sandbox: Sandbox) -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/nothing")  # nothing listens on port 1
    services = build_services(Settings(), engine=engine, sandbox=api_sandbox, embedder=HashingEmbedder())
    try:
        client = TestClient(create_api(services, Settings()))
        response = client.get("/api/v1/health")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable" and response.json()["database"]["reachable"] is False
        problem = client.get("/api/v1/tools")
        assert problem.status_code == 503 and problem.headers["content-type"] == "application/problem+json"
        assert "127.0.0.1" not in problem.text
    finally:
        services.close()
        engine.dispose()


def test_metrics(client: TestClient, publish: Publish, keys: Keys, services: RegistryServices) -> None:
    outcome = publish("add")
    publish("draft_only", activate=False, body="return a - b", tests=[({"a": 3, "b": 1}, 2)])
    services.usage.record(outcome["version"]["id"], ok=True, latency_ms=3.0)
    services.usage.flush()
    client.get("/api/v1/tools/default/add")
    client.get("/api/v1/tools/default/missing")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    assert samples['distillery_tools{status="active"}'] == 1 and samples['distillery_tools{status="draft"}'] == 1
    assert samples['distillery_versions{status="active"}'] == 1
    assert samples["distillery_registry_revision"] >= 2
    assert any(name.startswith("distillery_usage_") and value >= 1 for name, value in samples.items())
    route = 'route="/api/v1/tools/{namespace}/{name}"'
    assert samples[f'distillery_http_requests_total{{method="GET",{route},status="200"}}'] == 1
    assert samples[f'distillery_http_requests_total{{method="GET",{route},status="404"}}'] == 1
    assert samples['distillery_http_requests_total{method="POST",route="/api/v1/tools",status="201"}'] == 2


def test_metrics_follow_the_read_policy(api: ApiFactory, keys: Keys) -> None:
    closed = api(auth={"open_reads": False})
    assert closed.get("/api/v1/metrics").status_code == 401
    assert closed.get("/api/v1/metrics", headers=auth(keys.reader)).status_code == 200


def test_openapi_documents_both_publish_bodies(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/api/v1/tools"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    assert "ToolSpec" in schema["components"]["schemas"] and "Problem" in schema["components"]["schemas"]
    assert "ApiKey" in schema["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200
