"""The teacher's prompts: versioned templates stored as ``teacher/prompts/<name>.md``.

Each file opens with a front-matter block that names its version::

    ---
    version: v1
    ---
    The template text, with ``$placeholders`` (``string.Template``; ``$$`` is a literal dollar).

Every stored trajectory records the version of the prompt that produced it, so a changed prompt
must get a new version line.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict

from toolbox.errors import ToolboxError

__all__ = ["Prompt", "PromptError", "load_prompt"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(?P<header>.*?)\n---\s*\n(?P<text>.*)\Z", re.DOTALL)
_VERSION = re.compile(r"^version:\s*(?P<version>v\d+(?:\.\d+)*)\s*$", re.MULTILINE)


class PromptError(ToolboxError):
    """A prompt file that is missing, has no version line, or a template that cannot be filled."""


class Prompt(BaseModel):
    """One prompt template: its file name, its version and its ``string.Template`` text."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    text: str

    @property
    def placeholders(self) -> set[str]:
        """The ``$names`` the template expects."""
        template = string.Template(self.text)
        return set(template.get_identifiers())

    def render(self, **values: Any) -> str:
        """The template filled with ``values``; a missing placeholder is a :class:`PromptError`."""
        try:
            return string.Template(self.text).substitute({key: str(value) for key, value in values.items()})
        except KeyError as error:
            raise PromptError(
                f"prompt {self.name} {self.version} needs ${error.args[0]}; pass it to render()"
            ) from error
        except ValueError as error:
            raise PromptError(f"prompt {self.name} {self.version} is not a valid template: {error}") from error


def load_prompt(name: str) -> Prompt:
    """Read ``teacher/prompts/<name>.md`` and its ``version: vN`` front-matter line."""
    if not _NAME.match(name):
        raise PromptError(f"prompt name {name!r} is not a plain lower-case file name (e.g. 'solve')")
    resource = resources.files(__name__).joinpath(f"{name}.md")
    if not resource.is_file():
        raise PromptError(f"no prompt named {name!r}: teacher/prompts/{name}.md does not exist")
    raw = resource.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(raw)
    version = _VERSION.search(match.group("header")) if match else None
    if match is None or version is None:
        raise PromptError(
            f"teacher/prompts/{name}.md has no front matter with a version line; start it with "
            "'---', 'version: v1', '---'"
        )
    return Prompt(name=name, version=version.group("version"), text=match.group("text"))
