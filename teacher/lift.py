"""Lifting a solved script into a function, for a teacher whose extraction answer holds no tool code.

Small teachers often solve a task with straight-line code and then cannot write the extraction JSON.
One short plain-code request asks them to rewrite that code as a function called with the task's
values; the answer is read like a trajectory's own code (``teacher.code_drafts``), and the function
is a solver only because the prompt says it prints the answer: the checks that follow run it on the
task and score its output, as for any solver. The ``parse_question`` it is asked for beside the
function becomes the draft's adapter, so the held-out gate can run it on other tasks of the family.
"""

from __future__ import annotations

import ast

from teacher.code_drafts import drafts_from_cells
from teacher.drafts import ToolDraft
from teacher.extract import TokenCount, ask_distiller, extraction_code
from teacher.prompts import Prompt
from teacher.solve import parse_step
from teacher.trajectory import TeacherTrajectory
from toolbox.llm.base import ChatModel
from toolbox.settings import TeacherSettings

__all__ = ["ADAPTER", "lift_prompt", "lift_to_function"]

ADAPTER = "parse_question"  # the question -> keyword arguments function the lift prompt asks for


def lift_prompt(prompt: Prompt, trajectory: TeacherTrajectory) -> str:
    """The lift prompt for ``trajectory``: its question, the code that ran and the answer."""
    return prompt.render(family=trajectory.task.family, question=trajectory.task.question,
                         code=extraction_code(trajectory), final_answer=trajectory.final_answer or "(none)")


async def lift_to_function(model: ChatModel, prompt: str, trajectory: TeacherTrajectory, settings: TeacherSettings,
                           tokens: TokenCount, timeout_s: float | None = None) -> list[ToolDraft]:
    """Ask for the script as a function; the drafts its answer defines (none when it wrote no usable code).

    ``EndpointError`` when the endpoint failed or took longer than ``timeout_s``.
    """
    response = await ask_distiller(model, prompt, settings, tokens, timeout_s)
    _, code = parse_step(response.content or "")
    if code is None:
        return []
    # the prompt asks for print(function(task values)): that printed value is the answer it claims
    drafts = [d for d in drafts_from_cells([(code, trajectory.final_answer or "")], trajectory.final_answer)
              if d.name != ADAPTER]
    adapter = _adapter(code, {d.name for d in drafts if d.name})
    return [draft.model_copy(update={"parse_question": adapter or draft.parse_question}) for draft in drafts]


def _adapter(code: str, tools: set[str]) -> str | None:
    """The answer's ``parse_question`` with the imports and module-level names it may use, if it wrote one."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if not any(isinstance(node, ast.FunctionDef) and node.name == ADAPTER for node in tree.body):
        return None
    kept = [node for node in tree.body if not isinstance(node, ast.Expr)
            and not (isinstance(node, ast.FunctionDef) and node.name in tools)]
    return "\n\n".join(ast.unparse(node) for node in kept)
