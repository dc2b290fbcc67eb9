"""Length-prefixed frames: a 4-byte big-endian length, then that many bytes of payload.

Used on both sides of the worker protocol (stdlib only: the worker imports it inside the sandbox).
A reader knows where a message ends without scanning it, and refuses an oversized one from its
header alone.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

__all__ = ["FrameBuffer", "FrameTooLarge", "frame", "message", "write_all"]

_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size


class FrameTooLarge(ValueError):
    """A frame header announced more bytes than the reader accepts."""


def frame(payload: bytes) -> bytes:
    """``payload`` with its length prefix."""
    return _HEADER.pack(len(payload)) + payload


def message(fields: dict[str, Any]) -> bytes:
    """One JSON object as a frame."""
    return frame(json.dumps(fields, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass"))


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (a blocking pipe)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class FrameBuffer:
    """Bytes read so far; ``pop`` returns complete frames in order."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Append bytes read from the stream."""
        self._buf += data

    def __len__(self) -> int:
        return len(self._buf)

    def pop(self, max_size: int) -> bytes | None:
        """The next complete frame's payload, or None; raises ``FrameTooLarge`` past ``max_size``."""
        buf = self._buf
        if len(buf) < HEADER_SIZE:
            return None
        (size,) = _HEADER.unpack_from(buf)
        if size > max_size:
            raise FrameTooLarge(f"a frame of {size} bytes; the limit is {max_size}")
        end = HEADER_SIZE + size
        if len(buf) < end:
            return None
        payload = bytes(buf[HEADER_SIZE:end])
        del buf[:end]
        return payload

    def pop_raw(self, count: int) -> bytes:
        """The next ``count`` complete frames as they were sent (prefixes included); they must be buffered."""
        buf = self._buf
        end = 0
        for _ in range(count):
            (size,) = _HEADER.unpack_from(buf, end)
            end += HEADER_SIZE + size
        raw = bytes(buf[:end])
        del buf[:end]
        return raw

    def peek(self, index: int, max_size: int) -> bytes | None:
        """The payload of the ``index``-th buffered frame without removing it, or None if it is incomplete."""
        buf = self._buf
        start = 0
        for i in range(index + 1):
            if len(buf) < start + HEADER_SIZE:
                return None
            (size,) = _HEADER.unpack_from(buf, start)
            if size > max_size:
                raise FrameTooLarge(f"a frame of {size} bytes; the limit is {max_size}")
            if len(buf) < start + HEADER_SIZE + size:
                return None
            if i == index:
                return bytes(buf[start + HEADER_SIZE:start + HEADER_SIZE + size])
            start += HEADER_SIZE + size
        return None
