"""``tools/list`` served from bytes: the serialised result cached below the SDK's per-request work.

At 1,000 tools the cost of a listing is the SDK turning the result into JSON, not the registry:
the runner validates and dumps it against the protocol surface, then the modern HTTP transport
dumps it again in JSON mode and encodes it. ``ListingSplicer`` (ASGI, in front of the SDK's HTTP
app) keeps every request going through the SDK as usual: header and envelope checks, params
validation, middleware, the handler. Only the handler's answer changes: when a serialised result
for the request's key is cached, it answers with an empty placeholder listing, which is cheap to
serialise, and the splicer puts the cached result in its place in the response body. On a miss the
handler answers in full and the splicer keeps the result the SDK wrote. A request that fails before
the handler, or an error answer, passes through untouched.

The key (``ListingKey``) is everything a listing depends on: the registry revision, the caller's
visibility (key namespaces, pins, endpoint and toolset), the page cursor and the protocol version;
the cache belongs to one runtime, so settings are fixed. Entries of older revisions are dropped
when a newer one is stored. Only modern-era (2026-07-28) HTTP POSTs are spliced; legacy sessions,
stdio and in-process clients get the handler's full answer.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NamedTuple

import mcp_types as types
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.catalog import Visibility
from toolbox.logging import get_logger

__all__ = ["ListingCache", "ListingKey", "ListingSplicer"]

logger = get_logger("server.listing")
_VERSION_HEADER = b"mcp-protocol-version"


class ListingKey(NamedTuple):
    """What one ``tools/list`` answer depends on."""

    revision: int
    visibility: Visibility
    cursor: str | None
    protocol_version: str


@dataclass
class _Splice:
    """Per-request note from the handler to the splicer: a cached body to put in, or a key to store under."""

    body: bytes | None = None
    store_key: ListingKey | None = None


_current: ContextVar[_Splice | None] = ContextVar("distillery_listing_splice", default=None)


class ListingCache:
    """Serialised ``tools/list`` results of the newest revision, least recently used out past ``max_bytes``."""

    def __init__(self, *, max_bytes: int = 64 << 20) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[ListingKey, bytes] = OrderedDict()
        self._size = 0
        self._revision = -1
        self._lock = threading.Lock()

    def get(self, key: ListingKey) -> bytes | None:
        """The cached result for ``key``, or None."""
        with self._lock:
            body = self._entries.get(key)
            if body is not None:
                self._entries.move_to_end(key)
            return body

    def put(self, key: ListingKey, body: bytes) -> None:
        """Keep ``body`` for ``key``; a newer revision drops every older entry, an older one is ignored."""
        if len(body) > self._max_bytes:
            return
        with self._lock:
            if key.revision < self._revision:
                return
            if key.revision > self._revision:
                self._entries.clear()
                self._size = 0
                self._revision = key.revision
            previous = self._entries.pop(key, None)
            self._size += len(body) - (len(previous) if previous is not None else 0)
            self._entries[key] = body
            while self._size > self._max_bytes:
                _key, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def answer(self, key: ListingKey, build: Callable[[], types.ListToolsResult]) -> types.ListToolsResult:
        """The handler's answer for ``key``: a placeholder when the splicer has the result, else ``build()``."""
        splice = _current.get()
        if splice is None:
            return build()
        cached = self.get(key)
        if cached is not None:
            splice.body = cached
            return types.ListToolsResult(tools=[])
        splice.store_key = key
        return build()


class ListingSplicer:
    """ASGI wrapper of an MCP HTTP app: puts cached ``tools/list`` results into modern responses."""

    def __init__(self, app: ASGIApp, cache: ListingCache) -> None:
        self._app = app
        self._cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request."""
        if scope["type"] != "http" or scope.get("method") != "POST" or not _modern(scope):
            await self._app(scope, receive, send)
            return
        splice = _Splice()
        held: list[Message] = []

        async def send_spliced(message: Message) -> None:
            if splice.body is None and splice.store_key is None:
                await send(message)
            elif message["type"] == "http.response.start":
                held.append(message)
            elif message["type"] == "http.response.body" and held and not message.get("more_body", False):
                start, body = self._finish(splice, held.pop(), bytes(message.get("body", b"")))
                await send(start)
                await send({"type": "http.response.body", "body": body})
            else:  # a streamed (SSE) answer: nothing to splice
                while held:
                    await send(held.pop())
                await send(message)

        token = _current.set(splice)
        try:
            await self._app(scope, receive, send_spliced)
        finally:
            _current.reset(token)

    def _finish(self, splice: _Splice, start: Message, body: bytes) -> tuple[Message, bytes]:
        """The response to send: spliced on a hit, as written (and stored) on a miss."""
        reply = _json_reply(start, body)
        if reply is None or not isinstance(reply.get("result"), dict):
            return start, body  # an error or not JSON: the SDK's answer stands
        if splice.store_key is not None:
            self._cache.put(splice.store_key, json.dumps(reply["result"], separators=(",", ":")).encode())
            return start, body
        assert splice.body is not None
        if reply["result"].get("tools") != []:
            logger.warning("tools/list placeholder missing from the SDK's answer; sending it unspliced")
            return start, body
        spliced = b'{"jsonrpc":"2.0","id":%s,"result":%s}' % (json.dumps(reply.get("id")).encode(), splice.body)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(spliced)).encode()))
        return {**start, "headers": headers}, spliced


def _modern(scope: Scope) -> bool:
    """Whether the request names a protocol version of the modern (sessionless) era."""
    for name, value in scope.get("headers", []):
        if name == _VERSION_HEADER:
            return value.decode("latin-1") not in HANDSHAKE_PROTOCOL_VERSIONS
    return False


def _json_reply(start: Message, body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC reply in a 200 ``application/json`` response, else None."""
    if start.get("status") != 200:
        return None
    content_type = next((v for k, v in start.get("headers", []) if k.lower() == b"content-type"), b"")
    if not content_type.startswith(b"application/json"):
        return None
    try:
        reply = json.loads(body)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None
