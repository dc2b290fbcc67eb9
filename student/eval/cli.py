"""``distillery eval``: the student against a box, with matched-compute baselines, and ``eval compare``.

``distillery eval TASKS ...`` runs an evaluation (it is ``distillery eval run TASKS ...``: a first
argument that is not a sub-command goes to ``run``); ``distillery eval compare DIR... --out chart.png``
draws the runs side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from student.eval.box import BoxInfo, mcp_url, open_box, serve_namespace
from student.eval.config import EvalConfig, Split
from student.eval.evaluate import EvalOutcome, check_config, evaluate
from student.eval.report import compare_chart, comparison_table
from student.eval.results import EvalError
from student.eval.systems import AgentFactory, student_agent_factory
from toolbox.cli_edge import fail
from toolbox.errors import ToolboxError
from toolbox.llm.endpoint import Endpoint, chat_endpoint
from toolbox.settings import Settings

__all__ = ["eval_app"]

class _RunByDefault(TyperGroup):
    """A group whose first argument, when it is not a sub-command (or help), goes to ``run``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(cls=_RunByDefault, help="Evaluate the student with and without the box "
                       "(`distillery eval TASKS --out DIR` is short for `distillery eval run TASKS --out DIR`).",
                       no_args_is_help=True, add_completion=False)


def make_agent_factory(settings: Settings, sag: int) -> AgentFactory:
    """The student agent the runs use (tests replace this seam with a fake agent)."""
    return student_agent_factory(settings, sag=sag)


@contextlib.contextmanager
def _server_url(settings: Settings, config: EvalConfig) -> Iterator[tuple[str, bool] | None]:
    """The box's MCP URL and whether it was started here (None for --no-box)."""
    if config.no_box:
        yield None
    elif config.server:
        yield mcp_url(config.server, config.box), False
    else:
        assert config.box is not None  # check_config guarantees --server or --box
        with serve_namespace(settings, config.box, builtin=config.builtin) as base:
            yield mcp_url(base, config.box), True


@contextlib.asynccontextmanager
async def _box(config: EvalConfig, where: tuple[str, bool] | None) -> AsyncIterator[BoxInfo | None]:
    if where is None:
        yield None
        return
    async with open_box(where[0], config.box, config.server_key, started_here=where[1]) as box:
        yield box


async def _evaluate(config: EvalConfig, settings: Settings, endpoint: Endpoint, where: tuple[str, bool] | None,
                    console: Console) -> EvalOutcome:
    record = {"name": endpoint.name, "base_url": endpoint.base_url, "local": endpoint.local}
    try:
        async with _box(config, where) as box:
            return await evaluate(config, settings, model=endpoint.model, model_record=record, box=box,
                                  agent_factory=make_agent_factory(settings, config.sag), show_progress=True,
                                  console=console)
    finally:
        with contextlib.suppress(RuntimeError, AttributeError):
            await endpoint.aclose()


def _print_outcome(console: Console, outcome: EvalOutcome) -> None:
    console.print(comparison_table(outcome.summaries), markup=False, highlight=False)
    for name, out_dir in outcome.out_dirs.items():
        console.print(f"{name}: {out_dir / 'summary.json'}", markup=False)
    if outcome.comparison is not None:
        console.print(f"comparison: {outcome.comparison}", markup=False)


@eval_app.command("run")
def run_command(
    tasks: Annotated[str, typer.Argument(help="A tasks JSONL file (toolbox.tasks format) or a family name.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.jsonl and the summaries.")],
    split: Annotated[str, typer.Option(help="train, test or holdout (for a family name).")] = "test",
    model: Annotated[str | None, typer.Option(help="Model id (remote) or catalog name (local).")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint; default: the local model.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key of the model endpoint.")] = None,
    server: Annotated[str | None, typer.Option(help="A running Distillery: base URL or MCP URL.")] = None,
    server_key: Annotated[str | None, typer.Option(help="API key of the Distillery server.")] = None,
    box: Annotated[str | None, typer.Option(help="Box namespace; without --server a server is started here.")] = None,
    no_box: Annotated[bool, typer.Option("--no-box", help="Run the student without any box.")] = False,
    builtin: Annotated[bool, typer.Option("--builtin", help="Serve the builtin python/retrieve tools beside the box "
                                                           "(with --box, no --server).")] = False,
    mode: Annotated[str | None, typer.Option(help="auto, tools, json or code (default: settings.student.mode; "
                                                  "auto probes the endpoint for tool calling).")] = None,
    sag: Annotated[int | None, typer.Option(min=1, max=32, help="SAG candidates per step (1 = off).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate at most this many tasks.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Tasks in flight at once.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed of the family's task sample.")] = None,
    baselines: Annotated[bool, typer.Option("--baselines", help="Also run every baseline, matched compute.")] = False,
    k: Annotated[int | None, typer.Option(min=1, help="Samples of the sampling baselines (at least the box's).")]
    = None,
    allow_train: Annotated[bool, typer.Option("--allow-train", help="Allow a box run on the train split.")] = False,
) -> None:
    """Run the student on TASKS (with the box unless --no-box) and write results.jsonl and summaries."""
    settings = Settings()
    chosen_mode = mode or settings.student.mode
    if chosen_mode not in ("auto", "tools", "json", "code"):
        raise fail(f"--mode must be auto, tools, json or code, got {chosen_mode!r}")
    if split not in ("train", "test", "holdout"):
        raise fail(f"--split must be train, test or holdout, got {split!r}")
    chosen_split: Split = split  # type: ignore[assignment]
    try:
        config = EvalConfig(
            tasks=tasks, split=chosen_split, limit=limit, model=model, base_url=base_url, api_key=api_key,
            server=server, server_key=server_key, box=box, no_box=no_box, builtin=builtin, mode=chosen_mode,
            sag=sag or settings.student.sag_n, concurrency=concurrency, seed=seed, baselines=baselines, k=k,
            allow_train=allow_train, out=out)
        check_config(config)
    except (ValueError, ToolboxError) as exc:
        raise fail(str(exc)) from None
    console = Console(stderr=True)
    try:
        with chat_endpoint(settings, base_url=config.base_url, model=config.model, api_key=config.api_key,
                           local_default=settings.student.model) as endpoint, \
                _server_url(settings, config) as where:
            outcome = asyncio.run(_evaluate(config, settings, endpoint, where, console))
    except ToolboxError as exc:
        raise fail(str(exc)) from None
    except ExceptionGroup as group:  # an error raised while the box connection's task group was open
        ours, others = group.split(lambda exc: isinstance(exc, ToolboxError))
        if ours is None or others is not None:
            raise
        raise fail(str(_first_leaf(ours))) from None
    _print_outcome(Console(), outcome)


def _first_leaf(group: BaseExceptionGroup[Exception]) -> BaseException:
    """The first exception of a (nested) exception group."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


@eval_app.command("compare")
def compare_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders written by `distillery eval`.")],
    out: Annotated[Path, typer.Option("--out", help="The PNG chart to write.")],
) -> None:
    """Draw accuracy with 95% intervals for several runs as a PNG and print their comparison table."""
    from student.eval.report import read_summary

    try:
        summaries: dict[str, Any] = {}
        for run_dir in runs:
            summary = read_summary(run_dir)
            summaries[f"{summary.get('system') or run_dir.name} ({run_dir})"] = summary
        compare_chart(runs, out)
    except EvalError as exc:
        raise fail(str(exc)) from None
    console = Console()
    console.print(comparison_table(summaries), markup=False, highlight=False)
    console.print(f"chart: {out}", markup=False)
