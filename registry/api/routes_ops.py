"""Operations routes: health, Prometheus metrics, and API keys (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import col, select

from registry.api.deps import Admin, ContextDep, Reader, actor_of
from registry.api.middleware import RequestMetrics
from registry.api.problems import PROBLEM_RESPONSES
from registry.container import RegistryServices
from registry.db import current_revision, read_session
from registry.models import ApiKey, Role, Tool, ToolVersion, VersionStatus
from registry.service.keys import create_key, list_keys, revoke_key
from registry.service.usage import usage_totals
from toolbox.logging import get_logger
from toolbox.spec import NAME_PATTERN

__all__ = ["CreatedKey", "Health", "KeyOut", "NewKey", "health_router", "keys_router", "render_metrics"]

logger = get_logger("registry.api")
PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STATUS_ORDER = (VersionStatus.active, VersionStatus.deprecated, VersionStatus.draft, VersionStatus.yanked)

health_router = APIRouter(tags=["operations"])
keys_router = APIRouter(tags=["keys"], responses={code: PROBLEM_RESPONSES[code] for code in (401, 403, 404, 422)})


class Health(BaseModel):
    """Whether the registry can serve: database reachable, schema revision, sandbox isolation."""

    status: Literal["ok", "unavailable"]
    database: dict[str, Any]
    revision: int | None
    sandbox: dict[str, Any]


@health_router.get("/health", summary="Health check", responses={503: {"model": Health}})
async def health_route(context: ContextDep, response: Response) -> Health:
    """200 when the database answers, 503 when it does not; never needs a key."""
    services = context.services
    database: dict[str, Any] = {"backend": services.engine.dialect.name, "reachable": True}
    revision: int | None = None
    try:
        revision = await run_in_threadpool(current_revision, services.engine)
    except Exception as exc:  # any failure to read means: not reachable
        logger.warning("health check: database unreachable: %s", exc)
        database.update(reachable=False, error=type(exc).__name__)
        response.status_code = 503
    sandbox = {"isolation": services.sandbox.isolation, "backend": context.settings.sandbox.backend}
    return Health(status="ok" if database["reachable"] else "unavailable", database=database, revision=revision,
                  sandbox=sandbox)


def _gauge(lines: list[str], name: str, help_text: str, kind: str = "gauge") -> None:
    lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_metrics(services: RegistryServices, metrics: RequestMetrics) -> str:
    """The Prometheus text exposition of the registry and of this process's requests."""
    engine = services.engine
    with read_session(engine) as session:
        versions: dict[str, int] = {str(status): int(n) for status, n in session.exec(
            select(ToolVersion.status, func.count()).group_by(col(ToolVersion.status))).all()}
        pairs = [(str(tool_id), VersionStatus(status)) for tool_id, status in session.exec(
            select(ToolVersion.tool_id, ToolVersion.status).distinct()).all()]
        tool_count = session.exec(select(func.count()).select_from(Tool)).one()
        key_count = session.exec(select(func.count()).select_from(ApiKey)
                                 .where(col(ApiKey.revoked_at).is_(None))).one()
    best: dict[str, VersionStatus] = {}
    for tool_id, status in pairs:
        current = best.get(tool_id)
        if current is None or _STATUS_ORDER.index(status) < _STATUS_ORDER.index(current):
            best[tool_id] = status
    lines: list[str] = []
    _gauge(lines, "distillery_registry_revision", "The registry revision (bumped by every visible change).")
    lines.append(f"distillery_registry_revision {current_revision(engine)}")
    _gauge(lines, "distillery_tools", "Tools by the best status among their versions (none: no versions).")
    for level in _STATUS_ORDER:
        lines.append(f'distillery_tools{{status="{level.value}"}} {sum(1 for s in best.values() if s == level)}')
    lines.append(f'distillery_tools{{status="none"}} {int(tool_count) - len(best)}')
    _gauge(lines, "distillery_versions", "Tool versions by lifecycle status.")
    for level in _STATUS_ORDER:
        lines.append(f'distillery_versions{{status="{level.value}"}} {versions.get(level.value, 0)}')
    _gauge(lines, "distillery_api_keys", "API keys that are not revoked.")
    lines.append(f"distillery_api_keys {int(key_count)}")
    totals = usage_totals(engine)
    for key in sorted(totals):
        name = "distillery_usage_" + "".join(ch if ch.isalnum() else "_" for ch in key)
        _gauge(lines, name, f"Tool usage recorded in the registry: {key}.")
        lines.append(f"{name} {_number(totals[key])}")
    series = metrics.snapshot()
    _gauge(lines, "distillery_http_requests_total", "REST requests served by this process.", "counter")
    for (method, route, code), count, _seconds in series:
        lines.append(f'distillery_http_requests_total{{method="{_label(method)}",route="{_label(route)}",'
                     f'status="{code}"}} {count}')
    _gauge(lines, "distillery_http_request_seconds_sum", "Time spent serving REST requests.", "counter")
    for (method, route, code), _count, seconds in series:
        lines.append(f'distillery_http_request_seconds_sum{{method="{_label(method)}",route="{_label(route)}",'
                     f'status="{code}"}} {seconds:.6f}')
    return "\n".join(lines) + "\n"


@health_router.get("/metrics", summary="Prometheus metrics", response_class=Response,
                   responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
                              401: PROBLEM_RESPONSES[401]})
async def metrics_route(context: ContextDep, _principal: Reader) -> Response:
    """Tools and versions by status, revision, usage totals and request counts (text format 0.0.4)."""
    text = await run_in_threadpool(render_metrics, context.services, context.metrics)
    return Response(text, media_type=PROMETHEUS_MEDIA_TYPE)


class NewKey(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    role: Role = Role.reader
    namespaces: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(default_factory=list, max_length=64)


class KeyOut(BaseModel):
    """A key as listings show it (never the secret)."""

    id: str
    name: str
    prefix: str
    role: Role
    namespaces: list[str]
    revoked: bool

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        """Describe a stored key."""
        return cls(id=key.id, name=key.name, prefix=key.prefix, role=key.role, namespaces=list(key.namespaces),
                   revoked=key.revoked_at is not None)


class CreatedKey(KeyOut):
    """A new key with its secret: shown this once, store it now."""

    secret: str


@keys_router.get("/keys", summary="List API keys")
async def list_keys_route(context: ContextDep, _admin: Admin) -> list[KeyOut]:
    """Every unrevoked key (admin)."""
    return [KeyOut.of(key) for key in await run_in_threadpool(list_keys, context.services.engine)]


@keys_router.post("/keys", status_code=201, summary="Create an API key")
async def create_key_route(context: ContextDep, admin: Admin, body: NewKey) -> CreatedKey:
    """Create a key (admin); the answer holds the secret, which is never shown again."""
    key, secret = await run_in_threadpool(lambda: create_key(
        context.services.engine, name=body.name, role=body.role, namespaces=body.namespaces, actor=actor_of(admin)))
    return CreatedKey(**KeyOut.of(key).model_dump(), secret=secret)


@keys_router.delete("/keys/{key}", summary="Revoke an API key")
async def revoke_key_route(context: ContextDep, admin: Admin,
                           key: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                                    description="The key's id or prefix.")]) -> KeyOut:
    """Revoke a key (admin); it stops working at once here and within seconds elsewhere."""
    revoked = await run_in_threadpool(lambda: revoke_key(context.services.engine, key, actor=actor_of(admin)))
    return KeyOut.of(revoked)
