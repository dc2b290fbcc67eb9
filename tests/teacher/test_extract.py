"""Extraction: parsing teacher answers, building candidates, mining tests from the trajectory."""

from __future__ import annotations

import pytest

from teacher.distil_errors import DraftError, EndpointError
from teacher.drafts import parse_drafts
from teacher.extract import TokenCount, ask_for_drafts, build_candidate, mine_tests, tool_name
from teacher.trajectory import TeacherTrajectory
from tests.teacher.distil_fixtures import SOLVE_COUNTDOWN, WEEKDAY_NAME, fenced, tool_answer
from toolbox.errors import AnalysisError, LLMError
from toolbox.sandbox.base import Limits
from toolbox.sandbox.process import ProcessSandbox
from toolbox.settings import DEFAULT_ALLOWED_IMPORTS, TeacherSettings
from toolbox.spec import Provenance
from toolbox.tasks import Task
from toolbox.testing import ScriptedModel

pytestmark = pytest.mark.anyio
LIMITS = Limits(timeout_s=5.0)


def test_a_fenced_json_answer_gives_its_tools() -> None:
    drafts = parse_drafts(tool_answer(WEEKDAY_NAME, name="weekday_name", inputs=[{"year": 2024, "month": 1,
                                                                                  "day": 1}]))
    assert [(d.name, d.role) for d in drafts] == [("weekday_name", "solver")]
    assert drafts[0].trajectory_inputs == [{"year": 2024, "month": 1, "day": 1}]


def test_a_bare_list_and_a_separate_python_block_are_understood() -> None:
    text = ('[{"name": "weekday_name", "tests": [{"args": {"year": 2024, "month": 1, "day": 1}, '
            '"expected": "Monday"}]}]\n```python\n' + WEEKDAY_NAME + "\n```")
    drafts = parse_drafts(text)
    assert drafts[0].source.strip() == WEEKDAY_NAME.strip() and drafts[0].tests[0]["expected"] == "Monday"


def test_a_python_block_alone_is_a_draft_without_tests() -> None:
    drafts = parse_drafts("Sure:\n```python\n" + WEEKDAY_NAME + "```")
    assert len(drafts) == 1 and drafts[0].tests == [] and "def weekday_name" in drafts[0].source


@pytest.mark.parametrize("text", ["", "I could not find a tool here.", fenced({"tools": []}), "```json\n{oops\n```"])
def test_an_answer_without_a_tool_is_a_draft_error(text: str) -> None:
    with pytest.raises(DraftError, match=r"no tool|empty"):
        parse_drafts(text)


async def test_an_endpoint_failure_is_an_endpoint_error() -> None:
    model = ScriptedModel([LLMError("HTTP 503 from the endpoint")])
    with pytest.raises(EndpointError, match="503"):
        await ask_for_drafts(model, "extract please", TeacherSettings(), TokenCount())


async def test_the_tokens_of_a_call_are_counted() -> None:
    tokens = TokenCount()
    answer = await ask_for_drafts(ScriptedModel([tool_answer(WEEKDAY_NAME)]), "extract", TeacherSettings(), tokens)
    assert len(answer.drafts) == 1 and tokens.calls == 1 and tokens.completion == answer.completion_tokens > 0


def test_tool_names_are_made_registry_valid() -> None:
    draft = parse_drafts(tool_answer(WEEKDAY_NAME, name="Weekday Name!"))[0]
    assert tool_name(draft, "weekday_name") == "weekday_name"
    assert tool_name(draft.model_copy(update={"name": "24 solver"}), "x") == "tool_24_solver"


def test_a_syntax_error_fails_the_build() -> None:
    draft = parse_drafts(tool_answer("def broken(:\n    pass\n"))[0]
    with pytest.raises(AnalysisError, match="syntax"):
        build_candidate(draft, namespace="box", allowed_imports=list(DEFAULT_ALLOWED_IMPORTS),
                        provenance=Provenance(), tests=[], tags=[])


def trajectory(task: Task, correct: bool | None) -> TeacherTrajectory:
    return TeacherTrajectory(id="traj-1", run_id="run-1", task=task, status="solved", final_answer="x",
                             correct=correct, prompt_version="v1", teacher_model="t")


def test_mined_tests_are_the_tools_verified_outputs(game24_task: object, tool_sandbox: ProcessSandbox) -> None:
    task = game24_task([4, 6, 1, 1])  # type: ignore[operator]
    draft = parse_drafts(tool_answer(SOLVE_COUNTDOWN, inputs=[{"numbers": [4, 6, 1, 1], "target": 24}]))[0]
    spec = build_candidate(draft, namespace="box", allowed_imports=list(DEFAULT_ALLOWED_IMPORTS),
                           provenance=Provenance(), tests=[], tags=[])
    mined, problems = mine_tests(tool_sandbox, spec, draft, trajectory(task, True), LIMITS)
    assert problems == [] and len(mined) == 1
    assert mined[0].args == {"numbers": [4, 6, 1, 1], "target": 24} and "4" in mined[0].expected
    assert mine_tests(tool_sandbox, spec, draft, trajectory(task, None), LIMITS) == ([], [])


def test_a_solver_that_is_wrong_on_its_own_task_is_a_problem(game24_task: object,
                                                             tool_sandbox: ProcessSandbox) -> None:
    task = game24_task([4, 6, 1, 1])  # type: ignore[operator]
    wrong = ('def solve(numbers: list[int], target: int = 24) -> str:\n    """Wrong."""\n'
             '    return "+".join(str(n) for n in numbers)\n')
    draft = parse_drafts(tool_answer(wrong, inputs=[{"numbers": [4, 6, 1, 1], "target": 24}, {"nope": 1}]))[0]
    spec = build_candidate(draft, namespace="box", allowed_imports=list(DEFAULT_ALLOWED_IMPORTS),
                           provenance=Provenance(), tests=[], tags=[])
    mined, problems = mine_tests(tool_sandbox, spec, draft, trajectory(task, True), LIMITS)
    assert mined == [] and len(problems) == 2
    assert "not a correct answer" in problems[0] and "does not have" in problems[1]
