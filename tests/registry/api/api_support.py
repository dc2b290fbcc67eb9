"""Shared helpers of the REST API tests (imported by the tests and their conftest)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

__all__ = ["ApiFactory", "Keys", "Publish", "auth"]

ApiFactory = Callable[..., TestClient]
Publish = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Keys:
    """One secret per kind of caller."""

    admin: str
    curator: str
    math_curator: str
    reader: str
    math_reader: str


def auth(secret: str) -> dict[str, str]:
    """The Authorization header for ``secret``."""
    return {"Authorization": f"Bearer {secret}"}
