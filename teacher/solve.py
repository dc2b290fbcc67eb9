"""The teacher's CodeAct solve: think, run one Python cell in a sandbox session, observe, repeat.

Box tools are callable inside the session as plain functions (each call runs the tool's own code in
the sandbox, off the event loop), so the teacher reuses what the box already has. Whatever goes wrong
with the model or its output is recorded in the trajectory; :func:`solve_task` never raises for it.
"""

from __future__ import annotations

import ast
import asyncio
import keyword
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from teacher.ftp import first_thought, inject_first_thought, prefill_prefix
from teacher.prompts import load_prompt
from teacher.trajectory import FtpMode, TeacherStep, TeacherTrajectory, TrajectoryStatus, trajectory_id
from toolbox.errors import SpecError, ToolboxError
from toolbox.llm.base import ChatMessage, ChatModel, ChatResponse
from toolbox.logging import get_logger
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.sandbox.session import CellResult, SessionFunction, observation, open_session
from toolbox.settings import SandboxSettings, TeacherSettings
from toolbox.spec import ToolSpec
from toolbox.tasks import Task, score

__all__ = ["SESSION_PRELUDE", "box_session_functions", "describe_functions", "parse_step", "solve_task"]

log = get_logger("teacher.solve")

_LABELLED_BLOCK = re.compile(r"```[ \t]*(?:python3?|py)[ \t]*\n(?P<code>.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_BARE_BLOCK = re.compile(r"```[ \t]*\n(?P<code>.*?)(?:```|\Z)", re.DOTALL)
_THOUGHT_LABEL = re.compile(r"^\s*thought\s*:\s*", re.IGNORECASE)
_JSON_TYPES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "null": "None"}
NO_CODE_BLOCK = (
    "Error: your reply had no ```python code block, so nothing was run. Write one 'Thought:' paragraph, "
    "then exactly one ```python block; call final_answer(answer) in a block when you are done."
)
# Run before the first cell and after every restart: small teachers forget these imports. Drafts taken
# from the trajectory's code get the lines their functions need (``teacher.code_drafts``).
SESSION_PRELUDE = "import calendar, fractions, itertools, math, re\nfrom datetime import date, datetime, timedelta"
REPEATED_CELL = ("Error: this is the same code as your step {step}, so it was not run again: it would do the same. "
                 "Read that step's observation, find the mistake and write different code.")
# A repeated cell means the model is stuck at its low solving temperature; the next step samples hotter.
UNSTUCK_TEMPERATURE = 0.8
# Scorers whose reasons never name the expected answer, so a wrong final answer can be explained.
_ANSWER_FREE_REASONS = frozenset({"countdown"})


def parse_step(text: str) -> tuple[str, str | None]:
    """Split a reply into its thought and the code of its first ```python block (None when there is none)."""
    match = _LABELLED_BLOCK.search(text) or _BARE_BLOCK.search(text)
    if match is None:
        return _THOUGHT_LABEL.sub("", text.strip(), count=1).strip(), None
    thought = _THOUGHT_LABEL.sub("", text[: match.start()].strip(), count=1).strip()
    return thought, match.group("code").strip("\n")


def _annotation(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_annotation({**schema, "type": k}) for k in kind)
    if kind == "array":
        items = schema.get("items")
        return f"list[{_annotation(items)}]" if isinstance(items, dict) and items else "list"
    if kind == "object":
        return "dict"
    if isinstance(kind, str) and kind in _JSON_TYPES:
        return _JSON_TYPES[kind]
    return "Any"


def _return_annotation(schema: dict[str, Any]) -> str:
    properties = schema.get("properties", {})
    if schema.get("type") == "object" and list(properties) == ["result"]:  # a scalar wrapped as {"result": x}
        return _annotation(properties["result"])
    return _annotation(schema)


