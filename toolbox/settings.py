"""One settings object for the whole of Distillery.

Every option can be set from the environment with the ``DISTILLERY_`` prefix; nested groups
use ``__`` (``DISTILLERY_SANDBOX__TIMEOUT_S=5``). ``DISTILLERY_DATABASE_URL`` is also accepted
as a short form of ``DISTILLERY_DATABASE__URL``. Nothing here does I/O at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from toolbox.errors import ConfigError

__all__ = [
    "AuthSettings",
    "DatabaseSettings",
    "EmbeddingSettings",
    "LLMSettings",
    "SandboxLimits",
    "SandboxSettings",
    "ServerSettings",
    "Settings",
    "default_data_dir",
    "endpoint_api_key",
    "get_settings",
]

DEFAULT_ALLOWED_IMPORTS: tuple[str, ...] = (
    "math", "cmath", "decimal", "fractions", "statistics", "random", "itertools", "functools",
    "operator", "collections", "heapq", "bisect", "array", "string", "re", "textwrap", "unicodedata",
    "difflib", "json", "datetime", "calendar", "time", "zoneinfo", "enum", "dataclasses", "typing",
    "typing_extensions", "copy", "numbers", "hashlib", "hmac", "base64", "binascii", "uuid", "struct",
    "zlib", "csv", "io", "abc", "contextlib", "pprint", "graphlib", "ast",
    "numpy", "sympy", "scipy",
)


def default_data_dir() -> Path:
    """The user's data directory for Distillery (XDG on Linux)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "distillery"


class DatabaseSettings(BaseModel):
    """Where the registry lives."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite (WAL) in the user's data directory.",
    )
    echo: bool = False
    busy_timeout_ms: int = Field(default=30_000, ge=0)
    pool_size: int = Field(default=10, ge=1)

    def resolved_url(self, data_dir: Path) -> str:
        """The URL to connect to: the configured one, or SQLite under ``data_dir``."""
        return self.url or f"sqlite:///{data_dir / 'registry.db'}"


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp, LM Studio)."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=0.5, ge=0)


class EmbeddingSettings(BaseModel):
    """Which embedder search and near-duplicate detection use."""

    backend: Literal["hashing", "openai", "model2vec", "onnx-minilm"] = "hashing"
    model: str = "text-embedding-3-small"
    dimensions: int = Field(default=384, ge=8, le=8192)
    base_url: str | None = None
    api_key: SecretStr | None = None


def endpoint_api_key(settings: LLMSettings | EmbeddingSettings, what: str, group: str) -> str:
    """The API key for an OpenAI-compatible endpoint: from ``settings``, else ``OPENAI_API_KEY``.

    A local server (``base_url`` set) needs none and gets a placeholder; the hosted API without a
    key is a ``ConfigError`` naming the ``DISTILLERY_<group>__*`` variables to set.
    """
    key = settings.api_key.get_secret_value() if settings.api_key else os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if settings.base_url is None:
        raise ConfigError(
            f"no {what} API key: set DISTILLERY_{group}__API_KEY (or OPENAI_API_KEY), "
            f"or DISTILLERY_{group}__BASE_URL for a local OpenAI-compatible server"
        )
    return "not-needed"


class SandboxLimits(BaseModel):
    """The resource limits of one sandboxed call, declared once: the settings' defaults and ``Limits``."""

    timeout_s: float = Field(default=10.0, gt=0, le=600)
    cpu_s: int = Field(default=10, ge=1)
    memory_mb: int = Field(default=512, ge=64)
    max_processes: int = Field(default=32, ge=1)
    max_open_files: int = Field(default=64, ge=16)
    max_file_size_mb: int = Field(default=16, ge=1)
    max_output_bytes: int = Field(default=1 << 20, ge=1024)
    max_result_bytes: int = Field(default=1 << 20, ge=1024)


class SandboxSettings(SandboxLimits):
    """Limits and isolation for running untrusted tool code."""

    backend: Literal["process", "docker"] = "process"
    isolation: Literal["bwrap", "unshare", "none"] = Field(
        default="bwrap",
        description="Process backend only. Never chosen silently: a missing tool is an error.",
    )
    workers: int = Field(default=2, ge=1, le=64, description="Warm workers per lane (toolbox.sandbox.lanes).")
    run_as_uid: int = Field(default=60_000, ge=1000, description="First unprivileged uid; one per worker.")
    preload_modules: list[str] = Field(default_factory=lambda: ["numpy", "scipy", "sympy"])
    allowed_imports: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_IMPORTS))
    docker_image: str = "distillery-sandbox"
    docker_cpus: float = Field(default=1.0, gt=0)


