"""The error edge every package's command line shares: one red line and an exit code, JSON on stdout.

Each package's ``cli.py`` imports these rather than the composition root (``toolbox/cli.py``), so a
sub-command never reaches upward. ``cli_edge`` is the one place where Distillery's errors
(``ToolboxError``, the base of every package's hierarchy) and pydantic's input errors become a message
for a person instead of a traceback.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from toolbox.errors import ToolboxError

__all__ = ["cli_edge", "emit_json", "fail"]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` in red on stderr; returns the ``typer.Exit`` to raise (every CLI's edge)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def cli_edge(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so Distillery's errors and invalid input become one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ToolboxError as exc:
            raise fail(str(exc) or type(exc).__name__) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "input"
            raise fail(f"{where}: {first['msg']}") from None

    return wrapper


def emit_json(value: Any) -> None:
    """Print ``value`` (a model, a list of models, or plain JSON data) as indented JSON on stdout."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value]
    typer.echo(json.dumps(value, indent=2, default=str))