def _signature(spec: ToolSpec) -> tuple[str, list[str]]:
    properties: dict[str, Any] = spec.input_schema.get("properties", {})
    required = set(spec.input_schema.get("required", []))
    rendered = []
    for name, schema in properties.items():
        text = f"{name}: {_annotation(schema)}"
        if name not in required and "default" in schema:
            text += f" = {schema['default']!r}"
        rendered.append(text)
    returns = f" -> {_return_annotation(spec.output_schema)}" if spec.output_schema else ""
    return f"{spec.name}({', '.join(rendered)}){returns}", list(properties)


def box_session_functions(
    specs: Sequence[ToolSpec], sandbox: Sandbox, limits: Limits | None = None
) -> list[SessionFunction]:
    """The box's tools as session functions: a call in the session runs the tool via ``sandbox.run``.

    Each description starts with the tool's signature line (what :func:`describe_functions` shows the
    teacher). A failed tool call raises ``ToolboxError`` on the host, i.e. ``RuntimeError`` in the cell.
    """
    functions: list[SessionFunction] = []
    for spec in specs:
        if keyword.iskeyword(spec.name) or spec.name == "final_answer":
            log.warning("box tool %r cannot be a session function (reserved name); skipped", spec.name)
            continue
        signature, parameters = _signature(spec)

        async def call(args: dict[str, Any], spec: ToolSpec = spec) -> Any:
            result = await asyncio.to_thread(sandbox.run, spec, args, limits)
            if not result.ok:
                failure = result.error
                reason = f"{failure.type}: {failure.message}" if failure else "the call failed"
                raise ToolboxError(f"box tool {spec.name} failed: {reason}")
            return result.value

        description = f"{signature}\n{spec.description}".rstrip()
        try:
            functions.append(SessionFunction(name=spec.name, parameters=parameters, description=description, call=call))
        except SpecError as error:
            log.warning("box tool %r cannot be a session function (%s); skipped", spec.name, error)
    return functions


def describe_functions(functions: Sequence[SessionFunction]) -> str:
    """The session functions as the system prompt lists them: signature, then the docstring indented."""
    if not functions:
        return "(none yet: write the functions you need)"
    blocks = []
    for function in functions:
        first, _, rest = function.description.partition("\n")
        if not first.startswith(f"{function.name}("):
            first, rest = f"{function.name}({', '.join(function.parameters)})", function.description
        doc = "\n".join(f"    {line}" for line in rest.strip().splitlines()) or "    (no description)"
        blocks.append(f"def {first}:\n{doc}")
    return "\n\n".join(blocks)


def _task_message(task: Task) -> str:
    return f"New task:\n{task.question}"


def wrong_answer_note(task: Task, answer: str, reason: str) -> str:
    """What the teacher is told when a train task's scorer rejects its final answer and steps are left."""
    why = f" ({reason})" if task.scorer in _ANSWER_FREE_REASONS else ""
    return (f"\nfinal_answer({answer!r}) is not correct{why}. The task is not finished: find the mistake in your "
            "code, fix it and call final_answer again.")


def _score(task: Task, answer: str) -> tuple[bool | None, str]:
    try:
        verdict = score(task, answer)
    except ToolboxError as error:
        return None, f"not scored: {error}"
    return verdict.correct, verdict.reason


