"""POST /api/v1/tools: JSON specs and .py uploads, every outcome's status code and body."""

from __future__ import annotations

import json
from typing import Any

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.container import RegistryServices
from registry.models import AuditEntry, ToolVersion, VersionStatus
from tests.registry.api.api_support import Keys, Publish, auth
from tests.registry.factories import make_spec, raw_spec, tool_source
from toolbox.spec import MAX_SOURCE_BYTES

TESTS = [{"args": {"a": 1, "b": 2}, "expected": 3}, {"args": {"a": -4, "b": 10}, "expected": 6}]


def _upload(client: TestClient, key: str, source: str, *, files: dict[str, Any] | None = None,
            **fields: str) -> httpx2.Response:
    parts = {"file": ("add.py", source.encode(), "text/x-python"), **(files or {})}
    return client.post("/api/v1/tools", files=parts, data=fields, headers=auth(key))


def test_json_publish_creates_a_tool_then_a_version(client: TestClient, keys: Keys, services: RegistryServices) -> None:
    spec = make_spec("add", namespace="math")
    response = client.post("/api/v1/tools", json=spec.model_dump(mode="json"), params={"activate": "true"},
                           headers=auth(keys.curator))
    assert response.status_code == 201, response.text
    outcome = response.json()
    assert outcome["kind"] == "new_tool" and outcome["semver"] == "1.0.0"
    assert outcome["version"]["status"] == "active" and outcome["test_report"]["passed"] == 2
    assert response.headers["location"] == "/api/v1/tools/math/add/versions/1.0.0"
    assert client.get(response.headers["location"]).json()["source"] == spec.source

    patched = make_spec("add", namespace="math", body="return b + a")
    second = client.post("/api/v1/tools", json=patched.model_dump(mode="json"), headers=auth(keys.curator))
    assert second.status_code == 201
    assert (second.json()["kind"], second.json()["semver"], second.json()["version"]["status"]) == (
        "new_version", "1.0.1", "draft")
    with Session(services.engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == "publish")).all()
    assert len(entries) == 2 and all(e.actor.startswith("curator#") for e in entries)
    assert {e.target for e in entries} == {"math.add@1.0.0", "math.add@1.0.1"}


def test_duplicate_answers_200_with_the_existing_version(client: TestClient, publish: Publish, keys: Keys) -> None:
    first = publish("add")
    renamed = make_spec("add", body="# same code, other comment\nreturn a + b", doc="Sum of two integers.")
    response = client.post("/api/v1/tools", json=renamed.model_dump(mode="json"), headers=auth(keys.curator))
    assert response.status_code == 200, response.text
    assert response.json()["kind"] == "duplicate_of"
    assert response.json()["version"]["id"] == first["version"]["id"]


def test_failing_tests_are_a_422_problem_with_the_test_report(client: TestClient, keys: Keys,
                                                             services: RegistryServices) -> None:
    spec = make_spec("add", body="return a - b")
    response = client.post("/api/v1/tools", json=spec.model_dump(mode="json"), headers=auth(keys.curator))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Publish rejected" and problem["kind"] == "rejected"
    assert problem["test_report"]["failed"] == 2 and "test 0 failed" in problem["detail"]
    with Session(services.engine) as session:
        assert session.exec(select(ToolVersion)).all() == []


def test_static_findings_are_in_the_problem(client: TestClient, keys: Keys) -> None:
    spec = raw_spec(tool_source("add", body="import os\nreturn a + b"))
    response = client.post("/api/v1/tools", json=spec.model_dump(mode="json"), headers=auth(keys.curator))
    assert response.status_code == 422
    problem = response.json()
    assert problem["kind"] == "rejected" and problem["findings"]
    assert any("os" in finding["message"] for finding in problem["findings"])


def test_invalid_spec_lists_each_field_error(client: TestClient, keys: Keys) -> None:
    body = {"namespace": "Bad NS", "name": "add", "source": "x" * (MAX_SOURCE_BYTES + 1), "entrypoint": "add",
            "tests": [{"args": {}, "expected": 1}] * 51}
    response = client.post("/api/v1/tools", json=body, headers=auth(keys.curator))
    assert response.status_code == 422
    problem = response.json()
    locs = {tuple(error["loc"]) for error in problem["errors"]}
    assert {("body", "namespace"), ("body", "source"), ("body", "tests")} <= locs
    assert any("64 KiB" in error["msg"] for error in problem["errors"])


