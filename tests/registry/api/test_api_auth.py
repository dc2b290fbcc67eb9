"""Bearer keys on the REST API: anonymous reads, wrong keys, roles, namespaces, admin-only key management."""

from __future__ import annotations

import httpx2
import pytest
from fastapi.testclient import TestClient

from registry.container import RegistryServices
from registry.models import Role
from registry.service.keys import create_key, revoke_key
from tests.registry.api.api_support import ApiFactory, Keys, Publish, auth


def _assert_401(response: httpx2.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


def test_anonymous_reads_are_open_on_a_loopback_bind(client: TestClient, publish: Publish) -> None:
    publish("add")
    assert client.get("/api/v1/tools").json()["items"][0]["name"] == "add"


@pytest.mark.parametrize("overrides", [{"server": {"host": "0.0.0.0"}}, {"auth": {"open_reads": False}}])
def test_closed_reads_need_a_key(api: ApiFactory, keys: Keys, overrides: dict[str, object]) -> None:
    closed = api(**overrides)
    _assert_401(closed.get("/api/v1/tools"))
    _assert_401(closed.get("/api/v1/search", params={"q": "add"}))
    assert closed.get("/api/v1/tools", headers=auth(keys.reader)).status_code == 200
    assert closed.get("/api/v1/health").status_code == 200  # probes never need a key


def test_open_reads_setting_wins_over_the_bind(api: ApiFactory) -> None:
    assert api(server={"host": "0.0.0.0"}, auth={"open_reads": True}).get("/api/v1/tools").status_code == 200


@pytest.mark.parametrize("header", ["Bearer dst_wrong", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer "])
def test_a_wrong_key_is_refused_even_for_open_reads(client: TestClient, header: str) -> None:
    response = client.get("/api/v1/tools", headers={"Authorization": header})
    _assert_401(response)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_revoked_key_is_refused(client: TestClient, services: RegistryServices) -> None:
    key, secret = create_key(services.engine, name="gone", role=Role.curator)
    assert client.get("/api/v1/tools", headers=auth(secret)).status_code == 200
    revoke_key(services.engine, key.id)
    _assert_401(client.get("/api/v1/tools", headers=auth(secret)))


def test_writes_need_a_curator_key(client: TestClient, keys: Keys, publish: Publish) -> None:
    publish("add", activate=False)
    path = "/api/v1/tools/default/add/versions/1.0.0/approve"
    response = client.post(path)
    _assert_401(response)
    assert "curator" in response.json()["detail"]
    forbidden = client.post(path, headers=auth(keys.reader))
    assert forbidden.status_code == 403 and "reader" in forbidden.json()["detail"]
    assert client.post(path, headers=auth(keys.admin)).status_code == 200


def test_namespace_limits_reads_and_writes(client: TestClient, keys: Keys, publish: Publish) -> None:
    publish("add", namespace="math")
    publish("concat", namespace="text", params="a: str, b: str", returns="str", doc="Join two strings.",
            tests=[({"a": "x", "b": "y"}, "xy")])
    names = {t["namespace"] for t in client.get("/api/v1/tools", headers=auth(keys.math_reader)).json()["items"]}
    assert names == {"math"}
    assert client.get("/api/v1/tools/text/concat", headers=auth(keys.math_reader)).status_code == 404
    assert client.get("/api/v1/tools/text/concat", headers=auth(keys.reader)).status_code == 200
    assert client.get("/api/v1/tools/text/concat/versions", headers=auth(keys.math_reader)).status_code == 404
    hits = client.get("/api/v1/search", params={"q": "join strings", "namespace": "text"},
                      headers=auth(keys.math_reader)).json()["items"]
    assert hits == []
    denied = client.post("/api/v1/tools/text/concat/versions/1.0.0/yank", headers=auth(keys.math_curator))
    assert denied.status_code == 403 and "'text'" in denied.json()["detail"]
    assert client.post("/api/v1/tools/math/add/versions/1.0.0/yank", headers=auth(keys.math_curator)).status_code == 200


def test_key_management_is_admin_only(client: TestClient, keys: Keys) -> None:
    assert client.get("/api/v1/keys", headers=auth(keys.curator)).status_code == 403
    _assert_401(client.post("/api/v1/keys", json={"name": "x"}))
    created = client.post("/api/v1/keys", json={"name": "bot", "role": "curator", "namespaces": ["math"]},
                          headers=auth(keys.admin))
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("dst_") and body["namespaces"] == ["math"]
    listed = client.get("/api/v1/keys", headers=auth(keys.admin)).json()
    assert "bot" in {k["name"] for k in listed} and all("secret" not in k for k in listed)
    assert client.get("/api/v1/tools", headers=auth(body["secret"])).status_code == 200
    revoked = client.delete(f"/api/v1/keys/{body['id']}", headers=auth(keys.admin))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    _assert_401(client.get("/api/v1/tools", headers=auth(body["secret"])))
    assert client.delete(f"/api/v1/keys/{body['id']}", headers=auth(keys.admin)).status_code == 409
