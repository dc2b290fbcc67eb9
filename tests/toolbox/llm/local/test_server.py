"""``LocalServer`` lifecycle against a real stand-in server process, and the runtime check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from toolbox.errors import ConfigError
from toolbox.llm.local import INSTALL_HINT, LocalModelError, LocalServer, server
from toolbox.settings import Settings

Builder = Callable[[str], Callable[[Path, int], list[str]]]


def test_start_waits_for_the_models_route_and_stop_ends_the_process(
    settings: Settings, gguf_file: Path, stand_in: Builder
) -> None:
    with LocalServer(settings, str(gguf_file), command=stand_in("ok")) as local:
        assert local.running
        assert local.base_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{local.base_url}/models").json()["data"][0]["id"] == "stand-in"
        process = local._process
    assert not local.running
    assert process is not None and process.returncode is not None
    assert local.log_path == settings.data_dir / "logs" / "local-model.log"
    assert "stand-in server starting" in local.log_path.read_text()


def test_a_server_that_dies_on_start_raises_with_its_log(
    settings: Settings, gguf_file: Path, stand_in: Builder
) -> None:
    local = LocalServer(settings, str(gguf_file), command=stand_in("die"))
    with pytest.raises(LocalModelError, match=r"exited with code 3 while starting(.|\n)*not a GGUF"):
        local.start()
    assert not local.running


def test_a_server_that_never_gets_ready_times_out(settings: Settings, gguf_file: Path, stand_in: Builder) -> None:
    settings.local = settings.local.model_copy(update={"start_timeout_s": 0.5})
    local = LocalServer(settings, str(gguf_file), command=stand_in("busy"), poll_s=0.05)
    with pytest.raises(LocalModelError, match=r"did not answer within 0\.5s \(raise DISTILLERY_LOCAL__START_TIMEOUT_S"):
        local.start()
    assert not local.running


def test_a_fixed_port_is_used(settings: Settings, gguf_file: Path, stand_in: Builder) -> None:
    port = server.free_port()
    with LocalServer(settings, str(gguf_file), port=port, command=stand_in("ok")) as local:
        assert local.base_url == f"http://127.0.0.1:{port}/v1"


def test_the_llama_command_uses_the_real_server_flags(settings: Settings) -> None:
    qwen = LocalServer(settings, "qwen2.5-coder-0.5b").llama_command(Path("/m/q.gguf"), 8123)
    assert qwen[1:3] == ["-m", "llama_cpp.server"]
    flags = dict(zip(qwen[3::2], qwen[4::2], strict=True))
    assert flags == {
        "--model": "/m/q.gguf", "--model_alias": "qwen2.5-coder-0.5b", "--host": "127.0.0.1", "--port": "8123",
        "--n_threads": str(settings.local.n_threads), "--n_ctx": str(settings.local.n_ctx),
    }
    gemma = LocalServer(settings, "gemma3-270m").llama_command(Path("/m/g.gguf"), 8123)
    assert gemma[-2:] == ["--chat_format", "alpaca"]


def test_missing_runtime_is_a_config_error_with_the_install_command(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "llama_cpp_installed", lambda: False)
    with pytest.raises(ConfigError) as caught:
        LocalServer(settings, "qwen2.5-coder-0.5b").start()
    assert str(caught.value) == INSTALL_HINT
    assert "pip install 'distillery[local]'" in INSTALL_HINT and "scripts/dev.sh setup-local" in INSTALL_HINT


def test_an_unpulled_model_fails_before_anything_starts(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "llama_cpp_installed", lambda: True)
    with pytest.raises(LocalModelError, match=r"run: distillery model pull qwen2\.5-coder-1\.5b"):
        LocalServer(settings, "qwen2.5-coder-1.5b").start()
    assert not (settings.data_dir / "logs").exists()


def test_the_server_threads_sleep_while_they_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert LocalServer._environment()["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert LocalServer._environment()["OMP_WAIT_POLICY"] == "ACTIVE"
