"""Pulling the final answer out of model text."""

from __future__ import annotations

import pytest

from toolbox.tasks import extract_final_answer

CASES = [
    ("Let me think.\nFinal answer: 42", "42"),
    ("Answer: Friday", "Friday"),
    ("**Final Answer:** (4 + 8) * (6 - 4)", "(4 + 8) * (6 - 4)"),
    ("The answer is 17.", "17."),
    ("We get \\boxed{\\frac{1}{2}} in the end.", "\\frac{1}{2}"),
    ("first \\boxed{1} then \\boxed{2}", "2"),
    ("<answer>00:34:28</answer>", "00:34:28"),
    ("<answer>1</answer> and later <ANSWER> 2 </ANSWER>", "2"),
    ("Answer: 3\nAnswer: 5", "5"),
    ("Answering this takes thought.\nIt is 9", "It is 9"),
    ("lots of work\n\n  2 \u00d7 2 \u00d7 3  \n\n", "2 \u00d7 2 \u00d7 3"),
    ("Final answer: `8 / (3 - 8 / 3)`", "8 / (3 - 8 / 3)"),
    ("", None),
    ("   \n  ", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extract_final_answer(text: str, expected: str | None) -> None:
    assert extract_final_answer(text) == expected
