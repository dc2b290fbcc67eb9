"""The ``distillery`` console script: the composition root.

The toolbox's own commands live here; every other package's commands are imported lazily,
only when their sub-command runs, so ``distillery check`` never imports FastAPI or SQLModel.
This is the one place in ``toolbox`` that reaches up to the other packages.
"""

from __future__ import annotations

import importlib
import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from toolbox.cli_edge import fail
from toolbox.errors import ToolboxError
from toolbox.logging import configure_logging
from toolbox.settings import Settings

__all__ = ["app", "main"]

# sub-command -> "module:attribute" of a typer app, imported on first use
LAZY_COMMANDS: dict[str, str] = {
    "db": "registry.cli:db_app",
    "keys": "registry.cli:keys_app",
    "tools": "registry.cli:tools_app",
    "corpus": "registry.cli:corpus_app",
    "review": "registry.review_cli:review_app",
    "report": "registry.report_cli:report_app",
    "export": "registry.bundle_cli:export_app",
    "import": "registry.bundle_cli:import_app",
    "serve": "server.cli:serve_app",
    "mcp": "server.cli:mcp_app",
    "model": "toolbox.llm.local.cli:model_app",
    "tasks": "toolbox.tasks.cli:tasks_app",
    "teach": "teacher.cli:teach_app",
    "trajectories": "teacher.cli:trajectories_app",
    "ask": "student.cli:ask_app",
    "eval": "student.cli:eval_app",
}


class _LazyGroup(TyperGroup):
    """The root command group; other packages' sub-commands are imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in LAZY_COMMANDS:
            module_name, attribute = LAZY_COMMANDS[cmd_name].split(":")
            command = typer.main.get_command(getattr(importlib.import_module(module_name), attribute))
            command.name = cmd_name
            return command
        return super().get_command(ctx, cmd_name)


app = typer.Typer(cls=_LazyGroup, help="Distillery: a training-free MCP toolbox server and registry.",
                  no_args_is_help=True)


@app.callback()
def _root(
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = None,
) -> None:
    configure_logging(log_level or Settings().log_level)


@app.command()
def check(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A tool's Python module.")],
    entrypoint: Annotated[str | None, typer.Option(help="Function to expose; default: the only public one.")] = None,
) -> None:
    """Print the static-analysis report of a tool module as JSON; exit 1 when it fails."""
    from toolbox.analysis import check_source

    report = check_source(file.read_text(), entrypoint, Settings().sandbox.allowed_imports)
    print(json.dumps(report.model_dump(mode="json"), indent=2))
    if not report.ok:
        raise typer.Exit(1)


@app.command("run-tool")
def run_tool(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A tool's Python module.")],
    args: Annotated[str, typer.Option("--args", help="Keyword arguments as a JSON object.")] = "{}",
    entrypoint: Annotated[str | None, typer.Option(help="Function to call; default: the only public one.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock limit in seconds.")] = None,
) -> None:
    """Check a tool module, run it once in the sandbox and print the result as JSON."""
    from toolbox.analysis import build_spec
    from toolbox.sandbox import Limits, create_sandbox

    try:
        arguments: Any = json.loads(args)
    except json.JSONDecodeError as exc:
        raise fail(f"--args is not valid JSON ({exc}); pass an object such as '{{\"x\": 1}}'") from exc
    if not isinstance(arguments, dict):
        raise fail("--args must be a JSON object of keyword arguments, such as '{\"x\": 1}'")
    settings = Settings()
    try:
        spec = build_spec(file.read_text(), entrypoint=entrypoint, allowed_imports=settings.sandbox.allowed_imports)
        limits = Limits.from_settings(settings.sandbox)
        if timeout is not None:
            limits = limits.model_copy(update={"timeout_s": timeout})
        sandbox = create_sandbox(settings.sandbox)
        try:
            result = sandbox.run(spec, arguments, limits)
        finally:
            sandbox.close()
    except ToolboxError as exc:
        raise fail(str(exc)) from exc
    print(json.dumps(result.model_dump(mode="json"), indent=2))
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def doctor() -> None:
    """Report which sandbox isolation is available here and which one is configured."""
    from toolbox.sandbox.isolation import doctor_report

    report = doctor_report(Settings().sandbox)
    print(json.dumps(report, indent=2))
    if not report["configured_available"]:
        raise typer.Exit(1)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    """Entry point of the ``distillery`` console script.

    SIGTERM exits like Ctrl-C does, through every ``with`` block, so a local model server or a
    sandbox pool this process started is stopped with it rather than left running.
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app(prog_name="distillery")
