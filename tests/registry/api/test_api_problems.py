"""Problem details: shape, limits (413, 422), unknown routes and unexpected errors (500, nothing leaked)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from registry.container import RegistryServices
from tests.registry.api.api_support import ApiFactory, Keys, auth


def _is_problem(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert str(body["type"]).startswith("urn:distillery:problem:")
    return body


def test_validation_problem_lists_each_field(client: TestClient) -> None:
    body = _is_problem(client.get("/api/v1/tools", params={"limit": 201, "namespace": "Bad NS"}), 422)
    assert body["instance"] == "/api/v1/tools"
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert locs == {("query", "limit"), ("query", "namespace")}
    assert _is_problem(client.get("/api/v1/tools", params={"limit": 0}), 422)


def test_unknown_route_and_method(client: TestClient) -> None:
    assert "/api/v1" in str(_is_problem(client.get("/api/v1/nowhere"), 404)["detail"])
    _is_problem(client.delete("/api/v1/tools"), 405)


def test_body_over_the_limit_is_413(api: ApiFactory, keys: Keys) -> None:
    small = api(server={"max_body_bytes": 2048})
    response = small.post("/api/v1/tools", content=b"x" * 4096,
                          headers={**auth(keys.curator), "content-type": "application/json"})
    body = _is_problem(response, 413)
    assert body["max_body_bytes"] == 2048


def test_chunked_body_over_the_limit_is_413(api: ApiFactory, keys: Keys) -> None:
    small = api(server={"max_body_bytes": 2048})

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"y" * 512

    response = small.post("/api/v1/tools", content=chunks(),
                          headers={**auth(keys.curator), "content-type": "application/json"})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    _is_problem(response, 413)


def test_unexpected_error_is_a_500_problem_without_internals(client: TestClient, services: RegistryServices,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    def explode(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(services.index, "search", explode)
    with caplog.at_level(logging.ERROR, logger="distillery.registry.api"):
        response = client.get("/api/v1/search", params={"q": "x"})
    body = _is_problem(response, 500)
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert body["error_id"] and str(body["error_id"]) in caplog.text and "secret internal detail" in caplog.text
