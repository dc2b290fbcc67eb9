"""``distillery mcp --bundle``: an exported example box served over stdio with no registry database."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from registry.container import build_services
from registry.service.bundle_export import export_bundle
from server.bundle import bundle_registry
from tests.server.support import names, publish, server_env, server_settings, text_of
from tests.support.serve import DISTILLERY
from toolbox.analysis import build_spec
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox
from toolbox.settings import SandboxSettings, Settings
from toolbox.spec import ToolTest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tools"


@pytest.fixture(scope="module")
def example_bundle(tmp_path_factory: pytest.TempPathFactory, server_sandbox: Sandbox) -> Iterator[Path]:
    """``examples/tools`` published (namespace ``math``) and exported to a bundle; the registry is then deleted."""
    directory = tmp_path_factory.mktemp("bundle-origin")
    services = build_services(server_settings(f"sqlite:///{directory / 'origin.db'}"), sandbox=server_sandbox,
                              embedder=HashingEmbedder())
    try:
        for module in sorted(EXAMPLES.glob("*.py")):
            tests = [ToolTest.model_validate(t) for t in json.loads(module.with_suffix(".tests.json").read_text())]
            publish(services, build_spec(module.read_text(), namespace="math", tests=tests,
                                         allowed_imports=SandboxSettings().allowed_imports))
        export_bundle(services.engine, directory / "box.distillery")
    finally:
        services.close()
    (directory / "origin.db").unlink()
    yield directory / "box.distillery"


def _params(bundle: Path, database: Path) -> StdioServerParameters:
    return StdioServerParameters(command=DISTILLERY, args=["mcp", "--bundle", str(bundle)],
                                 env=server_env(f"sqlite:///{database}"))


pytestmark = pytest.mark.anyio


async def test_a_bundle_is_listed_searched_and_called_over_stdio(example_bundle: Path, tmp_path: Path) -> None:
    database = tmp_path / "never-created.db"
    async with Client(_params(example_bundle, database), read_timeout_seconds=60) as client:
        listing = names(await client.list_tools())
        assert listing == ["search_tools", "call_tool", "math.add_numbers", "math.solve24"]
        result = await client.call_tool("math.solve24", {"a": 4, "b": 7, "c": 8, "d": 8})
        assert not result.is_error and result.structured_content == {"result": "8 * ((4 + 7) - 8)"}
        via_meta = await client.call_tool("call_tool", {"name": "math.add_numbers",
                                                        "arguments": {"numbers": [0.1, 0.2, 0.3]}})
        assert via_meta.structured_content == {"result": 0.6}
        found = await client.call_tool("search_tools", {"query": "arithmetic expression that equals 24", "k": 1})
        assert found.structured_content is not None
        assert [t["name"] for t in found.structured_content["tools"]] == ["math.solve24"]
        bad = await client.call_tool("math.solve24", {"a": "four"})
        assert bad.is_error and "a" in text_of(bad)
    assert not database.exists()  # no registry database was opened or created


def test_the_served_registry_refuses_writes(example_bundle: Path) -> None:
    with bundle_registry(example_bundle, Settings()) as engine, engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tool_version")).scalar() == 2
        with pytest.raises(OperationalError, match="readonly"):
            connection.execute(text("UPDATE registry_state SET revision = revision + 1"))


def test_a_bad_bundle_stops_the_server_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.distillery"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    done = subprocess.run([DISTILLERY, "mcp", "--bundle", str(bad)], env=server_env(f"sqlite:///{tmp_path / 'x.db'}"),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "not a bundle" in done.stderr
