"""``chat_endpoint``: one way for commands to get a chat model, remote or embedded.

With a base URL (given, or ``DISTILLERY_LLM__BASE_URL``) it is any OpenAI-compatible endpoint.
Without one it starts the embedded local model (llama.cpp's server on a pulled GGUF) for the
duration of the ``with`` block; when the local runtime is not installed it fails with the one
command that installs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from pydantic import SecretStr

from toolbox.llm.base import ChatModel
from toolbox.llm.openai_chat import OpenAIChatModel, openai_chat_model_from_settings
from toolbox.settings import LLMSettings, Settings

__all__ = ["Endpoint", "chat_endpoint"]


@dataclass
class Endpoint:
    """A chat model and where it lives; ``local`` is True for the embedded llama.cpp server."""

    model: ChatModel
    name: str
    base_url: str
    local: bool

    async def aclose(self) -> None:
        """Close the HTTP client of the model (call it inside the event loop that used the model)."""
        if isinstance(self.model, OpenAIChatModel):
            await self.model.client.close()


def _close_outside_loop(endpoint: Endpoint) -> None:
    if not isinstance(endpoint.model, OpenAIChatModel) or endpoint.model.client.is_closed():
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with suppress(RuntimeError):  # connections bound to a loop that has since closed
            asyncio.run(endpoint.aclose())


def _openai_model(llm: LLMSettings, base_url: str, model: str, api_key: str | None) -> OpenAIChatModel:
    update: dict[str, object] = {"base_url": base_url, "model": model}
    if api_key is not None:
        update["api_key"] = SecretStr(api_key)
    return openai_chat_model_from_settings(llm.model_copy(update=update))


@contextmanager
def chat_endpoint(
    settings: Settings,
    *,
    base_url: str | None,
    model: str | None,
    api_key: str | None = None,
    local_default: str,
) -> Iterator[Endpoint]:
    """Yield an Endpoint for the run; a local server it started is stopped when the block ends.

    ``base_url`` (else ``settings.llm.base_url``) selects a remote endpoint serving ``model`` (else
    ``settings.llm.model``). Without either, the local catalog model ``model`` (else
    ``local_default``) is served by llama.cpp; ConfigError with the install command when the
    runtime is missing, LocalModelError when the model is not pulled or the server fails.
    """
    remote = base_url or settings.llm.base_url
    if remote:
        name = model or settings.llm.model
        endpoint = Endpoint(_openai_model(settings.llm, remote, name, api_key), name, remote, local=False)
        try:
            yield endpoint
        finally:
            _close_outside_loop(endpoint)
        return
    from toolbox.llm.local.server import LocalServer, require_runtime

    require_runtime()
    with LocalServer(settings, model or local_default) as server:
        chat = _openai_model(settings.llm, server.base_url, server.model, api_key or "not-needed")
        endpoint = Endpoint(chat, server.model, server.base_url, local=True)
        try:
            yield endpoint
        finally:
            _close_outside_loop(endpoint)
