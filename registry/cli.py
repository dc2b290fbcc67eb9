"""``distillery db|keys|tools|corpus``: the registry's commands, working directly on the configured database.

The database is ``DISTILLERY_DATABASE_URL`` (or SQLite in the data directory); it is migrated to
the newest schema on first use. Machine-readable results are printed as JSON on stdout; a
registry or toolbox error becomes one red line on stderr and exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from registry.cli_support import ReasonOpt, RefArg, ToolArg, cli_actor, redact_url, registry_engine, split_qualified
from registry.models import Role, VersionStatus
from toolbox.cli_edge import cli_edge, emit_json, fail
from toolbox.errors import AnalysisError
from toolbox.settings import Settings

__all__ = ["corpus_app", "db_app", "keys_app", "tools_app"]

db_app = typer.Typer(help="The registry database.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys for the REST API and MCP.", no_args_is_help=True, add_completion=False)
tools_app = typer.Typer(help="Publish, list, search and curate tools.", no_args_is_help=True, add_completion=False)
corpus_app = typer.Typer(help="Retrieval corpora for the builtin retrieve tool.", no_args_is_help=True,
                         add_completion=False)


# -- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
@cli_edge
def db_upgrade() -> None:
    """Create or migrate the registry database to the newest schema."""
    from registry.migrations import current_revision

    settings = Settings()
    with registry_engine(settings) as engine, engine.connect() as connection:
        emit_json({"database": redact_url(settings.database_url), "revision": current_revision(connection)})


@db_app.command("current")
@cli_edge
def db_current() -> None:
    """Show the database's schema revision and the newest one, without migrating."""
    from registry.db import engine_from_settings
    from registry.migrations import current_revision, head_revision

    settings = Settings()
    engine = engine_from_settings(settings)
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
    finally:
        engine.dispose()
    emit_json({"database": redact_url(settings.database_url), "revision": revision, "head": head_revision()})


# -- keys -------------------------------------------------------------------------------------


def _key_json(key: Any) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "role": key.role.value,
            "namespaces": list(key.namespaces), "created_at": key.created_at.isoformat(),
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}


@keys_app.command("create")
@cli_edge
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    role: Annotated[Role, typer.Option(help="reader, curator or admin.")] = Role.reader,
    namespace: Annotated[list[str] | None, typer.Option(help="Limit the key to a namespace (repeatable).")] = None,
) -> None:
    """Create a key and print it with its secret (shown only this once)."""
    from registry.service.keys import create_key

    with registry_engine() as engine:
        key, secret = create_key(engine, name=name, role=role, namespaces=namespace or [], actor=cli_actor())
    emit_json({**_key_json(key), "secret": secret})
    typer.secho("Store the secret now: it cannot be shown again.", fg=typer.colors.YELLOW, err=True)


@keys_app.command("list")
@cli_edge
def keys_list(all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False) -> None:
    """List keys (never their secrets)."""
    from registry.service.keys import list_keys

    with registry_engine() as engine:
        emit_json([_key_json(key) for key in list_keys(engine, include_revoked=all_keys)])


@keys_app.command("revoke")
@cli_edge
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or prefix.")]) -> None:
    """Revoke a key."""
    from registry.service.keys import revoke_key

    with registry_engine() as engine:
        emit_json(_key_json(revoke_key(engine, key, actor=cli_actor())))


# -- tools ------------------------------------------------------------------------------------


@tools_app.command("publish")
@cli_edge
def tools_publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The tool's Python module.")],
    tests: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                               help="JSON list of {args, expected[, compare]}.")] = None,
    namespace: Annotated[str, typer.Option(help="The tool's namespace.")] = "default",
    name: Annotated[str | None, typer.Option(help="Default: the entrypoint's name.")] = None,
    entrypoint: Annotated[str | None, typer.Option(help="Default: the only public function.")] = None,
    description: Annotated[str | None, typer.Option(help="Default: the entrypoint's docstring.")] = None,
    changelog: Annotated[str, typer.Option(help="What changed in this version.")] = "",
    activate: Annotated[bool, typer.Option(help="Make the new version active at once.")] = False,
) -> None:
    """Check, test and publish a tool; print the outcome as JSON (exit 1 when rejected)."""
    from registry.container import build_services
    from registry.schemas import PublishOutcome
    from toolbox.analysis import build_spec

    settings = Settings()
    cases: list[Any] = []
    if tests is not None:
        try:
            cases = json.loads(tests.read_text())
        except json.JSONDecodeError as exc:
            raise fail(f"{tests} is not valid JSON: {exc}") from None
        if not isinstance(cases, list):
            raise fail(f"{tests} must hold a JSON list of {{'args': ..., 'expected': ...}} objects")
    try:
        spec = build_spec(file.read_text(), entrypoint=entrypoint, name=name, namespace=namespace,
                          description=description, tests=cases, allowed_imports=settings.sandbox.allowed_imports)
    except AnalysisError as exc:
        findings = [f.model_dump(mode="json") if isinstance(f, BaseModel) else f for f in exc.findings]
        emit_json(PublishOutcome(kind="rejected", reasons=[str(exc)], findings=findings))
        raise typer.Exit(1) from None
    with registry_engine(settings) as engine:
        services = build_services(settings, engine=engine)
        try:
            outcome = services.publisher.publish(spec, actor=cli_actor(), activate=activate, changelog=changelog)
        finally:
            services.close()
    emit_json(outcome)
    if outcome.kind == "rejected":
        raise typer.Exit(1)


