"""One real server: ``distillery serve`` under uvicorn on a free port, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry.factories import tool_source

DISTILLERY = [str(Path(sys.executable).parent / "distillery")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, curator secret) of a ``distillery serve`` process on a temporary SQLite registry."""
    env = {**os.environ, "DISTILLERY_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
           "DISTILLERY_SANDBOX__WORKERS": "1"}
    created = subprocess.run([*DISTILLERY, "keys", "create", "--name", "e2e", "--role", "curator"], env=env,
                             capture_output=True, text=True, timeout=60, check=True)
    secret = json.loads(created.stdout)["secret"]
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([*DISTILLERY, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become healthy: " + (
                tmp_path / "server.log").read_text()
            time.sleep(0.2)
        yield base, secret
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - only on a hung shutdown
            process.kill()
            process.wait()
        log.close()
    output = (tmp_path / "server.log").read_text()
    # uvicorn re-raises SIGTERM after a graceful shutdown, so -SIGTERM is a clean exit too
    assert process.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in output, output


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
