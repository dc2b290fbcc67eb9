"""A small HTTP reverse proxy for tests: what nginx does in ``docker-compose.yml``, without containers.

``ReverseProxy(backends).start()`` serves on a free loopback port (uvicorn in a thread of the test
process). Each request is read whole, then sent to the backends in round-robin order; a backend that
refuses, resets or drops the connection before answering, or answers 502/503/504, is marked down for
``fail_timeout_s`` and the request goes to the next one (nginx's ``proxy_next_upstream error timeout
http_502 http_503 http_504 non_idempotent``). Response bodies are streamed chunk by chunk, so
Server-Sent Events (MCP's ``subscriptions/listen``) pass through unbuffered, and a stream ends when
its client goes away. ``served`` and ``failed`` count answers and failed attempts per backend.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import anyio
import httpx
import uvicorn

from tests.support.serve import free_port

__all__ = ["ReverseProxy"]

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length",
})
RETRY_STATUSES = frozenset({502, 503, 504})
Scope = dict[str, Any]


class ReverseProxy:
    """Round robin over ``backends`` (base URLs) with failover; ``start()``, ``url``, ``stop()``."""

    def __init__(self, backends: Sequence[str], *, fail_timeout_s: float = 10.0,
                 connect_timeout_s: float = 3.0) -> None:
        self.backends = [backend.rstrip("/") for backend in backends]
        self.fail_timeout_s = fail_timeout_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.served: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._down_until: dict[str, float] = {}
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._timeout = httpx.Timeout(connect=connect_timeout_s, read=None, write=30.0, pool=30.0)
        self._client: httpx.AsyncClient | None = None
        self._server = uvicorn.Server(uvicorn.Config(
            self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
            timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, name="test-reverse-proxy", daemon=True)

    def start(self, timeout_s: float = 30.0) -> ReverseProxy:
        """Serve in a background thread; returns once the port accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"the test reverse proxy did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def order(self) -> list[str]:
        """The backends to try for the next request: the next in turn first, those marked down last."""
        with self._lock:
            start = next(self._turn) % len(self.backends)
            now = time.monotonic()
            rotated = self.backends[start:] + self.backends[:start]
            return sorted(rotated, key=lambda backend: self._down_until.get(backend, 0.0) > now)

    def _mark_failed(self, backend: str) -> None:
        with self._lock:
            self.failed[backend] += 1
            self._down_until[backend] = time.monotonic() + self.fail_timeout_s

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._proxy(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _proxy(self, scope: Scope, receive: Any, send: Any) -> None:
        assert self._client is not None
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in HOP_BY_HOP]
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        for backend in self.order():
            request = self._client.build_request(scope["method"], backend + target, headers=headers,
                                                 content=bytes(body))
            try:
                response = await self._client.send(request, stream=True)
            except httpx.TransportError:
                self._mark_failed(backend)
                continue
            if response.status_code in RETRY_STATUSES:
                await response.aclose()
                self._mark_failed(backend)
                continue
            with self._lock:
                self.served[backend] += 1
            await self._relay(response, receive, send)
            return
        await send({"type": "http.response.start", "status": 502,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"no backend answered"})

    async def _relay(self, response: httpx.Response, receive: Any, send: Any) -> None:
        """Stream ``response`` to the client until it ends or the client disconnects."""
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.multi_items()
                   if k.lower() not in HOP_BY_HOP]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async with anyio.create_task_group() as group:
            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.TransportError:
                pass  # the backend died mid-answer: end the response; the client sees it cut short
            finally:
                await response.aclose()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()
