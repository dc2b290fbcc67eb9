"""The REST API: ``create_api`` builds a standalone app; ``include_registry_routes`` adds the API to any app.

Everything lives under ``/api/v1`` (OpenAPI at ``/openapi.json``, docs at ``/docs``); ``/health`` and
``/metrics`` are also answered at the root for probes and scrapers. Errors are RFC 9457 problems.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from registry.api.deps import ApiContext
from registry.api.middleware import ApiMiddleware, RequestMetrics
from registry.api.problems import Problem, install_problem_handlers
from registry.api.routes_curation import router as curation_router
from registry.api.routes_ops import health_router, keys_router
from registry.api.routes_publish import router as publish_router
from registry.api.routes_reports import router as reports_router
from registry.api.routes_review import router as review_router
from registry.api.routes_tools import router as tools_router
from registry.api.routes_trajectories import router as trajectories_router
from registry.container import RegistryServices
from registry.schemas import PublishRequest
from toolbox.settings import Settings
from toolbox.spec import ToolSpec

__all__ = ["API_PREFIX", "create_api", "include_registry_routes"]

API_PREFIX = "/api/v1"
ROOT_ALIASES = ("/health", "/metrics")
API_DESCRIPTION = (
    "A registry of teacher-distilled tools. Reads are open or need an API key depending on the server's "
    "settings; every write needs a key (`Authorization: Bearer dst_...`) with role curator or above, within "
    "the key's namespaces. Errors are RFC 9457 problem details (`application/problem+json`)."
)


def _extend_openapi(app: FastAPI) -> None:
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        spec_schema = ToolSpec.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in spec_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault("ToolSpec", spec_schema)
        request_schema = PublishRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in request_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault("PublishRequest", request_schema)
        components.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def include_registry_routes(app: FastAPI, services: RegistryServices, settings: Settings) -> None:
    """Add the REST API, its problem handlers and its middleware to ``app`` (which owns the lifespan)."""
    metrics = RequestMetrics()
    app.state.distillery_api = ApiContext(services=services, settings=settings,
                                          reads_open=settings.auth.reads_open(settings.server.host), metrics=metrics)
    for router in (tools_router, publish_router, curation_router, review_router, trajectories_router, reports_router,
                   health_router, keys_router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health_router, include_in_schema=False)
    install_problem_handlers(app)
    app.add_middleware(ApiMiddleware, prefix=API_PREFIX, extra_paths=ROOT_ALIASES,
                       max_body_bytes=settings.server.max_body_bytes, metrics=metrics)
    _extend_openapi(app)


def create_api(services: RegistryServices, settings: Settings) -> FastAPI:
    """A standalone REST app over ``services``; its lifespan starts usage recording and closes the services."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.usage.start()
        try:
            yield
        finally:
            await run_in_threadpool(services.close)

    app = FastAPI(title="Distillery registry", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan)
    include_registry_routes(app, services, settings)
    return app
