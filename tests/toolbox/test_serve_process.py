"""``ServeProcess``: a real ``distillery serve`` that answers, and one that cannot start and says why."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from toolbox.serve_process import ServeFailed, ServeProcess

pytestmark = pytest.mark.slow


def test_a_started_server_answers_health_and_stop_ends_it(tmp_path: Path) -> None:
    with ServeProcess.start(dict(os.environ), tmp_path / "serve.log") as server:
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    assert server.process.poll() is not None


def test_a_server_that_exits_at_start_fails_with_its_log(tmp_path: Path) -> None:
    env = {**os.environ, "DISTILLERY_SERVER__LISTING": "everything-please"}
    with pytest.raises(ServeFailed, match=r"exited with [1-9][\s\S]*listing"):
        ServeProcess.start(env, tmp_path / "serve.log", timeout_s=60)