async def solve_task(
    task: Task,
    *,
    model: ChatModel,
    sandbox_settings: SandboxSettings,
    functions: Sequence[SessionFunction],
    settings: TeacherSettings,
    run_id: str,
    teacher_model: str,
    ftp: bool = False,
    prefill_supported: bool = False,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TeacherTrajectory:
    """Solve ``task`` with the CodeAct loop in a fresh sandbox session and return the whole trajectory.

    Stops at ``final_answer`` or after ``settings.max_steps`` steps; scores the answer where the task
    can be scored. Model failures and malformed output end in ``status="error"`` with the reason.
    """
    started = clock()
    prompt = load_prompt("solve")
    system = prompt.render(
        functions=describe_functions(functions),
        allowed_imports=", ".join(sandbox_settings.allowed_imports),
        max_steps=settings.max_steps,
    )
    messages = [ChatMessage.system(system), ChatMessage.user(_task_message(task))]
    steps: list[TeacherStep] = []
    tokens = [0, 0]
    ftp_mode: FtpMode | None = None
    prefix = ""
    final: str | None = None
    verdict: tuple[bool | None, str] = (None, "")
    stuck = False
    error: str | None = None

    def finish(status: TrajectoryStatus, correct: bool | None = None) -> TeacherTrajectory:
        return TeacherTrajectory(
            id=trajectory_id(run_id, task.id), run_id=run_id, task=task, steps=steps,
            messages=[m.to_openai() for m in messages], final_answer=final, correct=correct, status=status,
            error=error, prompt_version=prompt.version, teacher_model=teacher_model, ftp=ftp_mode,
            prompt_tokens=tokens[0], completion_tokens=tokens[1], seconds=round(clock() - started, 3),
        )

    if ftp:
        try:
            thought = await first_thought(model, task, settings=settings)
        except Exception as failure:
            error = f"first-thought request failed: {type(failure).__name__}: {failure}"
            return finish("error")
        tokens[0] += thought.prompt_tokens
        tokens[1] += thought.completion_tokens
        messages, ftp_mode = inject_first_thought(messages, thought.text, prefill_supported=prefill_supported)
        prefix = prefill_prefix(thought.text) if ftp_mode == "prefill" else ""

    try:
        async with open_session(sandbox_settings, functions=functions, limits=limits,
                                prelude=SESSION_PRELUDE) as session:
            for index in range(settings.max_steps):
                try:
                    response: ChatResponse = await model.chat(
                        messages, temperature=max(settings.temperature, UNSTUCK_TEMPERATURE) if stuck
                        else settings.temperature, max_tokens=settings.max_tokens, stop=["\nObservation:"],
                    )
                    reply = response.content
                except Exception as failure:
                    error = f"model call failed at step {index + 1}: {type(failure).__name__}: {failure}"
                    return finish("error")
                if reply is None:
                    error = f"model returned no text at step {index + 1}"
                    return finish("error")
                if prefix and index == 0:
                    messages.pop()  # the prefill message; the step's message is prefix + continuation
                    reply = prefix + reply
                messages.append(ChatMessage.assistant(reply))
                thought_text, code = parse_step(reply)
                result: CellResult | None = None
                earlier = next((step.index for step in steps if code is not None and step.code == code), None)
                stuck = earlier is not None
                if code is None:
                    seen, ok = NO_CODE_BLOCK, False
                elif earlier is not None:
                    seen, ok = REPEATED_CELL.format(step=earlier + 1), False
                else:
                    try:
                        ast.parse(code)
                    except SyntaxError as bad:
                        seen, ok = f"Error: SyntaxError: {bad.msg} (line {bad.lineno}); nothing was run.", False
                    else:
                        result = await session.run_cell(code)
                        seen, ok = observation(result), result.ok
                left = settings.max_steps - index - 1
                answered = False
                if result is not None and result.final_answer is not None:
                    final = result.final_answer
                    verdict = _score(task, final)
                    answered = verdict[0] is not False or left == 0
                    if not answered:
                        seen += wrong_answer_note(task, final, verdict[1])
                if not answered:
                    seen += "\nThis was your last step." if left == 0 else (
                        "\nOnly one step left: call final_answer now." if left == 1 else "")
                messages.append(ChatMessage.user(f"Observation:\n{seen}"))
                steps.append(TeacherStep(
                    index=index, thought=thought_text, code=code, observation=seen, ok=ok,
                    final_answer=result.final_answer if result else None,
                    prompt_tokens=response.usage.prompt_tokens, completion_tokens=response.usage.completion_tokens,
                    calls=list(result.calls) if result else [],
                ))
                tokens[0] += response.usage.prompt_tokens
                tokens[1] += response.usage.completion_tokens
                if answered:
                    break
    except ToolboxError as failure:
        error = f"sandbox session failed: {type(failure).__name__}: {failure}"
        return finish("error")
    if final is None:
        error = f"no final_answer after {len(steps)} step(s)"
        return finish("failed")
    correct, reason = verdict
    if correct is False:
        error = f"wrong answer: {reason}"
        return finish("failed", correct)
    return finish("solved", correct)
