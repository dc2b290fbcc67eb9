"""``--mode auto``: structured tool calls choose ``tools``; JSON in the text or an error choose ``json``."""

from __future__ import annotations

import pytest

from student.probe import probe_mode, resolve_mode
from toolbox.errors import LLMError
from toolbox.testing import ScriptedModel, tool_call_reply

pytestmark = pytest.mark.anyio


async def test_structured_tool_calls_mean_tools_mode() -> None:
    model = ScriptedModel([tool_call_reply("record_word", {"word": "ready"})])
    assert await probe_mode(model) == "tools"
    assert model.last_request.tool_names == ["record_word"]


@pytest.mark.parametrize("reply", ['```json\n{"name": "record_word", "arguments": {"word": "ready"}}\n```',
                                   LLMError("HTTP 400: tools are not supported")])
async def test_anything_else_means_json_mode(reply: str | LLMError) -> None:
    assert await probe_mode(ScriptedModel([reply])) == "json"


async def test_an_explicit_mode_is_not_probed() -> None:
    model = ScriptedModel([])
    assert await resolve_mode("code", model) == "code" and model.requests == []
