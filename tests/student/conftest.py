"""Student fixtures: one real ``distillery serve`` over a registry with the example tools.

- ``box_registry`` (session): a SQLite registry with ``examples/tools`` (add_numbers, solve24) published in
  namespace ``examples``, plus ``examples.safe_div`` (raises on b == 0) and ``examples.greet``.
- ``box_server`` (session): a ``distillery serve`` subprocess on that registry; ``box_server.mcp_url``.
- ``box``: a fresh :class:`student.connection.BoxConnection` over streamable HTTP for one test.
- ``student_settings(**overrides)``: ``StudentSettings`` for a test; ``make_agent(model, mode, ...)``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry.container import RegistryServices, build_services
from student.agent import StudentAgent
from student.connection import BoxConnection, connect_http
from student.trace import Mode
from tests.registry.factories import make_spec
from tests.server.support import publish, sandbox_uid, server_env, server_settings
from tests.support.serve import ServerProcess
from toolbox.analysis import build_spec
from toolbox.embeddings import HashingEmbedder
from toolbox.llm.base import ChatModel
from toolbox.sandbox import create_sandbox
from toolbox.settings import SandboxSettings, StudentSettings
from toolbox.spec import ToolSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tools"
NAMESPACE = "examples"
ADD = f"{NAMESPACE}.add_numbers"
SOLVE24 = f"{NAMESPACE}.solve24"
SAFE_DIV = f"{NAMESPACE}.safe_div"
GREET = f"{NAMESPACE}.greet"


def example_spec(module: str) -> ToolSpec:
    """The spec of ``examples/tools/<module>.py`` with its ``.tests.json``."""
    path = EXAMPLES / f"{module}.py"
    tests = json.loads(path.with_suffix(".tests.json").read_text())
    return build_spec(path.read_text(), namespace=NAMESPACE, tests=tests,
                      allowed_imports=SandboxSettings().allowed_imports)


def box_specs() -> list[ToolSpec]:
    """Every tool the student tests' box serves."""
    return [
        example_spec("add_numbers"),
        example_spec("solve24"),
        make_spec("safe_div", namespace=NAMESPACE, params="a: float, b: float", returns="float",
                  body='if b == 0:\n    raise ValueError("b must not be zero")\nreturn a / b',
                  doc="Divide a by b.", tests=[({"a": 1.0, "b": 2.0}, 0.5)]),
        make_spec("greet", namespace=NAMESPACE, params="name: str", body='return f"Hello, {name}!"', returns="str",
                  doc="Greet someone by name.", tests=[({"name": "Ada"}, "Hello, Ada!")]),
    ]


@dataclass
class BoxRegistry:
    """The registry behind the test box."""

    url: str
    services: RegistryServices
    directory: Path


@dataclass
class BoxServer:
    """The running server and its registry."""

    registry: BoxRegistry
    process: ServerProcess

    @property
    def mcp_url(self) -> str:
        """The all-namespaces MCP endpoint."""
        return f"{self.process.url}/mcp"


@pytest.fixture(scope="session")
def box_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoxRegistry]:
    """A migrated SQLite registry with the box's tools published and active."""
    directory = tmp_path_factory.mktemp("student-registry")
    url = f"sqlite:///{directory / 'registry.db'}"
    sandbox = create_sandbox(SandboxSettings(workers=1, preload_modules=[], run_as_uid=sandbox_uid()))
    services = build_services(server_settings(url), sandbox=sandbox, embedder=HashingEmbedder())
    try:
        for spec in box_specs():
            publish(services, spec)
        yield BoxRegistry(url=url, services=services, directory=directory)
    finally:
        services.close()
        sandbox.close()


@pytest.fixture(scope="session")
def box_server(box_registry: BoxRegistry) -> Iterator[BoxServer]:
    """``distillery serve`` on the box registry, for the whole student suite."""
    process = ServerProcess.start(server_env(box_registry.url), box_registry.directory / "serve.log", attempts=3)
    try:
        yield BoxServer(box_registry, process)
    finally:
        process.stop()


@pytest.fixture
async def box(box_server: BoxServer) -> AsyncIterator[BoxConnection]:
    """A connection to the test box over streamable HTTP (modern protocol)."""
    async with connect_http(box_server.mcp_url) as connection:
        yield connection


def student_settings(**overrides: Any) -> StudentSettings:
    """Student settings for tests (small step limit)."""
    return StudentSettings(**{"max_steps": 4, **overrides})


MakeAgent = Callable[..., StudentAgent]


@pytest.fixture
def make_agent(box: BoxConnection) -> MakeAgent:
    """``make_agent(model, mode, box=<the test box>, **student_settings)``."""
    sandbox_settings = SandboxSettings(workers=1, preload_modules=[], run_as_uid=sandbox_uid())

    def factory(model: ChatModel, mode: Mode, *, connection: BoxConnection | None = box,
                **settings: Any) -> StudentAgent:
        return StudentAgent(model, connection, mode=mode, settings=student_settings(**settings),
                            sandbox_settings=sandbox_settings)

    return factory
