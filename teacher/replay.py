"""Record a chat model's answers to a JSONL transcript, and answer from one with no model at all.

A transcript starts with a header line ``{"recorded": true, "model": ..., "created": ...}``; every
further line is one call: ``{"fingerprint", "request", "response"}``. The fingerprint is the hash of
the canonical request (messages in OpenAI wire form plus every parameter), so a replay answers exactly
the requests that were recorded and fails loudly on any other.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolbox.errors import LLMError, ScriptExhausted
from toolbox.llm.base import ChatMessage, ChatModel, ChatRequest, ChatResponse, coerce_messages

__all__ = ["RecordingModel", "ReplayModel", "TranscriptError", "request_fingerprint"]

TRANSCRIPT_FORMAT = "distillery-transcript/1"


class TranscriptError(LLMError):
    """A transcript file that cannot be read (missing, not JSONL, not a recorded transcript)."""


def _request(
    messages: Sequence[ChatMessage | dict[str, Any]],
    tools: Sequence[dict[str, Any]] | None,
    n: int,
    temperature: float | None,
    top_p: float | None,
    response_format: dict[str, Any] | None,
    stop: Sequence[str] | None,
    max_tokens: int | None,
) -> ChatRequest:
    return ChatRequest(
        messages=coerce_messages(messages),
        tools=[dict(t) for t in tools] if tools is not None else None,
        n=n,
        temperature=temperature,
        top_p=top_p,
        response_format=response_format,
        stop=list(stop) if stop is not None else None,
        max_tokens=max_tokens,
    )


def _canonical(request: ChatRequest) -> dict[str, Any]:
    return {"messages": [m.to_openai() for m in request.messages], "params": request.kwargs}


def request_fingerprint(request: ChatRequest) -> str:
    """The sha256 of the request's canonical JSON (messages in wire form, every parameter, sorted keys)."""
    text = json.dumps(_canonical(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class RecordingModel:
    """A :class:`ChatModel` that forwards to ``inner`` and appends every answered call to ``path``.

    The header line is written when the file is new or empty; an existing transcript is extended, so an
    interrupted run that is resumed keeps one transcript. Failed calls are not recorded.
    """

    def __init__(self, inner: ChatModel, path: Path, *, model: str | None = None) -> None:
        self.inner = inner
        self.path = path
        self.model = model or str(getattr(inner, "model", "unknown"))
        self._lock = threading.Lock()

    def _append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            with self.path.open("a", encoding="utf-8") as stream:
                if new:
                    header = {
                        "recorded": True,
                        "format": TRANSCRIPT_FORMAT,
                        "model": self.model,
                        "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    }
                    stream.write(json.dumps(header) + "\n")
                stream.write(json.dumps(entry, ensure_ascii=False) + "\n")

    async def chat(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        n: int = 1,
        temperature: float | None = None,
        top_p: float | None = None,
        response_format: dict[str, Any] | None = None,
        stop: Sequence[str] | None = None,
        max_tokens: int | None = None,
    ) -> ChatResponse:
        """Ask the inner model, then record the request's fingerprint and the response."""
        request = _request(messages, tools, n, temperature, top_p, response_format, stop, max_tokens)
        response = await self.inner.chat(
            request.messages,
            tools=request.tools,
            n=n,
            temperature=temperature,
            top_p=top_p,
            response_format=response_format,
            stop=request.stop,
            max_tokens=max_tokens,
        )
        self._append(
            {
                "fingerprint": request_fingerprint(request),
                "request": _canonical(request),
                "response": response.model_dump(mode="json"),
            }
        )
        return response


class ReplayModel:
    """A :class:`ChatModel` that answers only requests recorded in a transcript, by fingerprint.

    A request recorded several times gets its answers in recorded order; asked more often than that,
    it gets the last one again (a deterministic endpoint would). A request that was never recorded
    raises :class:`~toolbox.errors.ScriptExhausted`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header, entries = self._read(path)
        self.model = str(self.header.get("model", "replay"))
        self._answers: dict[str, list[ChatResponse]] = defaultdict(list)
        for fingerprint, response in entries:
            self._answers[fingerprint].append(response)
        self._served: dict[str, int] = defaultdict(int)
        self.requests: list[ChatRequest] = []

    @staticmethod
    def _read(path: Path) -> tuple[dict[str, Any], list[tuple[str, ChatResponse]]]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise TranscriptError(f"cannot read transcript {path}: {error}") from error
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise TranscriptError(f"{path}:{number}: not JSON ({error.msg}); is this a transcript?") from error
            if not isinstance(row, dict):
                raise TranscriptError(f"{path}:{number}: expected a JSON object")
            rows.append(row)
        if not rows or rows[0].get("recorded") is not True:
            raise TranscriptError(
                f"{path} is not a recorded transcript: its first line must be a header with \"recorded\": true "
                "(write one with RecordingModel, e.g. distillery teach --record FILE)"
            )
        entries: list[tuple[str, ChatResponse]] = []
        for number, row in enumerate(rows[1:], start=2):
            try:
                entries.append((str(row["fingerprint"]), ChatResponse.model_validate(row["response"])))
            except (KeyError, ValueError) as error:
                raise TranscriptError(f"{path}: entry {number} lacks a fingerprint or a valid response") from error
        return rows[0], entries

    @property
    def recorded(self) -> int:
        """How many responses the transcript holds."""
        return sum(len(answers) for answers in self._answers.values())

    async def chat(
        self,
        messages: Sequence[ChatMessage | dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        n: int = 1,
        temperature: float | None = None,
        top_p: float | None = None,
        response_format: dict[str, Any] | None = None,
        stop: Sequence[str] | None = None,
        max_tokens: int | None = None,
    ) -> ChatResponse:
        """The recorded response to this exact request; ``ScriptExhausted`` when there is none."""
        request = _request(messages, tools, n, temperature, top_p, response_format, stop, max_tokens)
        self.requests.append(request)
        fingerprint = request_fingerprint(request)
        answers = self._answers.get(fingerprint)
        if not answers:
            last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), None)
            raise ScriptExhausted(
                f"transcript {self.path} has no recorded answer for request {fingerprint[:12]} "
                f"({len(request.messages)} messages, last user message: {(last_user or '')[:80]!r}); "
                "the prompts, tasks or settings differ from the recorded run: replay with the same inputs "
                "or record a new transcript against a real model"
            )
        served = self._served[fingerprint]
        self._served[fingerprint] = served + 1
        return answers[min(served, len(answers) - 1)]
