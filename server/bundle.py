"""``distillery mcp --bundle FILE``: serve one bundle over stdio, read-only, with no registry database.

The bundle is verified and imported (``registry.service.bundle_import``: the same checks as any
import) into a SQLite registry in a private temporary directory, which is then reopened with every
connection ``PRAGMA query_only``, and served by the same ``serve_stdio`` as ``distillery mcp``: the
same catalog, sandbox, ``tools/list``, ``tools/call``, ``search_tools`` and ``call_tool``. Usage is
not counted, so nothing is ever written: a write would fail in SQLite itself ("attempt to write a
readonly database"), and the bundle file is only read. The directory goes when the server stops.

Why a temporary file rather than ``sqlite://`` in memory: an in-memory database lives on one
connection, which the server's worker threads would then share; a file gives each thread its own
pooled connection, exactly as the served registry does, and is gone when the server exits.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from registry.db import make_engine
from registry.migrations import upgrade
from registry.service.bundle_import import BundleImporter
from server.stdio import serve_stdio
from toolbox.logging import get_logger
from toolbox.settings import Settings

__all__ = ["bundle_registry", "serve_bundle"]

logger = get_logger("server.bundle")


def _query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


@contextmanager
def bundle_registry(path: Path, settings: Settings) -> Iterator[Engine]:
    """A read-only registry holding the verified bundle at ``path`` (a ``BundleError`` if it is bad)."""
    with tempfile.TemporaryDirectory(prefix="distillery-bundle-") as directory:
        url = f"sqlite:///{Path(directory) / 'registry.db'}"
        loader = make_engine(url)
        try:
            upgrade(loader)
            report = BundleImporter(loader, settings).import_file(path, actor="bundle")
        finally:
            loader.dispose()
        logger.info("serving bundle %s (payload sha256 %s): %d version(s), %d flagged for review", path,
                    report.payload_sha256, len(report.versions_added), len(report.flagged_for_review))
        engine = make_engine(url)
        event.listen(engine, "connect", _query_only)
        try:
            yield engine
        finally:
            engine.dispose()


async def serve_bundle(path: Path, settings: Settings) -> None:
    """Serve the bundle at ``path`` on stdin/stdout until the client closes the stream."""
    with bundle_registry(path, settings) as engine:
        await serve_stdio(settings, engine=engine, read_only=True)
