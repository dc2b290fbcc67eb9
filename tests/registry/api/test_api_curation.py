"""Lifecycle actions, aliases and pins over REST, each checked against the audit log."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from registry.container import RegistryServices
from registry.models import AuditEntry
from tests.registry.api.api_support import Keys, Publish, auth

BASE = "/api/v1/tools/default/add"


def _audit(services: RegistryServices) -> list[AuditEntry]:
    with Session(services.engine) as session:
        return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all())


def test_lifecycle_round_trip_is_audited(client: TestClient, keys: Keys, publish: Publish,
                                         services: RegistryServices) -> None:
    publish("add", activate=False)
    publish("add", body="return b + a", activate=False)
    headers = auth(keys.curator)
    steps = [
        ("approve", None, "active"),
        ("deprecate", {"reason": "slow", "replacement": "default.add@1.0.1"}, "deprecated"),
        ("yank", {"reason": "broken"}, "yanked"),
        ("restore", {}, "active"),
    ]
    for action, body, status in steps:
        response = client.post(f"{BASE}/versions/1.0.0/{action}", json=body, headers=headers)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["semver"]) == (status, "1.0.0")
    actions = [e.action for e in _audit(services) if not e.action.startswith(("publish", "key."))]
    assert len(actions) == 4 and all(verb in action for verb, action in zip(
        ("approve", "deprecate", "yank", "restore"), actions, strict=True))
    entries = [e for e in _audit(services) if e.action in actions]
    assert all(e.actor.startswith("curator#") and "default.add" in e.target for e in entries)
    assert any("slow" in str(e.detail) for e in entries)


def test_invalid_transition_is_a_409_problem(client: TestClient, keys: Keys, publish: Publish) -> None:
    publish("add", activate=False)
    response = client.post(f"{BASE}/versions/1.0.0/restore", headers=auth(keys.curator))
    assert response.status_code == 409
    problem = response.json()
    assert problem["title"] == "Conflict" and problem["type"].endswith(":conflict") and problem["detail"]
    assert client.post(f"{BASE}/versions/9.9.9/approve", headers=auth(keys.curator)).status_code == 404


def test_bad_bodies_are_422(client: TestClient, keys: Keys, publish: Publish) -> None:
    publish("add")
    headers = auth(keys.curator)
    assert client.post(f"{BASE}/versions/1.0.0/deprecate", json={"replacement": "not a ref"},
                       headers=headers).status_code == 422
    assert client.post(f"{BASE}/versions/1.0.0/yank", json={"reason": "x" * 1001}, headers=headers).status_code == 422
    assert client.post(f"{BASE}/versions/1.0.0/yank", json={"unknown": 1}, headers=headers).status_code == 422


def test_aliases(client: TestClient, keys: Keys, publish: Publish, services: RegistryServices) -> None:
    publish("add")
    publish("add", body="return b + a")
    headers = auth(keys.curator)
    response = client.put(f"{BASE}/aliases/stable", json={"ref": "1.0.0"}, headers=headers)
    assert response.status_code == 200 and response.json()["semver"] == "1.0.0"
    assert client.get(f"{BASE}/versions/stable").json()["semver"] == "1.0.0"
    assert client.get(BASE).json()["aliases"] == {"stable": "1.0.0"}
    assert client.put(f"{BASE}/aliases/stable", json={"ref": "7.0.0"}, headers=headers).status_code == 404
    assert client.put(f"{BASE}/aliases/Bad!", json={"ref": "1.0.0"}, headers=headers).status_code == 422
    assert client.delete(f"{BASE}/aliases/stable", headers=headers).status_code == 204
    assert client.get(f"{BASE}/versions/stable").status_code == 404
    assert [e.action for e in _audit(services) if e.action.startswith("alias")] == ["alias.set", "alias.delete"]


def test_pins(client: TestClient, keys: Keys, publish: Publish, services: RegistryServices) -> None:
    publish("add")
    publish("add", body="return b + a")
    headers = auth(keys.curator)
    response = client.put("/api/v1/pins/team-a/default/add", json={"ref": "1.0.0"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "team-a" and response.json()["version"]["semver"] == "1.0.0"
    assert client.get(BASE).json()["pins"] == {"team-a": "1.0.0"}
    assert client.put("/api/v1/pins/team-a/default/add", json={"ref": "1.0.0"}).status_code == 401
    assert client.delete("/api/v1/pins/team-a/default/add", headers=headers).status_code == 204
    assert client.get(BASE).json()["pins"] == {}
    assert sum("pin" in e.action for e in _audit(services)) == 2
