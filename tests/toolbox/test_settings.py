"""Settings: the DISTILLERY_ prefix, nested groups, the database URL short form, no I/O."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from toolbox.errors import ConfigError
from toolbox.settings import AuthSettings, EmbeddingSettings, LLMSettings, Settings, endpoint_api_key


def test_nested_groups_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLERY_SANDBOX__TIMEOUT_S", "2.5")
    monkeypatch.setenv("DISTILLERY_SERVER__PORT", "9001")
    monkeypatch.setenv("DISTILLERY_EMBEDDINGS__BACKEND", "openai")
    settings = Settings()
    assert settings.sandbox.timeout_s == 2.5
    assert settings.server.port == 9001
    assert settings.embeddings.backend == "openai"


def test_database_defaults_to_sqlite_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLERY_DATA_DIR", str(tmp_path))
    assert Settings().database_url == f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.mark.parametrize("variable", ["DISTILLERY_DATABASE_URL", "DISTILLERY_DATABASE__URL"])
def test_database_url_long_and_short_forms(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "postgresql://u@db/registry")
    assert Settings().database_url == "postgresql://u@db/registry"


def test_invalid_values_are_refused_with_the_field_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLERY_SANDBOX__ISOLATION", "chroot")
    with pytest.raises(ValueError, match="isolation"):
        Settings()


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLERY_LLM__API_KEY", "sk-very-secret")
    settings = Settings()
    assert settings.llm.api_key is not None
    assert settings.llm.api_key.get_secret_value() == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("open_reads", "host", "expected"),
    [(None, "127.0.0.1", True), (None, "::1", True), (None, "0.0.0.0", False), (True, "0.0.0.0", True),
     (False, "127.0.0.1", False)],
)
def test_reads_are_open_by_default_only_on_loopback(open_reads: bool | None, host: str, expected: bool) -> None:
    assert AuthSettings(open_reads=open_reads).reads_open(host) is expected


def test_endpoint_api_key_from_settings_env_or_local_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert endpoint_api_key(LLMSettings(api_key=SecretStr("sk-set")), "LLM", "LLM") == "sk-set"
    local = EmbeddingSettings(base_url="http://127.0.0.1:9/v1")
    assert endpoint_api_key(local, "embeddings", "EMBEDDINGS") == "not-needed"
    with pytest.raises(ConfigError, match=r"set DISTILLERY_EMBEDDINGS__API_KEY .* DISTILLERY_EMBEDDINGS__BASE_URL"):
        endpoint_api_key(EmbeddingSettings(), "embeddings", "EMBEDDINGS")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert endpoint_api_key(LLMSettings(), "LLM", "LLM") == "sk-env"
