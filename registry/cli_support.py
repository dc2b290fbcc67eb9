"""What every registry command line shares: the migrated engine, the audit actor, tool references.

``registry/cli.py``, ``registry/review_cli.py`` and the other registry sub-commands import these, with
``toolbox.cli_edge`` for the error edge and JSON output.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from toolbox.settings import Settings

__all__ = ["ReasonOpt", "RefArg", "ToolArg", "cli_actor", "redact_url", "registry_engine", "split_qualified"]

ToolArg = Annotated[str, typer.Argument(help="NAMESPACE.NAME")]
RefArg = Annotated[str, typer.Argument(help="Version id, semver, alias or 'latest'.")]
ReasonOpt = Annotated[str, typer.Option(help="Why (kept in the audit log).")]


@contextmanager
def registry_engine(settings: Settings | None = None) -> Iterator[Engine]:
    """The configured database, migrated to the newest schema; disposed on exit."""
    from registry.db import engine_from_settings
    from registry.migrations import upgrade

    engine = engine_from_settings(settings or Settings())
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def cli_actor() -> str:
    """The audit log's actor for a command run by this OS user (``cli:<user>``)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"[:64]


def redact_url(url: str) -> str:
    """A database URL fit to print: its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def split_qualified(qualified: str) -> tuple[str, str]:
    """``namespace.name`` as ``(namespace, name)``; a bare name is in the ``default`` namespace."""
    namespace, dot, name = qualified.partition(".")
    return (namespace, name) if dot else ("default", namespace)
