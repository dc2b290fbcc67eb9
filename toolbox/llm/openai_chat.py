"""``ChatModel`` over any OpenAI-compatible endpoint, through an injected ``openai.AsyncOpenAI``.

The adapter owns retries (the SDK's own are disabled by :func:`openai_chat_model_from_settings`):
429, 5xx, timeouts and connection errors are retried with exponential backoff and jitter; any
other error is raised at once as :class:`toolbox.errors.LLMError`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from toolbox.errors import LLMError
from toolbox.llm.base import ChatMessage, ChatResponse, Choice, ToolCall, Usage, coerce_messages
from toolbox.logging import get_logger
from toolbox.settings import LLMSettings, endpoint_api_key

__all__ = ["OpenAIChatModel", "openai_chat_model_from_settings", "response_from_completion"]

log = get_logger("llm")

Sleep = Callable[[float], Awaitable[None]]


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _tool_call(raw: Any) -> ToolCall:
    function = getattr(raw, "function", None)
    if function is not None:
        return ToolCall(id=raw.id, name=function.name, arguments=function.arguments or "{}")
    custom = raw.custom  # custom (free-form) tool call: its input is the argument text
    return ToolCall(id=raw.id, name=custom.name, arguments=custom.input)


def response_from_completion(completion: ChatCompletion) -> ChatResponse:
    """Convert an SDK ``ChatCompletion`` into a provider-neutral :class:`ChatResponse`."""
    choices = [
        Choice(
            index=choice.index,
            finish_reason=choice.finish_reason,
            message=ChatMessage(
                role="assistant",
                content=choice.message.content,
                tool_calls=[_tool_call(call) for call in choice.message.tool_calls or []],
            ),
        )
        for choice in completion.choices
    ]
    usage = completion.usage
    return ChatResponse(
        choices=choices,
        model=completion.model,
        usage=Usage(
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        ),
    )


class OpenAIChatModel:
    """A :class:`~toolbox.llm.base.ChatModel` backed by an injected ``openai.AsyncOpenAI`` client."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        *,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 120,
        max_backoff_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_retries < 0 or backoff_s < 0 or timeout_s <= 0:
            raise ValueError("max_retries and backoff_s must be >= 0 and timeout_s > 0")
        self.client = client
        self._client = client.with_options(max_retries=0)  # this adapter owns retries
        self.model = model
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"OpenAIChatModel(model={self.model!r}, base_url={str(self.client.base_url)!r})"

    def backoff_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): exponential, jittered, capped."""
        base = min(self.max_backoff_s, self.backoff_s * float(2**attempt))
        delay = base * (0.5 + 0.5 * self._rng.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff_s))
        return delay

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
        """Send one chat-completions request, retrying transient failures."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_openai() for m in coerce_messages(messages)],
        }
        optional: dict[str, Any] = {
            "tools": list(tools) if tools else None,
            "n": n if n != 1 else None,
            "temperature": temperature,
            "top_p": top_p,
            "response_format": response_format,
            "stop": list(stop) if stop else None,
            "max_tokens": max_tokens,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        attempt = 0
        while True:
            try:
                completion = await self._attempt(body)
            except _Retryable as failure:
                if attempt >= self.max_retries:
                    raise LLMError(
                        f"chat request to model {self.model!r} failed after {attempt + 1} attempt(s): {failure.reason}"
                    ) from failure.__cause__
                delay = self.backoff_delay(attempt, failure.retry_after)
                log.warning(
                    "model %s: %s; retry %d/%d in %.2fs",
                    self.model,
                    failure.reason,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                attempt += 1
                await self._sleep(delay)
                continue
            if not completion.choices:
                raise LLMError(f"model {self.model!r} returned no choices")
            return response_from_completion(completion)

    async def _attempt(self, body: dict[str, Any]) -> ChatCompletion:
        try:
            async with asyncio.timeout(self.timeout_s):
                result: ChatCompletion = await self._client.chat.completions.create(**body, timeout=self.timeout_s)
                return result
        except openai.APIStatusError as error:
            status = error.status_code
            reason = f"HTTP {status} from {self.client.base_url}: {error.message}"
            if status == 429 or status >= 500:
                raise _Retryable(reason, _retry_after(error)) from error
            raise LLMError(f"chat request to model {self.model!r} failed with {reason}") from error
        except openai.APITimeoutError as error:
            raise _Retryable(f"timed out after {self.timeout_s}s") from error
        except TimeoutError as error:
            raise _Retryable(f"timed out after {self.timeout_s}s") from error
        except openai.APIConnectionError as error:
            cause = error.__cause__
            raise _Retryable(f"connection error ({cause or error})") from error
        except openai.OpenAIError as error:
            raise LLMError(f"chat request to model {self.model!r} failed: {error}") from error


def openai_chat_model_from_settings(settings: LLMSettings, **client_options: Any) -> OpenAIChatModel:
    """Build the client from ``settings`` (SDK retries off: the adapter retries) and wrap it.

    ``client_options`` go to ``openai.AsyncOpenAI`` (e.g. ``http_client`` in tests). A local server
    (``base_url`` set) needs no key; the hosted API needs one from settings or ``OPENAI_API_KEY``.
    """
    key = endpoint_api_key(settings, "LLM", "LLM")
    client = openai.AsyncOpenAI(
        api_key=key, base_url=settings.base_url, timeout=settings.timeout_s, max_retries=0, **client_options
    )
    return OpenAIChatModel(
        client,
        settings.model,
        max_retries=settings.max_retries,
        backoff_s=settings.backoff_s,
        timeout_s=settings.timeout_s,
    )
