"""First-thought prefix: the first CoT paragraph starts the first step, by prefill or in the prompt."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from teacher.ftp import first_paragraph, inject_first_thought
from teacher.solve import solve_task
from toolbox.errors import LLMError
from toolbox.llm.base import ChatMessage
from toolbox.settings import SandboxSettings, TeacherSettings
from toolbox.tasks import Task
from toolbox.testing import FunctionModel

pytestmark = pytest.mark.anyio

PLAN = "I will multiply all four numbers, since 2*3*4 is already 24."
COT = f"{PLAN}\n\n2*3 = 6, 6*4 = 24, 24*1 = 24.\n\nFinal answer: 2*3*4*1"
CODE = "```python\nfinal_answer('2*3*4*1')\n```"


def teacher(*, cot_fails: bool = False) -> FunctionModel:
    """Answers the CoT prompt with ``COT`` and every agent step with a final_answer block."""

    def reply(messages: list[ChatMessage], kwargs: object) -> str:
        if "do not write code" in (messages[0].content or ""):
            if cot_fails:
                raise LLMError("HTTP 503 from endpoint")
            return COT
        return CODE if messages[-1].role == "assistant" else f"Thought: go.\n{CODE}"

    return FunctionModel(reply, model="teacher-fake")


@pytest.mark.parametrize("prefill", [True, False])
async def test_first_thought_injected(
    prefill: bool, game24_task: Callable[..., Task], sandbox_settings: SandboxSettings,
    teacher_settings: TeacherSettings,
) -> None:
    model = teacher()
    trajectory = await solve_task(
        game24_task(), model=model, sandbox_settings=sandbox_settings, functions=(), settings=teacher_settings,
        run_id="r", teacher_model="teacher-fake", ftp=True, prefill_supported=prefill,
    )
    assert trajectory.status == "solved" and trajectory.correct is True
    cot_request, step_request = model.requests
    assert cot_request.messages[-1].content == game24_task().question
    first_reply = trajectory.messages[2]
    if prefill:
        assert trajectory.ftp == "prefill"
        assert step_request.messages[-1] == ChatMessage.assistant(f"Thought: {PLAN}\n\n")
        assert first_reply == {"role": "assistant", "content": f"Thought: {PLAN}\n\n{CODE}"}
        assert trajectory.steps[0].thought == PLAN
    else:
        assert trajectory.ftp == "prompt"
        assert step_request.messages[-1].role == "user"
        assert f"Your first thought was: {PLAN}" in (step_request.messages[-1].content or "")
        assert first_reply["content"].startswith("Thought: go.")
    assert [m["role"] for m in trajectory.messages] == ["system", "user", "assistant", "user"]
    assert trajectory.completion_tokens > trajectory.steps[0].completion_tokens  # the CoT call counts


async def test_first_thought_failure_is_recorded(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    trajectory = await solve_task(
        game24_task(), model=teacher(cot_fails=True), sandbox_settings=sandbox_settings, functions=(),
        settings=teacher_settings, run_id="r", teacher_model="teacher-fake", ftp=True,
    )
    assert trajectory.status == "error" and trajectory.steps == []
    assert trajectory.error == "first-thought request failed: LLMError: HTTP 503 from endpoint"


def test_first_paragraph() -> None:
    assert first_paragraph(COT) == PLAN
    assert first_paragraph("\n\nThought: plan it\nover two lines\n\nrest") == "plan it\nover two lines"
    assert first_paragraph("   ") == ""


def test_inject_needs_a_trailing_user_message() -> None:
    with pytest.raises(ValueError, match="ends with the task's user message"):
        inject_first_thought([ChatMessage.system("s")], "t", prefill_supported=False)
    messages, mode = inject_first_thought([ChatMessage.user("task")], "t", prefill_supported=True)
    assert mode == "prefill" and messages[-1] == ChatMessage.assistant("Thought: t\n\n")
