"""Answer normalisation and the majority vote of the sampling baselines."""

from __future__ import annotations

from student.eval.voting import majority, normalise_answer, public_view
from tests.student.eval.support import countdown_task


def test_normalised_answers_ignore_form_not_content() -> None:
    assert normalise_answer(" 42. ") == normalise_answer("42.0") == normalise_answer("$\\boxed{42}$")
    assert normalise_answer("1/2") == normalise_answer("0.5")
    assert normalise_answer("Tuesday") == normalise_answer("tuesday")
    assert normalise_answer("7") != normalise_answer("8")
    assert majority(["7", "8", " 8.0", None, "7.", "8"]) == ("8", 3)
    assert majority(["a", "b"]) == ("a", 1)      # a tie goes to the earliest
    assert majority([None, " "]) == (None, 0)


def test_the_public_view_of_a_task_has_no_answer_but_keeps_the_question_data() -> None:
    task = countdown_task(0, [4, 6, 1, 1], answer="4 * 6 * 1 * 1")
    public = public_view(task)
    assert public.answer is None
    assert (public.question, public.numbers, public.target) == (task.question, task.numbers, task.target)