def test_upload_with_tests_file_and_fields(client: TestClient, keys: Keys) -> None:
    response = _upload(client, keys.math_curator, tool_source("add"), namespace="math", name="plus",
                       activate="true", files={"tests": ("tests.json", json.dumps(TESTS).encode(), "application/json")})
    assert response.status_code == 201, response.text
    outcome = response.json()
    assert (outcome["kind"], outcome["version"]["name"], outcome["version"]["status"]) == ("new_tool", "plus", "active")
    version = client.get("/api/v1/tools/math/plus/versions/latest").json()
    assert version["tests"][0]["args"] == {"a": 1, "b": 2} and version["entrypoint"] == "add"


def test_upload_with_tests_as_a_plain_field_and_no_tests(client: TestClient, keys: Keys) -> None:
    response = _upload(client, keys.curator, tool_source("mul", body="return a * b"), tests=json.dumps(
        [{"args": {"a": 2, "b": 3}, "expected": 6}]))
    assert response.status_code == 201 and response.json()["test_report"]["passed"] == 1
    untested = _upload(client, keys.curator, tool_source("sub", body="return a - b"), activate="true")
    assert untested.status_code == 201
    assert untested.json()["version"]["flagged"] is True
    assert untested.json()["version"]["status"] == VersionStatus.draft


def test_upload_that_fails_analysis_is_rejected_with_findings(client: TestClient, keys: Keys) -> None:
    response = _upload(client, keys.curator, "def add(a, b):\n    return eval('a + b')\n")
    assert response.status_code == 422
    problem = response.json()
    assert problem["kind"] == "rejected" and problem["findings"] and problem["reasons"]


def test_upload_limits_and_bad_parts(client: TestClient, keys: Keys) -> None:
    big = tool_source("add") + "#" * MAX_SOURCE_BYTES
    assert "larger than" in _upload(client, keys.curator, big).json()["detail"]
    too_many = json.dumps([{"args": {"a": 1, "b": 1}, "expected": 2}] * 51)
    response = _upload(client, keys.curator, tool_source("add"), tests=too_many)
    assert response.status_code == 422 and "limit is 50" in response.json()["detail"]
    assert _upload(client, keys.curator, tool_source("add"), tests="{not json").status_code == 422
    assert _upload(client, keys.curator, tool_source("add"), activate="maybe").status_code == 422
    latin = client.post("/api/v1/tools", files={"file": ("a.py", "é = 1".encode("latin-1"))},
                        headers=auth(keys.curator))
    assert latin.status_code == 422 and "UTF-8" in latin.json()["detail"]
    missing = client.post("/api/v1/tools", data={"namespace": "math"}, files={"other": ("x", b"y")},
                          headers=auth(keys.curator))
    assert missing.status_code == 422 and "'file'" in missing.json()["detail"]


def test_unsupported_media_type_and_bad_json(client: TestClient, keys: Keys) -> None:
    response = client.post("/api/v1/tools", content=b"def f(): pass", headers={**auth(keys.curator),
                                                                               "content-type": "text/plain"})
    assert response.status_code == 415 and response.json()["status"] == 415
    broken = client.post("/api/v1/tools", content=b"{", headers={**auth(keys.curator),
                                                                 "content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["errors"][0]["type"] == "json_invalid"


def test_publish_outside_the_keys_namespace_is_forbidden(client: TestClient, keys: Keys, sqlite_engine: Engine) -> None:
    spec = make_spec("add", namespace="text")
    response = client.post("/api/v1/tools", json=spec.model_dump(mode="json"), headers=auth(keys.math_curator))
    assert response.status_code == 403 and "math" in response.json()["detail"]
    upload = _upload(client, keys.math_curator, tool_source("add"), namespace="text")
    assert upload.status_code == 403
    with Session(sqlite_engine) as session:
        assert session.exec(select(ToolVersion)).all() == []
