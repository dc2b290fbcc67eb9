"""One real server: ``distillery serve`` under uvicorn on a free port, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry.factories import tool_source
from tests.support.serve import DISTILLERY, ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, curator secret) of a ``distillery serve`` process on a temporary SQLite registry."""
    env = {**os.environ, "DISTILLERY_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
           "DISTILLERY_SANDBOX__WORKERS": "1"}
    created = subprocess.run([DISTILLERY, "keys", "create", "--name", "e2e", "--role", "curator"], env=env,
                             capture_output=True, text=True, timeout=60, check=True)
    secret = json.loads(created.stdout)["secret"]
    process = ServerProcess(env, tmp_path / "server.log")
    try:
        process.wait_ready(90)
        yield process.url, secret
    finally:
        process.stop(grace_s=30)
    output = process.log()
    # uvicorn re-raises SIGTERM after a graceful shutdown; the CLI's handler turns it into exit code 128 + 15
    clean = (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    assert process.process.returncode in clean and "Application shutdown complete" in output, output


@pytest.mark.slow
def test_serve_publish_and_list_over_http(server: tuple[str, str]) -> None:
    base, secret = server
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=base, timeout=60) as client:
        health = client.get("/api/v1/health").json()
        assert health["status"] == "ok" and health["revision"] == 0
        response = client.post("/api/v1/tools", headers=headers, data={"namespace": "math", "activate": "true"},
                               files={"file": ("add.py", tool_source("add").encode()),
                                      "tests": ("t.json", b'[{"args": {"a": 2, "b": 3}, "expected": 5}]')})
        assert response.status_code == 201, response.text
        assert response.json()["version"]["status"] == "active"
        listed = client.get("/api/v1/tools").json()
        assert [(t["namespace"], t["name"], t["latest"]["semver"]) for t in listed["items"]] == [
            ("math", "add", "1.0.0")]
        assert client.post("/api/v1/tools", files={"file": ("x.py", b"")}).status_code == 401
        assert "distillery_tools" in client.get("/metrics").text
