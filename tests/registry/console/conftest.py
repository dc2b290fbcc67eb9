"""Console fixtures: the whole Distillery app (REST, console, MCP) over a fresh SQLite registry per test.

- ``console_sandbox``: one real process sandbox for the console tests (publishing runs tool tests in it).
- ``services``: real services over a fresh database, the shared sandbox and the hashing embedder.
- ``console(**settings)``: a ``TestClient`` over ``server.app.create_app`` (no lifespan: services are the fixture's).
- ``keys``: secrets of a curator, a reader and an admin key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from registry.container import RegistryServices, build_services
from registry.models import Role
from registry.service.keys import clear_key_cache, create_key
from server.app import create_app
from tests.registry.api.api_support import Keys
from tests.server.support import sandbox_uid
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox, create_sandbox
from toolbox.settings import SandboxSettings, Settings

ConsoleFactory = Callable[..., TestClient]


@pytest.fixture(scope="session")
def console_sandbox() -> Iterator[Sandbox]:
    """The process sandbox shared by the console tests (its own uids: sandboxes sharing uids collide)."""
    box = create_sandbox(SandboxSettings(workers=1, preload_modules=[], run_as_uid=sandbox_uid()))
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def services(sqlite_engine: Engine, console_sandbox: Sandbox) -> Iterator[RegistryServices]:
    """Services over a fresh SQLite registry."""
    built = build_services(Settings(), engine=sqlite_engine, sandbox=console_sandbox, embedder=HashingEmbedder())
    try:
        yield built
    finally:
        built.close()
        clear_key_cache(sqlite_engine)


@pytest.fixture
def console(services: RegistryServices) -> Iterator[ConsoleFactory]:
    """``console(**settings_overrides)``: a client of the full app over ``services``."""
    clients: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        client = TestClient(create_app(Settings(**overrides), services=services), raise_server_exceptions=True)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(console: ConsoleFactory) -> TestClient:
    """A client of the app with the default settings (loopback bind: anonymous reads allowed)."""
    return console()


@pytest.fixture
def keys(services: RegistryServices) -> Keys:
    """Keys of every role, two limited to the 'math' namespace."""
    def secret(name: str, role: Role, namespaces: tuple[str, ...] = ()) -> str:
        return create_key(services.engine, name=name, role=role, namespaces=namespaces, actor="test")[1]

    return Keys(admin=secret("admin", Role.admin), curator=secret("curator", Role.curator),
                math_curator=secret("math-curator", Role.curator, ("math",)),
                reader=secret("reader", Role.reader), math_reader=secret("math-reader", Role.reader, ("math",)))
