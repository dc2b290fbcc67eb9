"""Drafts taken from a solved trajectory's own code when the teacher's extraction answer holds none."""

from __future__ import annotations

from collections.abc import Callable

from teacher.code_drafts import drafts_from_code, with_trajectory_code
from teacher.drafts import ToolDraft
from teacher.trajectory import TeacherStep, TeacherTrajectory
from toolbox.tasks import Task

FACTORS = '''import math

def _is_prime(n: int) -> bool:
    return n > 1 and all(n % p for p in range(2, math.isqrt(n) + 1))

def prime_factors(n: int) -> str:
    """The prime factors of n, joined by ' x '."""
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(str(p))
            n //= p
        p += 1
    return " x ".join(out)

print(prime_factors(262), prime_factors(n=12))
'''


def trajectory(task: Task, cells: list[tuple[str, bool]], *, printed: str = "",
               final: str | None = None) -> TeacherTrajectory:
    """A solved trajectory whose steps ran ``cells`` (code, ran cleanly), each printing ``printed``."""
    steps = [TeacherStep(index=i, thought="", code=code, observation=printed, ok=ok)
             for i, (code, ok) in enumerate(cells)]
    return TeacherTrajectory(id="traj-1", run_id="run-1", task=task, steps=steps, status="solved",
                             prompt_version="v1", teacher_model="scripted", final_answer=final)


def test_a_function_called_with_literals_becomes_a_draft_with_its_imports_and_inputs(
        game24_task: Callable[..., Task]) -> None:
    cells = [("def prime_factors(n):\n    return 'broken'\n", True), (FACTORS, True),
             ("final_answer(prime_factors(262))", True), ("prime_factors(7)\nsyntax error here", False)]
    drafts = drafts_from_code(trajectory(game24_task(), cells))
    assert [d.name for d in drafts] == ["prime_factors"]
    draft = drafts[0]
    assert draft.trajectory_inputs == [{"n": 262}, {"n": 12}] and draft.role == "solver"
    assert draft.source.startswith("import math")
    assert "'broken'" not in draft.source and "join(out)" in draft.source
    namespace: dict[str, object] = {}
    exec(compile(draft.source, "<draft>", "exec"), namespace)  # trusted test source, not a teacher's
    assert namespace["prime_factors"](12) == "2 x 2 x 3"  # type: ignore[operator]


def test_code_without_literal_calls_gives_no_draft(game24_task: Callable[..., Task]) -> None:
    cells = [("def f(x: int) -> int:\n    return x + 1\n\nvalue = 3\nprint(f(value))", True)]
    assert drafts_from_code(trajectory(game24_task(), cells)) == []


def test_a_function_whose_printed_output_was_the_final_answer_is_a_solver(game24_task: Callable[..., Task]) -> None:
    cells = [("def f(x: int) -> int:\n    return x + 1\n\nprint(f(27))", True)]
    assert [d.role for d in drafts_from_code(trajectory(game24_task(), cells, printed="28", final="28"))] == ["solver"]
    assert [d.role for d in drafts_from_code(trajectory(game24_task(), cells, printed="28", final="29"))] == ["helper"]


def test_an_extracted_draft_without_code_gets_the_trajectorys_function(game24_task: Callable[..., Task]) -> None:
    solved = trajectory(game24_task(), [(FACTORS, True)])
    named = ToolDraft(name="prime_factors", role="solver", source="the provided code snippet",
                      tests=[{"args": {"n": 12}, "expected": "2 x 2 x 3"}])
    stranger = ToolDraft(name="fix_code", source="https://example.invalid/fix")
    real = ToolDraft(name="double", source="def double(x: int) -> int:\n    return 2 * x\n")
    swapped, left, kept = with_trajectory_code([named, stranger, real], solved)
    assert "join(out)" in swapped.source and swapped.tests == named.tests and swapped.role == "solver"
    assert swapped.trajectory_inputs == [{"n": 262}, {"n": 12}] and (left, kept) == (stranger, real)
    # no draft has code: the trajectory's functions join it (the unparseable one stays for the repair rounds)
    assert [d.name for d in with_trajectory_code([stranger], solved)] == ["fix_code", "prime_factors"]
    assert with_trajectory_code([stranger], trajectory(game24_task(), [("x = 1", True)])) == [stranger]


def test_a_draft_gets_the_session_prelude_imports_its_function_uses(game24_task: Callable[..., Task]) -> None:
    cells = [("def later(day: str, days: int) -> str:\n    start = datetime.strptime(day, '%Y-%m-%d')\n"
              "    return (start + timedelta(days=days)).strftime('%A')\n\nprint(later('2022-04-18', 4))", True)]
    [draft] = drafts_from_code(trajectory(game24_task(), cells))
    assert draft.source.startswith("from datetime import datetime\nfrom datetime import timedelta\n")
    namespace: dict[str, object] = {}
    exec(compile(draft.source, "<draft>", "exec"), namespace)  # trusted test source, not a teacher's
    assert namespace["later"]("2022-04-18", 4) == "Friday"  # type: ignore[operator]