@tools_app.command("list")
@cli_edge
def tools_list(
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    status: Annotated[VersionStatus | None, typer.Option(help="Only tools with a version in this status.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only tools with this tag.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Tools per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
) -> None:
    """List tools (one page; follow next_cursor)."""
    from registry.service.queries import list_tools

    with registry_engine() as engine:
        emit_json(list_tools(engine, namespace=namespace, status=status, tag=tag, cursor=cursor, limit=limit))


@tools_app.command("show")
@cli_edge
def tools_show(
    tool: Annotated[str, typer.Argument(help="NAMESPACE.NAME")],
    ref: Annotated[str | None, typer.Option(help="Show one version (id, semver, alias or 'latest').")] = None,
) -> None:
    """Show a tool with its versions, or one version in full."""
    from registry.service.queries import get_tool, get_version

    namespace, name = split_qualified(tool)
    with registry_engine() as engine:
        emit_json(get_version(engine, namespace, name, ref) if ref else get_tool(engine, namespace, name))


@tools_app.command("search")
@cli_edge
def tools_search(
    query: Annotated[str, typer.Argument(help="What the tool should do.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many hits.")] = 10,
    namespace: Annotated[list[str] | None, typer.Option(help="Only these namespaces (repeatable).")] = None,
) -> None:
    """Search active and deprecated tools."""
    from registry.service.search import SearchIndex
    from toolbox.embeddings import create_embedder

    settings = Settings()
    with registry_engine(settings) as engine:
        index = SearchIndex(engine, create_embedder(settings.embeddings))
        emit_json(index.search(query, k=k, namespaces=namespace or None))


@tools_app.command("diff")
@cli_edge
def tools_diff(
    tool: Annotated[str, typer.Argument(help="NAMESPACE.NAME")],
    base: Annotated[str, typer.Argument(help="The older version (any ref).")],
    head: Annotated[str, typer.Argument(help="The newer version (any ref).")],
) -> None:
    """Source and schema diff of two versions, with the semver classification."""
    from registry.service.diff import diff_versions

    namespace, name = split_qualified(tool)
    with registry_engine() as engine:
        emit_json(diff_versions(engine, namespace, name, base, head))


def _lifecycle(action: str, tool: str, ref: str, **kwargs: Any) -> None:
    from registry.service.curation import Curator

    namespace, name = split_qualified(tool)
    with registry_engine() as engine:
        method = getattr(Curator(engine), action)
        emit_json(method(namespace, name, ref, actor=cli_actor(), **kwargs))




@tools_app.command("approve")
@cli_edge
def tools_approve(tool: ToolArg, ref: RefArg, reason: ReasonOpt = "") -> None:
    """Make a version active."""
    _lifecycle("approve", tool, ref, reason=reason)


@tools_app.command("deprecate")
@cli_edge
def tools_deprecate(
    tool: ToolArg, ref: RefArg, reason: ReasonOpt = "",
    replacement: Annotated[str | None, typer.Option(help="NAMESPACE.NAME@REF to use instead.")] = None,
) -> None:
    """Deprecate a version, optionally naming its replacement."""
    _lifecycle("deprecate", tool, ref, reason=reason, replacement=replacement)


@tools_app.command("yank")
@cli_edge
def tools_yank(tool: ToolArg, ref: RefArg, reason: ReasonOpt = "") -> None:
    """Withdraw a version: it is never served again."""
    _lifecycle("yank", tool, ref, reason=reason)


@tools_app.command("restore")
@cli_edge
def tools_restore(tool: ToolArg, ref: RefArg, reason: ReasonOpt = "") -> None:
    """Make a deprecated or yanked version active again."""
    _lifecycle("restore", tool, ref, reason=reason)


# -- corpus -----------------------------------------------------------------------------------


@corpus_app.command("add")
@cli_edge
def corpus_add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help='JSONL, one {"id"?, "title"?, "text"} object a line.')],
    corpus: Annotated[str, typer.Option(help="The corpus to add to.")] = "default",
) -> None:
    """Add (or replace, by id) the documents of a JSONL file; nothing is added when any line is bad."""
    from registry.service.corpus import CorpusService
    from toolbox.embeddings import create_embedder

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    settings = Settings()
    with registry_engine(settings) as engine:
        count = CorpusService(engine, create_embedder(settings.embeddings)).add_jsonl(text, corpus=corpus,
                                                                                      actor=cli_actor())
    emit_json({"corpus": corpus, "added": count})


@corpus_app.command("list")
@cli_edge
def corpus_list() -> None:
    """List the corpora with their document counts."""
    from registry.service.corpus import list_corpora

    with registry_engine() as engine:
        emit_json(list_corpora(engine))
