"""Deployment fixtures: paths of the deployment files, a PostgreSQL schema, CLI runs, the replica environment.

- ``REPO_ROOT``, ``COMPOSE_FILE``, ``DOCKERFILE``: the files under test.
- ``postgres_schema_url()``: a fresh schema on the test PostgreSQL (fails where scripts/dev.sh saw
  PostgreSQL answer, skips elsewhere), dropped afterwards.
- ``cli(env, *args)``: run ``distillery ARGS`` in a subprocess; returns its stdout, failing the test
  on a non-zero exit.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from registry.db import make_engine
from tests.registry.conftest import POSTGRES_URL, postgres_unavailable
from tests.support.serve import DISTILLERY

__all__ = ["COMPOSE_FILE", "DOCKERFILE", "REPO_ROOT", "cli", "postgres_schema_url"]

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A URL on a new, empty schema of the test PostgreSQL, dropped on exit."""
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("DISTILLERY_TEST_POSTGRES") == "required":
            pytest.fail(f"{reason} (scripts/dev.sh saw it answer; a skip here would hide a broken setup)")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def cli(env: dict[str, str], *args: str, timeout_s: float = 120.0) -> str:
    """``distillery ARGS`` in a subprocess with ``env``; its stdout (the test fails on a non-zero exit)."""
    done = subprocess.run([DISTILLERY, *args], env=env, capture_output=True, text=True, timeout=timeout_s,
                          check=False)
    assert done.returncode == 0, f"distillery {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout
