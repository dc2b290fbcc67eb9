"""Live updates across processes: two ``distillery serve`` on one database, a third process curating.

A modern listener on server A and a legacy client on server B each get a change notice after every
publish, deprecate and yank done by ``distillery tools ...`` in its own process, and re-listing shows
the change. Runs on SQLite (revision polling) and PostgreSQL (LISTEN/NOTIFY).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import mcp_types as types
import pytest
from sqlalchemy import text

from registry.container import build_services
from registry.db import make_engine
from tests.registry.conftest import POSTGRES_URL, postgres_unavailable
from tests.registry.factories import tool_source
from tests.server.support import Notices, connect, names, next_event, server_env, server_settings
from tests.support.serve import DISTILLERY, ServerProcess
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox

pytestmark = pytest.mark.anyio


@dataclass
class Pair:
    """Two servers on one database, and the environment a third process uses to curate it."""

    url_a: str
    url_b: str
    env: dict[str, str]
    directory: Path


def _postgres_schema_url() -> Iterator[str]:
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("DISTILLERY_TEST_POSTGRES") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         server_sandbox: Sandbox) -> Iterator[Pair]:
    """Servers A and B on one fresh, migrated database of the parametrised backend."""
    directory = tmp_path_factory.mktemp(f"live-{request.param}")
    urls = iter([f"sqlite:///{directory / 'live.db'}"]) if request.param == "sqlite" else _postgres_schema_url()
    url = next(urls)
    try:
        build_services(server_settings(url), sandbox=server_sandbox, embedder=HashingEmbedder()).close()  # migrate
        servers = [ServerProcess(server_env(url), directory / f"{label}.log") for label in "ab"]
        try:
            for server in servers:
                server.wait_ready()
            yield Pair(f"{servers[0].url}/mcp", f"{servers[1].url}/mcp", server_env(url), directory)
        finally:
            for server in servers:
                server.stop()
    finally:
        for _rest in urls:  # drop the PostgreSQL schema
            pass


def _cli(pair: Pair, *args: str) -> None:
    done = subprocess.run([DISTILLERY, "tools", *args], env=pair.env, capture_output=True, text=True, timeout=90,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _find(listing: types.ListToolsResult, name: str) -> types.Tool | None:
    return next((tool for tool in listing.tools if tool.name == name), None)


async def test_changes_by_a_third_process_reach_both_servers_and_both_eras(pair: Pair) -> None:
    source = pair.directory / "cube.py"
    source.write_text(tool_source("cube", "x: int", "return x ** 3", "int", doc="Cube an integer."))
    tests = pair.directory / "cube.json"
    tests.write_text(json.dumps([{"args": {"x": 2}, "expected": 8}]))

    def published(tool: types.Tool | None) -> bool:
        return tool is not None and (tool.meta or {})["io.distillery/status"] == "active"

    def deprecated(tool: types.Tool | None) -> bool:
        return tool is not None and bool(tool.description and tool.description.startswith("[DEPRECATED"))

    def gone(tool: types.Tool | None) -> bool:
        return tool is None

    steps: list[tuple[tuple[str, ...], Callable[[types.Tool | None], bool]]] = [
        (("publish", str(source), "--tests", str(tests), "--namespace", "live", "--activate"), published),
        (("deprecate", "live.cube", "latest"), deprecated),
        (("yank", "live.cube", "latest"), gone),
    ]
    notices = Notices()
    async with connect(pair.url_a) as modern, modern.listen(tools_list_changed=True) as subscription, \
            connect(pair.url_b, mode="legacy", message_handler=notices.handler) as legacy:
        assert "live.cube" not in names(await modern.list_tools())
        for args, check in steps:
            before = notices.count
            await anyio.to_thread.run_sync(_cli, pair, *args)
            await next_event(subscription)
            await notices.wait_beyond(before)
            assert check(_find(await modern.list_tools(), "live.cube")), args[0]
            assert check(_find(await legacy.list_tools(), "live.cube")), args[0]
