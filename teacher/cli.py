"""``distillery teach`` and ``distillery trajectories``: distil a box from tasks, browse what the teacher did.

``teach`` talks to the teacher through ``--replay FILE`` (a recorded transcript, no model), an
OpenAI-compatible ``--base-url``, or (neither given) the embedded local model; ``--record FILE``
keeps a transcript of the run. Tools go to the registry in this process, or with ``--registry URL``
to a remote one over REST with a curator ``--api-key``. Progress goes to stderr; the run report to
stdout (``--json`` for machine-readable).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from registry.schemas import TrajectoryRecord
from teacher.pipeline import ProgressEvent, RunReport, Teacher
from teacher.publishing import BoxWriter, InProcessBoxWriter, RemoteBoxWriter
from teacher.state import RunJournal, journal_path
from toolbox.cli_edge import fail
from toolbox.errors import ToolboxError
from toolbox.llm.base import ChatModel
from toolbox.sandbox.base import Sandbox
from toolbox.settings import Settings, TeacherSettings

__all__ = ["teach_app", "trajectories_app"]

teach_app = typer.Typer(help="Distil a tested box of tools from a task file.", add_completion=False)
trajectories_app = typer.Typer(help="The teacher's stored trajectories.", no_args_is_help=True,
                               add_completion=False)
_err = Console(stderr=True)


def _settings(max_steps: int | None, concurrency: int | None) -> Settings:
    settings = Settings()
    overrides = {k: v for k, v in {"max_steps": max_steps, "concurrency": concurrency}.items() if v is not None}
    if overrides:
        settings.teacher = TeacherSettings.model_validate({**settings.teacher.model_dump(), **overrides})
    return settings


@contextlib.contextmanager
def _box(settings: Settings, registry: str | None, api_key: str | None) -> Iterator[tuple[BoxWriter, Sandbox]]:
    """The writer and the sandbox tools are checked in: in-process services, or a remote registry."""
    if registry is not None:
        from toolbox.sandbox import create_sandbox

        remote = RemoteBoxWriter(registry, api_key)
        sandbox = create_sandbox(settings.sandbox)
        try:
            yield remote, sandbox
        finally:
            sandbox.close()
            remote.close()
        return
    from registry.container import build_services

    services = build_services(settings)
    try:
        yield InProcessBoxWriter(services), services.sandbox
    finally:
        services.close()


def _print_report(report: RunReport, as_json: bool) -> None:
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    console = Console()
    table = Table(title=f"distillery teach: run {report.run_id} into {report.namespace}", show_header=False)
    rows: list[tuple[str, Any]] = [
        ("teacher", report.teacher_model), ("tasks", f"{report.tasks_run} run, {report.tasks_skipped} skipped "
                                                     f"(already done), {report.tasks_total} in the file"),
        ("solved", report.tasks_solved), ("tools extracted", report.tools_extracted),
        ("tools accepted", report.tools_accepted), ("published", report.published),
        ("duplicates merged", report.duplicates_merged), ("consolidations", report.consolidations),
        ("rejected", ", ".join(f"{k}: {v}" for k, v in report.rejected.items()) or "none"),
        ("held-out checks", ", ".join(f"{k}: {v}" for k, v in report.holdout_checks.items()) or "none"),
        ("tokens", f"{report.prompt_tokens} prompt + {report.completion_tokens} completion"),
        ("wall time", f"{report.wall_seconds:.1f} s"),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    for line in report.box:
        console.print(f"  • {line}")


async def _teach(teacher: Teacher, tasks: list[Any], model: ChatModel) -> RunReport:
    try:
        return await teacher.run(tasks)
    finally:
        close = getattr(model, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


@teach_app.command()
def teach(
    tasks_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Tasks as JSONL.")],
    model: Annotated[str | None, typer.Option(help="Model id at --base-url, or a local catalog name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="An OpenAI-compatible endpoint.")] = None,
    model_key: Annotated[str | None, typer.Option(help="API key of --base-url (default: settings, "
                                                       "OPENAI_API_KEY).")] = None,
    replay: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                help="Answer from a recorded transcript (no model).")] = None,
    record: Annotated[Path | None, typer.Option(dir_okay=False, help="Record the teacher's calls here.")] = None,
    namespace: Annotated[str | None, typer.Option(help="Namespace of the box (default: settings).")] = None,
    ftp: Annotated[bool, typer.Option("--ftp", help="First-thought prefix from a plain CoT answer.")] = False,
    max_steps: Annotated[int | None, typer.Option(min=1, max=50, help="CodeAct steps per task.")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64, help="Tasks solved at once.")] = None,
    activate: Annotated[bool, typer.Option("--activate", help="Make published versions active.")] = False,
    registry: Annotated[str | None, typer.Option(help="A remote registry's URL (default: in process).")] = None,
    api_key: Annotated[str | None, typer.Option(help="Curator API key of --registry.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
) -> None:
    """Solve the tasks, turn what worked into tested tools, and publish them (resumable)."""
    from teacher.replay import RecordingModel, ReplayModel
    from toolbox.llm.endpoint import chat_endpoint
    from toolbox.tasks import load_tasks

    try:
        settings = _settings(max_steps, concurrency)
        tasks = load_tasks(tasks_file)
        box_namespace = namespace or settings.teacher.namespace
        journal = RunJournal(journal_path(settings.data_dir, tasks_file, box_namespace))
        run_id = "run-" + hashlib.sha256(str(journal.path).encode()).hexdigest()[:16]
        with contextlib.ExitStack() as stack:
            chat: ChatModel
            if replay is not None:
                replayed = ReplayModel(replay)
                chat, name = replayed, replayed.model
            else:
                endpoint = stack.enter_context(chat_endpoint(settings, base_url=base_url, model=model,
                                                             api_key=model_key, local_default=settings.local.model))
                chat, name = endpoint.model, endpoint.name
            if record is not None:
                chat = RecordingModel(chat, record, model=name)
            writer, sandbox = stack.enter_context(_box(settings, registry, api_key))
            progress = stack.enter_context(Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("tools {task.fields[tools]} · tokens {task.fields[tokens]}"), TimeElapsedColumn(),
                console=_err, transient=as_json))
            bar = progress.add_task("teaching", total=len(tasks), tools=0, tokens=0)

            def on_progress(event: ProgressEvent) -> None:
                progress.update(bar, completed=event.tasks_done + (len(tasks) - event.tasks_total),
                                tools=event.tools_published, tokens=event.tokens)

            teacher = Teacher(model=chat, writer=writer, sandbox=sandbox, settings=settings, journal=journal,
                              run_id=run_id, teacher_model=name, namespace=box_namespace, activate=activate,
                              ftp=ftp, on_progress=on_progress)
            progress.update(bar, completed=len(journal.finished().keys() & {t.id for t in tasks}))
            report = asyncio.run(_teach(teacher, tasks, chat))
    except ToolboxError as exc:
        raise fail(str(exc)) from None
    _print_report(report, as_json)


def _records(settings: Settings, registry: str | None, api_key: str | None, *, run_id: str | None,
             task_id: str | None, limit: int) -> list[TrajectoryRecord]:
    if registry is not None:
        params = {"limit": str(min(limit, 200)), **({"run_id": run_id} if run_id else {}),
                  **({"task_id": task_id} if task_id else {})}
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        base = registry.rstrip("/") + ("" if registry.rstrip("/").endswith("/api/v1") else "/api/v1")
        try:
            response = httpx.get(f"{base}/trajectories", params=params, headers=headers, timeout=60)
        except httpx.HTTPError as exc:
            raise fail(f"cannot reach {base}: {exc}") from None
        if response.status_code != 200:
            raise fail(f"GET {base}/trajectories: HTTP {response.status_code}: {response.text[:300]}")
        return [TrajectoryRecord.model_validate(item) for item in response.json()["items"]]
    from registry.container import build_services

    services = build_services(settings)
    try:
        return services.trajectories.list(run_id=run_id, task_id=task_id, limit=limit)
    finally:
        services.close()


_REGISTRY = Annotated[str | None, typer.Option(help="A remote registry's URL (default: the local database).")]
_KEY = Annotated[str | None, typer.Option(help="API key of --registry.")]
_RUN = Annotated[str | None, typer.Option(help="Only this run's trajectories.")]
_TASK = Annotated[str | None, typer.Option(help="Only this task's trajectories.")]


@trajectories_app.command("list")
def list_trajectories(registry: _REGISTRY = None, api_key: _KEY = None, run_id: _RUN = None, task_id: _TASK = None,
                      limit: Annotated[int, typer.Option(min=1, max=500)] = 50) -> None:
    """List stored trajectories as JSON lines: id, task, status, correctness, tokens."""
    try:
        records = _records(Settings(), registry, api_key, run_id=run_id, task_id=task_id, limit=limit)
    except ToolboxError as exc:
        raise fail(str(exc)) from None
    for rec in records:
        typer.echo(json.dumps({"id": rec.id, "run_id": rec.run_id, "task_id": rec.task_id, "family": rec.family,
                          "status": rec.status, "correct": rec.correct, "steps": len(rec.steps),
                          "tokens": rec.prompt_tokens + rec.completion_tokens}))


@trajectories_app.command("show")
def show_trajectory(trajectory_id: Annotated[str, typer.Argument(help="The trajectory's id.")],
                    registry: _REGISTRY = None, api_key: _KEY = None) -> None:
    """Print one trajectory as JSON."""
    settings = Settings()
    try:
        if registry is not None:
            base = registry.rstrip("/") + ("" if registry.rstrip("/").endswith("/api/v1") else "/api/v1")
            headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
            response = httpx.get(f"{base}/trajectories/{trajectory_id}", headers=headers, timeout=60)
            if response.status_code != 200:
                raise fail(f"GET trajectory {trajectory_id}: HTTP {response.status_code}: {response.text[:300]}")
            record = TrajectoryRecord.model_validate(response.json())
        else:
            from registry.container import build_services

            services = build_services(settings)
            try:
                record = services.trajectories.get(trajectory_id)
            finally:
                services.close()
    except (ToolboxError, httpx.HTTPError) as exc:
        raise fail(str(exc)) from None
    typer.echo(record.model_dump_json(indent=2))


@trajectories_app.command("export")
def export_trajectories(
    output_format: Annotated[str, typer.Option("--format", help="Only 'log-data' (Kang et al.'s shape).")] = "log-data",
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False, help="Default: stdout.")] = None,
    only_correct: Annotated[bool, typer.Option("--only-correct", help="Only trajectories scored correct.")] = False,
    registry: _REGISTRY = None, api_key: _KEY = None, run_id: _RUN = None, task_id: _TASK = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 500,
) -> None:
    """Export trajectories as JSONL for fine-tuning."""
    from teacher.export import export_log_data

    if output_format != "log-data":
        raise fail(f"unknown --format {output_format!r}; the one format is 'log-data'")
    try:
        records = _records(Settings(), registry, api_key, run_id=run_id, task_id=task_id, limit=limit)
    except ToolboxError as exc:
        raise fail(str(exc)) from None
    if output is None:
        count = export_log_data(records, sys.stdout, only_correct=only_correct)
    else:
        with output.open("w", encoding="utf-8") as stream:
            count = export_log_data(records, stream, only_correct=only_correct)
    _err.print(f"exported {count} trajectories")
