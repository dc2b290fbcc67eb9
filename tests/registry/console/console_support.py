"""Helpers of the console tests: log in through the form, read a page's form token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

__all__ = ["csrf_of", "login"]

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]*)"')


def login(client: TestClient, secret: str) -> None:
    """Log ``client`` in with ``secret`` through the login form (the cookie stays on the client)."""
    response = client.post("/ui/login", data={"key": secret}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=strict" in response.headers["set-cookie"].lower()


def csrf_of(client: TestClient, path: str = "/ui") -> str:
    """The form token of the page at ``path`` for the logged-in key."""
    page = client.get(path)
    match = _CSRF.search(page.text)
    assert match and match.group(1), page.text
    return match.group(1)
