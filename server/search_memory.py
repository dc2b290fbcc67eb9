"""Which tool versions ``search_tools`` recently showed each caller, so a call can be counted as found by search.

The health report's "share of calls reached through search" needs, per call, whether the caller
had just been shown the tool by ``search_tools``. The modern MCP era has no sessions, so the caller
is the API key when there is one, else the legacy MCP session id, else the client's address
(``caller_identity``). Each search remembers the version ids it returned for that caller for
``window_s`` seconds; a call looks its version up. Both are O(1) per version (dict lookups), memory
is bounded (``max_callers`` callers, least recently active dropped first; ``max_hits`` hits each),
and nothing touches the database: the answer rides on the usage record (``via_search``).

Why this and not "calls made through the ``call_tool`` meta-tool": a student can call a found tool
by its name directly, and ``call_tool`` also reaches tools that were listed, never searched. The
memory is per process: a search on one replica followed by a call on another is not counted.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from registry.schemas import Principal

__all__ = ["SearchMemory", "caller_identity"]


def caller_identity(principal: Principal | None, request: Any | None) -> str:
    """The key id, else the ``mcp-session-id`` of a legacy session, else the client address; "stdio" without HTTP."""
    if principal is not None:
        return f"key:{principal.key_id}"
    headers = getattr(request, "headers", None)
    session = headers.get("mcp-session-id") if headers is not None else None
    if session:
        return f"session:{session}"
    client = getattr(request, "client", None)
    if client is not None:
        return f"addr:{client.host}"
    return "stdio" if request is None else "anonymous"


class SearchMemory:
    """Recent ``search_tools`` hits per caller (see the module docstring). Thread-safe."""

    def __init__(self, window_s: float = 600.0, *, max_callers: int = 10_000, max_hits: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Remember hits for ``window_s`` seconds, for at most ``max_callers`` callers of ``max_hits`` hits each."""
        if window_s <= 0 or max_callers < 1 or max_hits < 1:
            raise ValueError("window_s must be positive and max_callers, max_hits at least 1")
        self.window_s = window_s
        self.max_callers = max_callers
        self.max_hits = max_hits
        self._clock = clock
        self._hits: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, caller: str, version_ids: Iterable[str]) -> None:
        """``search_tools`` just showed ``caller`` these versions."""
        expires = self._clock() + self.window_s
        with self._lock:
            hits = self._hits.pop(caller, None) or OrderedDict()
            self._hits[caller] = hits  # most recently active last
            for version_id in version_ids:
                hits.pop(version_id, None)
                hits[version_id] = expires
            while len(hits) > self.max_hits:
                hits.popitem(last=False)
            while len(self._hits) > self.max_callers:
                self._hits.popitem(last=False)

    def reached_via_search(self, caller: str, version_id: str) -> bool:
        """Whether a search showed ``caller`` this version within the window."""
        with self._lock:
            hits = self._hits.get(caller)
            if hits is None:
                return False
            expires = hits.get(version_id)
            if expires is None:
                return False
            if expires < self._clock():
                del hits[version_id]
                return False
            return True
