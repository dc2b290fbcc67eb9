"""MCP server fixtures.

- ``server_sandbox``: one real process sandbox for the whole server suite (workers are slow to start).
- ``registry``: per test module, a SQLite registry with the fixture tools of ``tests.server.support``
  published and activated; ``registry.services`` are real services on that database.
- ``make_server(**server_settings)``: an in-process ``DistilleryServer`` (endpoint ``/mcp`` unless
  ``namespaces=`` / ``toolset=`` are given) over ``registry``, for ``mcp.Client(server)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry.container import RegistryServices, build_services
from registry.service.keys import clear_key_cache
from server.mcp_server import DistilleryServer, build_mcp_server
from server.runtime import McpRuntime
from tests.server.support import fixture_specs, publish, sandbox_uid, server_settings
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox, create_sandbox
from toolbox.settings import SandboxSettings, Settings


@dataclass
class Registry:
    """A registry database with the fixture tools, and services over it."""

    url: str
    settings: Settings
    services: RegistryServices
    directory: Path


MakeServer = Callable[..., DistilleryServer]


@pytest.fixture(scope="session")
def server_sandbox() -> Iterator[Sandbox]:
    """The configured process sandbox, shared by every server test."""
    box = create_sandbox(SandboxSettings(workers=2, preload_modules=[], run_as_uid=sandbox_uid()))
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, server_sandbox: Sandbox) -> Iterator[Registry]:
    """A SQLite registry for this module, migrated, with the fixture tools active."""
    directory = tmp_path_factory.mktemp("server-registry")
    url = f"sqlite:///{directory / 'registry.db'}"
    settings = server_settings(url)
    services = build_services(settings, sandbox=server_sandbox, embedder=HashingEmbedder())
    try:
        for spec in fixture_specs():
            publish(services, spec)
        yield Registry(url=url, settings=settings, services=services, directory=directory)
    finally:
        services.close()
        clear_key_cache(services.engine)


@pytest.fixture
def make_server(registry: Registry) -> MakeServer:
    """``make_server(namespaces=None, toolset=None, timeout_s=..., progress_interval_s=..., **server_settings)``."""

    def factory(*, namespaces: Sequence[str] | None = None, toolset: str | None = None,
                timeout_s: float | None = None, progress_interval_s: float = 1.0, **server: Any) -> DistilleryServer:
        base = registry.settings
        settings = base.model_copy(update={
            "server": base.server.model_copy(update=server),
            "sandbox": base.sandbox.model_copy(update={"timeout_s": timeout_s or base.sandbox.timeout_s}),
        })
        runtime = McpRuntime(registry.services, settings, progress_interval_s=progress_interval_s)
        return build_mcp_server(runtime, endpoint_namespaces=namespaces, toolset=toolset)

    return factory
