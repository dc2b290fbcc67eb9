"""Error pages: a 404 that says what to do, and no stack trace ever reaching the page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from registry.console import routes


def test_unknown_pages_and_tools_are_404_pages(client: TestClient) -> None:
    for path in ("/ui/nowhere", "/ui/tools/math/missing", "/ui/tools/Bad-Name/x", "/ui/tools/math/add?v=%3Cx%3E"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html") and "Back to the tool list" in page.text
    assert client.get("/api/v1/tools/math/missing").headers["content-type"] == "application/problem+json"


def test_an_unexpected_error_is_a_500_page_without_a_trace(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(routes, "tool_list", explode)
    page = client.get("/ui")
    assert page.status_code == 500 and "error id" in page.text
    assert "secret internals" not in page.text and "Traceback" not in page.text
    assert "secret internals" in caplog.text
