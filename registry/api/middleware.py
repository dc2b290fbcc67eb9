"""The REST API's ASGI middleware: body-size limit, request metrics, and a last-resort 500 problem.

It only acts on the API's paths (``/api/v1/...`` and the ``/health`` and ``/metrics`` aliases), so
the MCP endpoints that share the app pass through untouched. The body is read (up to the limit)
before the route runs, which makes the 413 exact for chunked bodies too; the route then reads the
buffered copy.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.api.problems import send_problem
from toolbox.logging import get_logger

__all__ = ["ApiMiddleware", "RequestMetrics"]

logger = get_logger("registry.api")


class RequestMetrics:
    """Request counts and total durations by (method, route template, status); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._seconds: defaultdict[tuple[str, str, int], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        key = (method, route, status)
        with self._lock:
            self._counts[key] += 1
            self._seconds[key] += seconds

    def snapshot(self) -> list[tuple[tuple[str, str, int], int, float]]:
        """``((method, route, status), count, seconds)`` for every series, sorted."""
        with self._lock:
            return [(key, self._counts[key], self._seconds[key]) for key in sorted(self._counts)]


class _BodyTooLarge(Exception):
    pass


class ApiMiddleware:
    """Limit request bodies, count requests and turn unhandled exceptions into 500 problems."""

    def __init__(self, app: ASGIApp, *, prefix: str, extra_paths: tuple[str, ...], max_body_bytes: int,
                 metrics: RequestMetrics) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.extra_paths = frozenset(extra_paths)
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    def _ours(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/") or path in self.extra_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI event stream."""
        if scope["type"] != "http" or not self._ours(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                status["started"] = True
            await send(message)

        try:
            replay = await self._read_body(scope, receive)
            if replay is None:
                return  # the client went away
            await self.app(scope, replay, send_wrapper)
        except _BodyTooLarge:
            await send_problem(scope, receive, send_wrapper, 413,
                               f"the request body exceeds {self.max_body_bytes} bytes; send a smaller one",
                               title="Content too large", max_body_bytes=self.max_body_bytes)
        except Exception:
            if status["started"]:
                raise
            error_id = uuid.uuid4().hex[:12]
            logger.exception("unhandled error on %s %s [error_id=%s]", scope.get("method"), scope.get("path"),
                             error_id)
            await send_problem(scope, receive, send_wrapper, 500,
                               f"the server failed to handle this request; report error id {error_id}",
                               title="Internal server error", error_id=error_id)
        finally:
            self.metrics.observe(str(scope.get("method", "")), self._template(scope), int(status["code"]),
                                 time.perf_counter() - start)

    def _template(self, scope: Scope) -> str:
        """The matched route's path template with the API prefix ("unmatched" when no route matched)."""
        template = getattr(scope.get("route"), "path", None)
        if not isinstance(template, str) or not template:
            return "unmatched"
        path = str(scope.get("path", ""))
        if path.startswith(self.prefix + "/") and not template.startswith(self.prefix + "/"):
            template = self.prefix + template  # routers included with a prefix keep their own paths
        return template

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_body_bytes:
                    raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(body)
            if not message.get("more_body", False):
                break
        buffered: dict[str, Any] = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return buffered
            return await receive()

        return replay
