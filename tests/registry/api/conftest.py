"""REST API fixtures: one real sandbox for the whole API suite, a fresh SQLite registry per test,
an app factory with injected services, and API keys of every role.

``api(...)`` builds a ``TestClient`` over ``create_api`` (settings can be overridden, e.g. closed
reads); ``keys`` holds a secret per role; ``auth(secret)`` is the header dict for a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from registry.api import create_api
from registry.container import RegistryServices, build_services
from registry.models import Role
from registry.service.keys import clear_key_cache, create_key
from tests.registry.api.api_support import ApiFactory, Keys, Publish, auth
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox, create_sandbox
from toolbox.settings import SandboxSettings, Settings


@pytest.fixture(scope="session")
def api_sandbox() -> Iterator[Sandbox]:
    """The configured process sandbox, shared by every API test (workers are slow to start)."""
    box = create_sandbox(SandboxSettings(workers=2))
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def services(sqlite_engine: Engine, api_sandbox: Sandbox) -> Iterator[RegistryServices]:
    """Services over a fresh SQLite registry, the shared sandbox and the hashing embedder."""
    built = build_services(Settings(), engine=sqlite_engine, sandbox=api_sandbox, embedder=HashingEmbedder())
    try:
        yield built
    finally:
        built.close()
        clear_key_cache(sqlite_engine)


@pytest.fixture
def api(services: RegistryServices) -> Iterator[ApiFactory]:
    """``api(**settings_overrides)``: a TestClient over create_api (no lifespan: services are the fixture's)."""
    clients: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        settings = Settings(**overrides)
        client = TestClient(create_api(services, settings), raise_server_exceptions=True)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(api: ApiFactory) -> TestClient:
    """A client with the default settings (loopback bind: anonymous reads allowed)."""
    return api()


@pytest.fixture
def keys(services: RegistryServices) -> Keys:
    """Keys of every role, two of them limited to the 'math' namespace."""
    engine = services.engine

    def secret(name: str, role: Role, namespaces: tuple[str, ...] = ()) -> str:
        return create_key(engine, name=name, role=role, namespaces=namespaces, actor="test")[1]

    return Keys(admin=secret("admin", Role.admin), curator=secret("curator", Role.curator),
                math_curator=secret("math-curator", Role.curator, ("math",)),
                reader=secret("reader", Role.reader), math_reader=secret("math-reader", Role.reader, ("math",)))



@pytest.fixture
def publish(client: TestClient, keys: Keys) -> Publish:
    """``publish(name, namespace=..., activate=True, key=..., expect=201, **make_spec kwargs)`` over JSON."""
    from tests.registry.factories import make_spec

    def _publish(name: str = "add", *, namespace: str = "default", activate: bool = True, key: str | None = None,
                 expect: int = 201, **spec_kwargs: Any) -> dict[str, Any]:
        spec = make_spec(name, namespace=namespace, **spec_kwargs)
        response = client.post("/api/v1/tools", json=spec.model_dump(mode="json"),
                               params={"activate": activate}, headers=auth(key or keys.curator))
        assert response.status_code == expect, response.text
        body: dict[str, Any] = response.json()
        return body

    return _publish
