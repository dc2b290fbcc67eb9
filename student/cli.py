"""The student's commands: ``distillery ask`` (and ``distillery eval``, from :mod:`student.eval.cli`)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from toolbox.cli_edge import fail

__all__ = ["ask_app", "eval_app"]

ask_app = typer.Typer(help="Ask the student one question against a live box.", add_completion=False)

ModeOption = Literal["auto", "tools", "json", "code"]


@ask_app.command()
def ask_command(
    question: Annotated[str, typer.Argument(help="The question for the student.")],
    server: Annotated[str | None, typer.Option(help="MCP endpoint (default: this machine's distillery serve).")] = None,
    stdio: Annotated[bool, typer.Option("--stdio", help="Start `distillery mcp` and talk to it over stdio.")] = False,
    box_key: Annotated[str | None, typer.Option(help="API key for the box (Authorization: Bearer).")] = None,
    model: Annotated[str | None, typer.Option(help="Model id at --base-url, or a local catalog name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint; default: a local model.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key of the model endpoint.")] = None,
    mode: Annotated[ModeOption | None, typer.Option(help="Action mode (default: settings.student.mode).")] = None,
    sag: Annotated[int | None, typer.Option(min=1, max=32, help="Candidates per step (1: off).")] = None,
    no_box: Annotated[bool, typer.Option("--no-box", help="Run without any box tools.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON instead of a trace.")] = False,
) -> None:
    """Run the student agent once and print a readable trace of every step."""
    import anyio
    from rich.console import Console

    from student.ask import ask, render_run
    from toolbox.errors import ToolboxError
    from toolbox.llm.endpoint import chat_endpoint
    from toolbox.settings import Settings

    settings = Settings()
    if sag is not None:
        settings.student = settings.student.model_copy(update={"sag_n": sag})
    try:
        with chat_endpoint(settings, base_url=base_url, model=model, api_key=api_key,
                           local_default=settings.student.model) as endpoint:
            run = anyio.run(lambda: ask(question, model=endpoint.model, model_name=endpoint.name, settings=settings,
                                        server=server, stdio=stdio, api_key=box_key,
                                        mode=mode or settings.student.mode, no_box=no_box))
    except ToolboxError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"could not reach the box ({exc}); start it with `distillery serve` or pass --server") from None
    console = Console()
    if as_json:
        console.print_json(run.model_dump_json())
    else:
        console.print(render_run(run))
    if run.stopped == "error":
        raise typer.Exit(1)


# ``distillery eval`` lives in student/eval/cli.py; LAZY_COMMANDS finds it here.
from student.eval.cli import eval_app  # noqa
