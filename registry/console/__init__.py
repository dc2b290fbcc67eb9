"""The curation console: server-rendered pages under ``/ui`` (Jinja2 templates, one local stylesheet).

``include_console(app)`` adds it to an app that already has the REST API (``include_registry_routes``:
the console reads the same ``ApiContext``). Pages: ``/ui`` (tools, search), ``/ui/tools/{ns}/{name}``,
``/ui/review``, ``/ui/health``, ``/ui/clusters``, ``/ui/audit``, ``/ui/login``; assets under
``/ui/static``; anything else is a 404 page.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from registry.console.actions import router as actions_router
from registry.console.insight_routes import router as insights_router
from registry.console.routes import router as pages_router

__all__ = ["CONSOLE_PREFIX", "include_console"]

CONSOLE_PREFIX = "/ui"


def include_console(app: FastAPI) -> None:
    """Mount the console's assets and pages on ``app`` (after ``include_registry_routes``)."""
    app.mount(f"{CONSOLE_PREFIX}/static", StaticFiles(packages=[("registry.console", "static")]),
              name="console-static")
    app.include_router(pages_router)
    app.include_router(insights_router)
    app.include_router(actions_router)  # last: its catch-all answers the 404 page
