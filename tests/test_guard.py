"""The suite guard in tests/conftest.py: no provider keys, no traffic off this machine, loopback allowed.

openai 3.x lets non-transport exceptions through unwrapped, so the guard's RealNetworkCallError may
arrive as itself or (older SDKs) as the cause of an APIConnectionError; both are accepted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest

from toolbox.llm import ChatMessage
from toolbox.llm.openai_chat import OpenAIChatModel

REPO = Path(__file__).resolve().parents[1]
GUARDED_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "DISTILLERY_LLM__API_KEY")

PROBE = """
import os

def test_probe():
    leaked = [name for name in {names!r} if name in os.environ]
    assert leaked == [], leaked
"""


def _cause_chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def _blocked_by_guard(error: BaseException) -> BaseException | None:
    return next((e for e in _cause_chain(error) if type(e).__name__ == "RealNetworkCallError"), None)


@pytest.fixture
def socket_spy(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record (and refuse) any DNS lookup or socket connect to a non-loopback address."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in {"127.0.0.1", "::1", "localhost"}:
            attempts.append(("connect", address))
            raise OSError("socket_spy: refused")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in {"127.0.0.1", "::1", "localhost"}:
            attempts.append(("getaddrinfo", host))
            raise OSError("socket_spy: refused")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_provider_keys_are_removed_even_when_set_before_the_session(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE.format(names=GUARDED_ENV))
    env = {**os.environ, **dict.fromkeys(GUARDED_ENV, "sk-live-should-not-leak"), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "-c",
            str(tmp_path / "pytest.ini"),
            str(probe),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_no_provider_keys_in_this_process() -> None:
    assert [name for name in GUARDED_ENV if name in os.environ] == []


@pytest.mark.anyio
async def test_a_real_openai_call_is_stopped_before_it_leaves(socket_spy: list[Any]) -> None:
    async with openai.AsyncOpenAI(api_key="x", max_retries=0) as client:
        with pytest.raises((openai.APIConnectionError, AssertionError)) as info:
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    blocked = _blocked_by_guard(info.value)
    assert blocked is not None, f"not stopped by the guard: {info.value!r}"
    assert isinstance(blocked, AssertionError)
    assert "https://api.openai.com" in str(blocked)
    assert socket_spy == []  # no DNS lookup, no connect: nothing left the machine


def test_sync_clients_of_both_httpx_generations_are_guarded(socket_spy: list[Any]) -> None:
    with pytest.raises(AssertionError, match=r"test tried to reach https://example\.com"):
        httpx.get("https://example.com/")
    with pytest.raises(AssertionError, match=r"test tried to reach https://example\.com"):
        httpx2.get("https://example.com/")
    client = openai.OpenAI(api_key="x", max_retries=0)
    with pytest.raises((openai.APIConnectionError, AssertionError)) as info:
        client.models.list()
    client.close()
    assert _blocked_by_guard(info.value) is not None
    assert socket_spy == []


class _FakeChatServer(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.bodies.append(body)
        reply = json.dumps(
            {
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "local"}}
                ],
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeChatServer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.anyio
async def test_loopback_servers_are_reachable(local_server: str) -> None:
    _FakeChatServer.bodies = []
    async with openai.AsyncOpenAI(api_key="x", base_url=f"{local_server}/v1", max_retries=0) as client:
        response = await OpenAIChatModel(client, "local-model").chat([ChatMessage.user("ping")])
    assert response.content == "local"
    assert _FakeChatServer.bodies[0]["model"] == "local-model"
    with httpx.Client() as plain:
        assert plain.post(f"{local_server}/x", json={"model": "m"}).status_code == 200
