"""``chat_endpoint`` (toolbox/llm/endpoint.py): remote endpoints and the local-runtime edge."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from toolbox.errors import ConfigError
from toolbox.llm.endpoint import chat_endpoint
from toolbox.llm.local import INSTALL_HINT, LocalModelError, server
from toolbox.llm.openai_chat import OpenAIChatModel
from toolbox.settings import Settings


def test_a_base_url_gives_an_openai_model_on_it(settings: Settings) -> None:
    with chat_endpoint(settings, base_url="http://127.0.0.1:9/v1", model="my-model", local_default="unused") as ep:
        assert isinstance(ep.model, OpenAIChatModel)
        assert ep.model.model == "my-model" and ep.name == "my-model"
        assert str(ep.model.client.base_url) == "http://127.0.0.1:9/v1/"
        assert ep.model.client.api_key == "not-needed"
        assert ep.base_url == "http://127.0.0.1:9/v1" and not ep.local
    assert ep.model.client.is_closed()


def test_the_api_key_and_settings_fallbacks(settings: Settings) -> None:
    settings.llm = settings.llm.model_copy(update={"base_url": "http://127.0.0.1:9/v1", "model": "from-settings"})
    with chat_endpoint(settings, base_url=None, model=None, api_key="sk-test", local_default="unused") as ep:
        assert isinstance(ep.model, OpenAIChatModel)
        assert ep.name == "from-settings" and ep.model.client.api_key == "sk-test"
        assert not ep.local
    settings.llm = settings.llm.model_copy(update={"api_key": SecretStr("sk-settings")})
    with chat_endpoint(settings, base_url=None, model=None, local_default="unused") as ep:
        assert isinstance(ep.model, OpenAIChatModel) and ep.model.client.api_key == "sk-settings"


def test_no_base_url_and_no_runtime_names_the_install_command(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "llama_cpp_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"run: pip install 'distillery\[local\]'") as caught, chat_endpoint(
        settings, base_url=None, model=None, local_default="qwen2.5-coder-0.5b"
    ):
        pytest.fail("the block must not run")
    assert str(caught.value) == INSTALL_HINT


def test_no_base_url_and_an_unpulled_model_says_how_to_pull(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "llama_cpp_installed", lambda: True)
    with pytest.raises(LocalModelError, match="run: distillery model pull gemma3-270m"), chat_endpoint(
        settings, base_url=None, model="gemma3-270m", local_default="qwen2.5-coder-0.5b"
    ):
        pytest.fail("the block must not run")
