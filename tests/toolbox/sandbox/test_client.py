"""The host's side of the worker protocol: frames, encoding a call, decoding (untrusted) answers."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable

import pytest

from toolbox.sandbox.base import CancelToken, Limits
from toolbox.sandbox.client import WorkerClient, WorkerDied, WorkerHung, decode_result, encode_call
from toolbox.sandbox.process import PipeTransport
from toolbox.sandbox.worker.frames import FrameBuffer, FrameTooLarge, frame, message
from toolbox.spec import ToolSpec

SpecFactory = Callable[..., ToolSpec]


def frames_of(data: bytes) -> list[bytes]:
    """Every complete frame in ``data``."""
    buffer = FrameBuffer()
    buffer.feed(data)
    out = []
    while (payload := buffer.pop(1 << 20)) is not None:
        out.append(payload)
    assert len(buffer) == 0
    return out


def test_frames_arrive_whole_in_order_and_are_refused_when_too_large() -> None:
    buffer = FrameBuffer()
    data = frame(b"one") + frame(b"") + frame(b"three")
    for i in range(len(data)):  # byte by byte
        buffer.feed(data[i:i + 1])
    assert buffer.peek(2, 10) == b"three"
    assert [buffer.pop(10), buffer.pop(10), buffer.pop(10), buffer.pop(10)] == [b"one", b"", b"three", None]
    buffer.feed(frame(b"x" * 11))
    with pytest.raises(FrameTooLarge):
        buffer.pop(10)


def test_a_call_is_a_header_and_a_body(spec_factory: SpecFactory) -> None:
    spec = spec_factory("def f(x):\n    return x\n", name="echo")
    limits = Limits(timeout_s=3)
    call_id, data = encode_call(spec, json.dumps({"x": "é"}), limits)
    other_id, _ = encode_call(spec, "{}", limits)
    header, body = (json.loads(p) for p in frames_of(data))
    assert call_id != other_id and header["id"] == call_id and header["op"] == "call"
    assert header["limits"] == limits.model_dump()
    assert body == {"source": spec.source, "entrypoint": "f", "tool_name": "echo", "args": {"x": "é"}}
    changed = spec_factory("def f(x):\n    return -x\n", name="echo")
    assert json.loads(frames_of(encode_call(changed, "{}", limits)[1])[0])["code"] != header["code"]


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"ok": "yes"}', b'{"ok": true, "error": 3}'])
def test_a_malformed_result_is_a_clear_failure(body: bytes) -> None:
    result = decode_result({"op": "done", "id": "1", "duration_ms": 1.5}, b"c" + body if body else body, "bwrap")
    assert not result.ok and result.error is not None and result.value is None
    assert result.error.type in {"Crashed", "WorkerLost"}


def test_results_and_verdicts_are_decoded() -> None:
    child = {"value": [1], "ok": True, "error": None, "stdout": "hi\n", "stderr": "", "truncated": False, "rss_kb": 2}
    result = decode_result({"op": "done", "id": "1", "duration_ms": 2.0}, json.dumps(child).encode(), "none")
    assert (result.ok, result.value, result.stdout, result.peak_memory_bytes) == (True, [1], "hi\n", 2048)
    verdict = decode_result({"op": "done", "id": "1", "error": {"type": "Timeout", "message": "late"},
                             "peak_memory_bytes": 4096}, b"", "none")
    assert verdict.error is not None and (verdict.error.type, verdict.peak_memory_bytes) == ("Timeout", 4096)


class FakeWorker:
    """The worker's end of two pipes, answering as a test script says."""

    def __init__(self) -> None:
        self.to_worker_r, to_worker_w = os.pipe()
        from_worker_r, self.from_worker_w = os.pipe()
        self.client = WorkerClient(PipeTransport(to_worker_w, from_worker_r))
        self.received = FrameBuffer()

    def say(self, data: bytes) -> None:
        os.write(self.from_worker_w, data)

    def frames(self, count: int) -> list[dict[str, object]]:
        """The next ``count`` frames the host sent."""
        out: list[dict[str, object]] = []
        while len(out) < count:
            payload = self.received.pop(1 << 20)
            if payload is None:
                self.received.feed(os.read(self.to_worker_r, 1 << 16))
                continue
            out.append(json.loads(payload))
        return out


def test_the_client_reads_ready_frames_without_blocking() -> None:
    worker = FakeWorker()
    assert worker.client.poll_ready() is False
    worker.say(message({"op": "ready"}))
    assert worker.client.poll_ready() is True
    worker.say(message({"op": "done"}))
    with pytest.raises(WorkerDied):
        worker.client.poll_ready()


def test_a_cancel_reaches_the_worker_while_the_caller_waits(spec_factory: SpecFactory) -> None:
    worker = FakeWorker()
    token = CancelToken()
    call_id, data = encode_call(spec_factory("def f():\n    return 1\n"), "{}", Limits())

    def fake_worker() -> None:
        worker.frames(2)  # the call
        cancel = worker.frames(1)[0]
        assert cancel == {"op": "cancel", "id": call_id}
        worker.say(message({"op": "done", "id": call_id, "error": {"type": "Cancelled", "message": "m"}}) + frame(b""))

    thread = threading.Thread(target=fake_worker)
    thread.start()
    threading.Timer(0.2, token.cancel).start()
    done, body = worker.client.call(data, call_id, time.monotonic() + 30, 1 << 20, token)
    thread.join()
    assert done["error"] == {"type": "Cancelled", "message": "m"} and body == b""


def test_a_silent_or_lying_worker_is_an_error(spec_factory: SpecFactory) -> None:
    worker = FakeWorker()
    call_id, data = encode_call(spec_factory("def f():\n    return 1\n"), "{}", Limits())
    with pytest.raises(WorkerHung):
        worker.client.call(data, call_id, time.monotonic() + 0.2, 1 << 20, None)
    worker.say(message({"op": "done", "id": "someone else"}) + frame(b""))
    with pytest.raises(WorkerDied):
        worker.client.call(data, call_id, time.monotonic() + 5, 1 << 20, None)
    os.close(worker.from_worker_w)
    with pytest.raises(WorkerDied):
        worker.client.call(data, call_id, time.monotonic() + 5, 1 << 20, None)
