"""The real embedded default: llama.cpp's server on the pulled Qwen2.5-Coder-0.5B, through chat_endpoint."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.toolbox.llm.local.conftest import REAL_MODEL, real_model_settings
from toolbox.llm.base import ChatResponse
from toolbox.llm.endpoint import chat_endpoint

pytestmark = pytest.mark.model


def test_the_local_model_answers_through_chat_endpoint(tmp_path: Path) -> None:
    settings = real_model_settings(tmp_path)
    with chat_endpoint(settings, base_url=None, model=None, local_default=REAL_MODEL) as endpoint:
        assert endpoint.local and endpoint.name == REAL_MODEL
        listed = httpx.get(f"{endpoint.base_url}/models").json()
        assert [model["id"] for model in listed["data"]] == [REAL_MODEL]

        async def ask() -> ChatResponse:
            try:
                return await endpoint.model.chat(
                    [{"role": "user", "content": "What is 2 + 3? Reply with the number only."}],
                    max_tokens=8,
                    temperature=0.0,
                )
            finally:
                await endpoint.aclose()

        response = asyncio.run(ask())
    assert "5" in (response.choices[0].message.content or "")
    assert response.usage.completion_tokens > 0
    logs = list((settings.data_dir / "logs").glob("local-*.log"))
    assert logs and logs[0].stat().st_size > 0