class ServerSettings(BaseModel):
    """The HTTP server (REST + MCP on one port)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_hostnames: list[str] = Field(default_factory=list)
    allowed_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    revision_poll_s: float = Field(default=0.2, gt=0)
    listing: Literal["all", "core"] = Field(
        default="all",
        description="tools/list shows search_tools, call_tool and every visible tool ('all') or only core_tools.",
    )
    core_tools: list[str] = Field(default_factory=list, description="MCP names (namespace.name) listed directly.")
    page_size: int = Field(default=500, ge=1, le=5000, description="tools/list page size.")
    list_ttl_ms: int = Field(
        default=30_000, ge=0,
        description="tools/list cache hint (ttlMs, cacheScope private): how long a client may reuse a listing; "
                    "change notices end it sooner; 0 = always stale.",
    )
    toolsets: dict[str, list[str]] = Field(
        default_factory=dict, description="Endpoint name -> namespaces it shows (/mcp/<name>)."
    )
    search_window_s: float = Field(
        default=600.0, gt=0,
        description="A call counts as reached via search_tools when a search_tools result named the version "
                    "to the same caller (key, else MCP session, else client address) this many seconds before.",
    )


class AuthSettings(BaseModel):
    """API keys and whether reads need one."""

    open_reads: bool | None = Field(
        default=None, description="None: open only when the server binds a loopback address."
    )

    def reads_open(self, host: str) -> bool:
        """Whether anonymous reads are allowed for a server bound to ``host``."""
        if self.open_reads is not None:
            return self.open_reads
        return host in {"127.0.0.1", "localhost", "::1"}


class LocalModelSettings(BaseModel):
    """The embedded local model runtime: llama.cpp's OpenAI-compatible server on a bundled GGUF."""

    model: str = Field(default="qwen2.5-coder-1.5b", description="Catalog name used when no base URL is set.")
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port.")
    n_threads: int = Field(default=2, ge=1)
    n_ctx: int = Field(default=8192, ge=512)
    start_timeout_s: float = Field(default=120.0, gt=0)


class TeacherSettings(BaseModel):
    """Defaults of ``distillery teach``."""

    namespace: str = "box"
    max_steps: int = Field(default=6, ge=1, le=50)
    max_tokens: int = Field(default=768, ge=16, description="Per model call.")
    temperature: float = Field(default=0.2, ge=0, le=2)
    repair_rounds: int = Field(default=2, ge=0, le=10)
    holdout_instances: int = Field(default=3, ge=0, le=50)
    concurrency: int = Field(default=1, ge=1, le=64)


class StudentSettings(BaseModel):
    """Defaults of ``distillery ask`` and ``distillery eval``."""

    model: str = Field(default="qwen2.5-coder-0.5b", description="Local catalog name used when no base URL is set.")
    mode: Literal["auto", "tools", "json", "code"] = "auto"
    max_steps: int = Field(default=6, ge=1, le=50)
    max_tokens: int = Field(default=512, ge=16, description="Per model call.")
    token_budget: int = Field(default=6000, ge=64, description="Total completion + prompt tokens per task.")
    temperature: float = Field(default=0.0, ge=0, le=2)
    sag_n: int = Field(default=1, ge=1, le=32, description="Candidates per step; 1 turns SAG off.")
    sag_temperature: float = Field(default=0.7, ge=0, le=2)
    sag_top_p: float = Field(default=0.95, gt=0, le=1)
    search_threshold: int = Field(default=12, ge=1,
                                  description="With more box tools than this, start from search_tools.")


class Settings(BaseSettings):
    """Distillery's settings; build with ``get_settings()`` or directly in tests."""

    model_config = SettingsConfigDict(
        env_prefix="DISTILLERY_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_assignment=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: str = "INFO"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    local: LocalModelSettings = Field(default_factory=LocalModelSettings)
    teacher: TeacherSettings = Field(default_factory=TeacherSettings)
    student: StudentSettings = Field(default_factory=StudentSettings)

    @model_validator(mode="after")
    def _database_url_short_form(self) -> Settings:
        short = os.environ.get("DISTILLERY_DATABASE_URL")
        if short and self.database.url is None:
            self.database = self.database.model_copy(update={"url": short})
        return self

    @property
    def database_url(self) -> str:
        """The registry's database URL, defaulting to SQLite in the data directory."""
        return self.database.resolved_url(self.data_dir)


def get_settings() -> Settings:
    """Read settings from the environment (no caching: callers keep the object they build)."""
    return Settings()
