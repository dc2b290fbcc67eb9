"""A bounded in-memory event store: SSE resumability for legacy (≤ 2025-11-25) HTTP sessions.

Legacy clients that lose an SSE stream reconnect with ``Last-Event-ID`` and get what they missed.
Events live in this process only, like the sessions they belong to (sticky routing keeps a
legacy client on one replica); the modern protocol is sessionless and does not use this.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage

__all__ = ["MemoryEventStore"]


class MemoryEventStore(EventStore):
    """Keeps the newest ``max_events`` events of every stream."""

    def __init__(self, max_events: int = 10_000) -> None:
        self._max_events = max_events
        self._events: OrderedDict[EventId, tuple[StreamId, JSONRPCMessage | None]] = OrderedDict()
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        """Store one event (``None`` is a priming event) and return its id."""
        event_id = str(next(self._ids))
        self._events[event_id] = (stream_id, message)
        while len(self._events) > self._max_events:
            self._events.popitem(last=False)
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        """Send the events of ``last_event_id``'s stream that came after it; None if it is unknown."""
        entry = self._events.get(last_event_id)
        if entry is None:
            return None
        stream_id = entry[0]
        after = False
        for event_id, (stream, message) in list(self._events.items()):
            if after and stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
            after = after or event_id == last_event_id
        return stream_id
