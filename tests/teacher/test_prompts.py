"""Versioned prompt templates in teacher/prompts/."""

from __future__ import annotations

import pytest

from teacher.prompts import PromptError, load_prompt


def test_solve_prompt_has_a_version_and_its_placeholders() -> None:
    prompt = load_prompt("solve")
    assert prompt.name == "solve" and prompt.version == "v1"
    assert prompt.placeholders == {"functions", "allowed_imports", "max_steps"}
    text = prompt.render(functions="def add(a: int, b: int) -> int:", allowed_imports="math", max_steps=3)
    assert "final_answer(" in text and "```python" in text and "def add(a: int" in text
    assert "$" not in text


def test_cot_prompt_asks_for_a_first_paragraph_plan() -> None:
    prompt = load_prompt("cot")
    assert prompt.version == "v1" and "paragraph" in prompt.render()


def test_missing_placeholder_is_a_prompt_error() -> None:
    with pytest.raises(PromptError, match=r"needs \$functions"):
        load_prompt("solve").render(allowed_imports="math", max_steps=3)


@pytest.mark.parametrize(("name", "message"), [("nope", "no prompt named"), ("../x", "not a plain")])
def test_unknown_prompt_names_fail_clearly(name: str, message: str) -> None:
    with pytest.raises(PromptError, match=message):
        load_prompt(name)
