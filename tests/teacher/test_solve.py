"""solve_task: the CodeAct loop in a real sandbox session, with a function model playing the teacher."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from teacher.solve import (
    NO_CODE_BLOCK,
    REPEATED_CELL,
    UNSTUCK_TEMPERATURE,
    box_session_functions,
    describe_functions,
    parse_step,
    solve_task,
)
from teacher.trajectory import TeacherTrajectory
from toolbox.analysis import build_spec
from toolbox.errors import LLMError
from toolbox.llm.base import ChatMessage
from toolbox.sandbox.base import Limits
from toolbox.sandbox.process import ProcessSandbox
from toolbox.sandbox.session import SessionFunction
from toolbox.settings import SandboxSettings, TeacherSettings
from toolbox.tasks import Task
from toolbox.testing import FunctionModel, tool_call_reply

pytestmark = pytest.mark.anyio

HELPER = '''Thought: I will write a helper that multiplies all the numbers.
```python
def product_expression(numbers: list[int]) -> str:
    """The product of the numbers as an expression."""
    return "*".join(str(n) for n in numbers)

product_expression([2, 3, 4, 1])
```'''
ANSWER = "Thought: 2*3*4*1 = 24, so that is the answer.\n```python\nfinal_answer(product_expression([2, 3, 4, 1]))\n```"


def block(code: str, thought: str = "Next step.") -> str:
    """A well-formed step reply running ``code``."""
    return f"Thought: {thought}\n```python\n{code}\n```"


def script(*replies: str) -> FunctionModel:
    """A teacher that answers step k (k = assistant messages so far) with ``replies[k]``."""

    def reply(messages: list[ChatMessage], kwargs: object) -> str:
        return replies[sum(1 for m in messages if m.role == "assistant")]

    return FunctionModel(reply, model="teacher-fake")


async def solve(
    task: Task, model: FunctionModel, sandbox_settings: SandboxSettings, settings: TeacherSettings,
    functions: Sequence[SessionFunction] = (), limits: Limits | None = None,
) -> TeacherTrajectory:
    return await solve_task(
        task, model=model, sandbox_settings=sandbox_settings, functions=functions, settings=settings,
        run_id="run-1", teacher_model="teacher-fake", limits=limits,
    )


async def test_two_step_solve_keeps_globals_and_scores(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    model = script(HELPER, ANSWER)
    trajectory = await solve(game24_task(), model, sandbox_settings, teacher_settings)
    assert (trajectory.status, trajectory.correct, trajectory.final_answer) == ("solved", True, "2*3*4*1")
    assert [step.ok for step in trajectory.steps] == [True, True]
    assert "2*3*4*1" in trajectory.steps[0].observation and "def product_expression" in (trajectory.steps[0].code or "")
    assert trajectory.steps[0].thought.startswith("I will write a helper")
    assert trajectory.steps[1].final_answer == "2*3*4*1" and trajectory.error is None
    assert [m["role"] for m in trajectory.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert trajectory.prompt_version == "v1" and trajectory.ftp is None
    assert trajectory.completion_tokens == sum(s.completion_tokens for s in trajectory.steps) > 0
    assert model.requests[0].temperature == 0.0 and model.requests[0].max_tokens == 256
    record = trajectory.to_record()
    assert (record.task_id, record.status, record.family) == (trajectory.task.id, "solved", "game24")


async def test_missing_code_block_and_syntax_error_are_observations(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    model = script("The answer is obviously 24.", block("def broken(:\n    pass"), block("final_answer('2*3*4*1')"))
    trajectory = await solve(game24_task(), model, sandbox_settings, teacher_settings)
    no_code, syntax, answer = trajectory.steps
    assert (no_code.code, no_code.ok, no_code.observation) == (None, False, NO_CODE_BLOCK)
    assert model.requests[1].messages[-1].content == f"Observation:\n{NO_CODE_BLOCK}"
    assert not syntax.ok and "SyntaxError" in syntax.observation and "nothing was run" in syntax.observation
    assert trajectory.status == "solved" and answer.final_answer == "2*3*4*1"


async def test_endless_loop_times_out_and_the_run_continues(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    model = script(block("while True:\n    pass"), block("final_answer('2*3*4*1')"))
    limits = Limits(timeout_s=1.0, cpu_s=5)
    trajectory = await solve(game24_task(), model, sandbox_settings, teacher_settings, limits=limits)
    looped, answered = trajectory.steps
    assert not looped.ok and "restarted" in looped.observation
    assert answered.ok and (trajectory.status, trajectory.final_answer) == ("solved", "2*3*4*1")


async def test_a_wrong_final_answer_is_explained_and_the_teacher_tries_again(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    model = script(block("final_answer('2+3+4+1')"), block("final_answer('2*3*4*1')"))
    trajectory = await solve(game24_task(), model, sandbox_settings, teacher_settings)
    wrong, right = trajectory.steps
    assert "final_answer('2+3+4+1') is not correct (the expression equals 10, not 24)" in wrong.observation
    assert right.final_answer == "2*3*4*1" and "not correct" not in right.observation
    assert (trajectory.status, trajectory.correct, trajectory.final_answer) == ("solved", True, "2*3*4*1")


async def test_a_wrong_final_answer_in_the_last_step_fails_the_task(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings
) -> None:
    settings = TeacherSettings(max_steps=2, max_tokens=64, temperature=0.0)
    model = script(block("final_answer('2+3+4+1')"), block("final_answer('2+3+4+2')"))
    trajectory = await solve(game24_task(), model, sandbox_settings, settings)
    assert (trajectory.status, trajectory.correct, trajectory.final_answer) == ("failed", False, "2+3+4+2")
    assert trajectory.error is not None and trajectory.error.startswith("wrong answer")
    assert "not correct" not in trajectory.steps[1].observation


async def test_the_reason_of_a_wrong_answer_is_withheld_when_it_names_the_expected_answer(
    sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    task = Task(id="leap-1", question="Is 2024 a leap year? Answer Yes or No.", scorer="exact", answer="Yes",
                family="leap_year")
    model = script(block("final_answer('No')"), block("final_answer('Yes')"))
    trajectory = await solve(task, model, sandbox_settings, teacher_settings)
    assert "final_answer('No') is not correct. The task is not finished" in trajectory.steps[0].observation
    assert "Yes" not in trajectory.steps[0].observation and trajectory.status == "solved"


async def test_a_repeated_cell_is_not_run_again_and_the_next_step_samples_hotter(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    model = script(block("print(1 / 0)"), block("print(1 / 0)", "Try again."), block("final_answer('2*3*4*1')"))
    trajectory = await solve(game24_task(), model, sandbox_settings, teacher_settings)
    first, repeated, _ = trajectory.steps
    assert "ZeroDivisionError" in first.observation
    assert repeated.observation.startswith(REPEATED_CELL.format(step=1)) and not repeated.ok
    assert [r.temperature for r in model.requests] == [0.0, 0.0, UNSTUCK_TEMPERATURE]
    assert trajectory.status == "solved"


async def test_running_out_of_steps_is_a_failure(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings
) -> None:
    settings = TeacherSettings(max_steps=2, max_tokens=64, temperature=0.0)
    model = script(block("x = 1"), block("x += 1"))
    trajectory = await solve(game24_task(), model, sandbox_settings, settings)
    assert trajectory.status == "failed" and trajectory.error == "no final_answer after 2 step(s)"
    assert "Only one step left" in trajectory.steps[0].observation
    assert trajectory.steps[1].observation.endswith("This was your last step.")


async def test_a_reply_without_text_is_an_error(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    model = FunctionModel(lambda messages, kwargs: tool_call_reply("final_answer", {"answer": "24"}))
    trajectory = await solve(game24_task(), model, sandbox_settings, teacher_settings)
    assert (trajectory.status, trajectory.error, trajectory.steps) == ("error", "model returned no text at step 1", [])


@pytest.mark.parametrize("failure", [LLMError("HTTP 500 from server"), TimeoutError("endpoint timed out")])
async def test_model_errors_are_recorded_never_raised(
    failure: Exception, game24_task: Callable[..., Task], sandbox_settings: SandboxSettings,
    teacher_settings: TeacherSettings,
) -> None:
    def reply(messages: list[ChatMessage], kwargs: object) -> str:
        if any(m.role == "assistant" for m in messages):
            raise failure
        return block("x = 1")

    trajectory = await solve(game24_task(), FunctionModel(reply), sandbox_settings, teacher_settings)
    assert trajectory.status == "error" and len(trajectory.steps) == 1
    assert trajectory.error == f"model call failed at step 2: {type(failure).__name__}: {failure}"


async def test_box_functions_are_callable_in_the_session(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings,
    tool_sandbox: ProcessSandbox,
) -> None:
    spec = build_spec(
        'def multiply_all(numbers: list[int]) -> int:\n    """Multiply the numbers."""\n'
        "    out = 1\n    for n in numbers:\n        out *= n\n    return out\n",
        allowed_imports=sandbox_settings.allowed_imports,
    )
    functions = box_session_functions([spec], tool_sandbox)
    listing = describe_functions(functions)
    assert listing.startswith("def multiply_all(numbers: list[int]) -> int:\n    Multiply the numbers.")
    model = script(
        block("print(multiply_all([2, 3, 4, 1]))"),
        block("try:\n    multiply_all('not numbers')\nexcept RuntimeError as e:\n    print('failed:', e)"),
        block("final_answer('2*3*4*1')"),
    )
    trajectory = await solve(game24_task(), model, sandbox_settings, teacher_settings, functions=functions)
    assert "def multiply_all(numbers: list[int]) -> int:" in (model.requests[0].messages[0].content or "")
    first, second, _ = trajectory.steps
    assert "24" in first.observation
    assert first.calls and first.calls[0]["name"] == "multiply_all" and first.calls[0]["ok"] is True
    assert "failed: box tool multiply_all failed" in second.observation
    assert trajectory.status == "solved"


def test_parse_step_takes_the_first_python_block() -> None:
    thought, code = parse_step("Thought: plan\n```py\na = 1\n```\nmore\n```python\nb = 2\n```")
    assert (thought, code) == ("plan", "a = 1")
    assert parse_step("no code here") == ("no code here", None)
    assert parse_step("Thought: cut off\n```python\nx = 1\n") == ("cut off", "x = 1")


async def test_the_session_prelude_imports_what_small_teachers_forget(
    game24_task: Callable[..., Task], sandbox_settings: SandboxSettings, teacher_settings: TeacherSettings
) -> None:
    model = script(block("print((datetime(2022, 4, 18) + timedelta(days=4)).strftime('%A'), math.gcd(4, 6))"),
                   block("final_answer('2*3*4*1')"))
    trajectory = await solve(game24_task(), model, sandbox_settings, teacher_settings)
    assert trajectory.steps[0].ok and trajectory.steps[0].observation.startswith("Friday 2")
