"""``distillery tasks``: make task files from the families, and list the families."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from toolbox.cli_edge import fail
from toolbox.tasks.families import SPLITS, Split, families, make_tasks
from toolbox.tasks.loading import dump_tasks
from toolbox.tasks.model import TaskError

__all__ = ["tasks_app"]

tasks_app = typer.Typer(help="Task families with deterministic scorers.", no_args_is_help=True,
                        add_completion=False)


@tasks_app.command("families")
def list_families() -> None:
    """Print the task families, one a line."""
    for name in families():
        typer.echo(name)


@tasks_app.command("make")
def make(
    family: Annotated[str, typer.Argument(help="A family name; see `distillery tasks families`.")],
    split: Annotated[str, typer.Option(help="train, test or holdout.")] = "train",
    n: Annotated[int, typer.Option("--n", min=0, help="How many tasks.")] = 10,
    seed: Annotated[int | None, typer.Option(help="Another deterministic sample; default: the split's own.")] = None,
) -> None:
    """Print N tasks of FAMILY's split as JSONL on stdout (redirect it to a tasks.jsonl)."""
    try:
        tasks = make_tasks(family, _as_split(split), n, seed)
    except TaskError as exc:
        raise fail(str(exc)) from None
    dump_tasks(tasks, sys.stdout)


def _as_split(split: str) -> Split:
    """The split named ``split``, or the CLI error listing the splits."""
    for known in SPLITS:
        if known == split:
            return known
    raise fail(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
