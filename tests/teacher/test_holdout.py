"""The held-out gate: tools must work on fresh instances of their family, through the check that fits."""

from __future__ import annotations

from collections.abc import Callable

from teacher.drafts import ToolDraft
from teacher.holdout import countdown_arguments, fresh_instances, holdout_gate
from tests.teacher.distil_fixtures import (
    PARSE_DATE_QUESTION,
    SOLVE_COUNTDOWN,
    WEEKDAY_INDEX,
    WEEKDAY_NAME,
    weekday_tasks,
)
from toolbox.analysis import build_spec
from toolbox.sandbox.base import Limits
from toolbox.sandbox.process import ProcessSandbox
from toolbox.settings import DEFAULT_ALLOWED_IMPORTS
from toolbox.spec import ToolSpec
from toolbox.tasks import Task, make_tasks

LIMITS = Limits(timeout_s=5.0)


def spec_of(source: str) -> ToolSpec:
    return build_spec(source, allowed_imports=DEFAULT_ALLOWED_IMPORTS)


def draft(source: str, role: str = "solver", adapter: str | None = None) -> ToolDraft:
    return ToolDraft(source=source, role=role, parse_question=adapter)  # type: ignore[arg-type]


def test_countdown_arguments_map_numbers_and_target_by_name_and_type(game24_task: Callable[..., Task]) -> None:
    task = game24_task([4, 6, 1, 1])
    assert countdown_arguments(spec_of(SOLVE_COUNTDOWN), task) == {"numbers": [4, 6, 1, 1], "target": 24}
    assert countdown_arguments(spec_of(WEEKDAY_NAME), task) is None


def test_fresh_calendar_instances_are_of_the_tasks_own_kind() -> None:
    task = weekday_tasks(1)[0]
    fresh = fresh_instances(task, 3)
    assert len(fresh) == 3 and all(t.meta["rg_metadata"]["task"] == "weekday_of_date" for t in fresh)
    assert not {t.question for t in fresh} & {t.question for t in make_tasks("calendar_arithmetic", "train", 60)}


def test_a_countdown_solver_is_scored_on_fresh_game24_tasks(game24_task: Callable[..., Task],
                                                            tool_sandbox: ProcessSandbox) -> None:
    result = holdout_gate(tool_sandbox, spec_of(SOLVE_COUNTDOWN), draft(SOLVE_COUNTDOWN), game24_task(), 2, LIMITS)
    assert (result.check, result.passed, result.instances) == ("scored-by-parameters", True, 2)


def test_a_solver_that_only_knew_its_own_task_fails_the_gate(game24_task: Callable[..., Task],
                                                             tool_sandbox: ProcessSandbox) -> None:
    memorised = ('def solve(numbers: list[int], target: int = 24) -> str:\n    """Memorised."""\n'
                 '    return "4 * 6 * 1 * 1"\n')
    result = holdout_gate(tool_sandbox, spec_of(memorised), draft(memorised), game24_task([4, 6, 1, 1]), 2, LIMITS)
    assert result.check == "scored-by-parameters" and not result.passed
    assert len(result.failures) == 2 and "held-out gate" in result.reason


def test_other_families_run_through_the_teachers_adapter(tool_sandbox: ProcessSandbox) -> None:
    task = weekday_tasks(1)[0]
    solver = holdout_gate(tool_sandbox, spec_of(WEEKDAY_NAME), draft(WEEKDAY_NAME, adapter=PARSE_DATE_QUESTION),
                          task, 3, LIMITS)
    assert (solver.check, solver.passed, solver.instances) == ("scored-with-adapter", True, 3)
    helper = holdout_gate(tool_sandbox, spec_of(WEEKDAY_INDEX),
                          draft(WEEKDAY_INDEX, role="helper", adapter=PARSE_DATE_QUESTION), task, 3, LIMITS)
    assert (helper.check, helper.passed) == ("ran-with-adapter", True)
    wrong = holdout_gate(tool_sandbox, spec_of(WEEKDAY_INDEX), draft(WEEKDAY_INDEX, adapter=PARSE_DATE_QUESTION),
                         task, 3, LIMITS)
    assert wrong.check == "scored-with-adapter" and not wrong.passed


def test_no_adapter_fails_and_no_generator_passes(tool_sandbox: ProcessSandbox) -> None:
    task = weekday_tasks(1)[0]
    missing = holdout_gate(tool_sandbox, spec_of(WEEKDAY_NAME), draft(WEEKDAY_NAME), task, 2, LIMITS)
    assert missing.check == "no-adapter" and not missing.passed and "parse_question" in missing.failures[0]
    handmade = task.model_copy(update={"family": "my_own_family"})
    assert holdout_gate(tool_sandbox, spec_of(WEEKDAY_NAME), draft(WEEKDAY_NAME), handmade, 2, LIMITS).check == \
        "no-generator"
    assert holdout_gate(tool_sandbox, spec_of(WEEKDAY_NAME), draft(WEEKDAY_NAME), task, 0, LIMITS).passed


FACTORS = '''def prime_factors(n: int) -> str:
    """The prime factors of n, joined by a multiplication sign."""
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(str(p))
            n //= p
        p += 1
    return " \\u00d7 ".join(out)
'''


def test_trajectory_inputs_that_equal_metadata_fields_map_fresh_tasks(tool_sandbox: ProcessSandbox) -> None:
    task = make_tasks("prime_factorization", "train", 1)[0]
    number = task.meta["rg_metadata"]["number"]
    solver = ToolDraft(source=FACTORS, role="solver", trajectory_inputs=[{"n": number}])
    result = holdout_gate(tool_sandbox, spec_of(FACTORS), solver, task, 3, LIMITS)
    assert (result.check, result.passed, result.instances) == ("scored-by-metadata", True, 3)
    wrong = FACTORS.replace(".join(out)", ".join(out[:1])")
    failed = holdout_gate(tool_sandbox, spec_of(wrong), solver, task, 3, LIMITS)
    assert failed.check == "scored-by-metadata" and not failed.passed
    unmatched = ToolDraft(source=FACTORS, role="solver", trajectory_inputs=[{"n": number + 1}])
    assert holdout_gate(tool_sandbox, spec_of(FACTORS), unmatched, task, 3, LIMITS).check == "no-adapter"
