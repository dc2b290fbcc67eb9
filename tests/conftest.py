"""Suite-wide fixtures: an isolated environment, a guard against real provider calls, a shared sandbox."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest

PROVIDER_ENV_VARS = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY",
    "DISTILLERY_LLM__API_KEY", "DISTILLERY_LLM__BASE_URL",
    "DISTILLERY_EMBEDDINGS__API_KEY", "DISTILLERY_EMBEDDINGS__BASE_URL",
)


class RealNetworkCallError(AssertionError):
    """A test tried to reach a host outside this machine (a paid provider, most likely)."""


def _is_local(host: str) -> bool:
    if host in {"localhost", "testserver", "test"} or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _guard(original: Any) -> Any:
    def guarded(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        host = request.url.host
        if not _is_local(host):
            raise RealNetworkCallError(
                f"test tried to reach {request.url.scheme}://{host}: inject a scripted model "
                "(toolbox.testing) or an httpx MockTransport instead"
            )
        return original(self, request, *args, **kwargs)

    return guarded


@pytest.fixture(autouse=True)
def _no_real_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove provider keys and make any HTTP request to a non-loopback host fail."""
    for name in PROVIDER_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for module in (httpx, httpx2):
        for cls, method in ((module.HTTPTransport, "handle_request"),
                            (module.AsyncHTTPTransport, "handle_async_request")):
            monkeypatch.setattr(cls, method, _guard(getattr(cls, method)))


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default data directory at a fresh temporary folder for every test."""
    data_dir = tmp_path_factory.mktemp("distillery-data")
    monkeypatch.setenv("DISTILLERY_DATA_DIR", str(data_dir))
    monkeypatch.delenv("DISTILLERY_DATABASE_URL", raising=False)
    monkeypatch.delenv("DISTILLERY_DATABASE__URL", raising=False)
    return data_dir


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio (what uvicorn and the MCP SDK use here)."""
    return "asyncio"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    """The configured process sandbox (bubblewrap isolation) with two workers, shared by a test module."""
    from toolbox.sandbox import create_sandbox
    from toolbox.settings import SandboxSettings

    box = create_sandbox(SandboxSettings(workers=2))
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="session")
def in_ci() -> Iterator[bool]:
    """True under CI, where skips for missing services must not hide a broken setup."""
    yield os.environ.get("CI", "").lower() == "true"
