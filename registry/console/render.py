"""Templates, the page renderer, and the error pages every console route falls back to.

``ConsoleRoute`` is the console's edge: whatever a route raises becomes an HTML page that says what
happened and what to do (401 → log in, 403 → a key with the right role, 404, 409, 422, 503, and a 500
with an error id whose traceback is only in the server log). No stack trace reaches the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from registry.console.auth import StaleKey, clear_key, csrf_token
from registry.console.highlight import highlight_python
from registry.errors import RegistryError
from toolbox.errors import ToolboxError
from toolbox.logging import get_logger

__all__ = ["ConsoleRoute", "error_page", "render"]

logger = get_logger("registry.console")

_env = Environment(loader=PackageLoader("registry.console", "templates"), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters["python"] = highlight_python


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


_env.filters["when"] = _when

_HINTS = {
    401: "Log in with an API key (make one with 'distillery keys create --role curator').",
    403: "Log in with a key that has the role and namespace this needs.",
    404: "Check the address, or go back to the tool list and search for the tool.",
    409: "The version is not in a state that allows this; reload the page to see its current status.",
    422: "Correct the form and submit it again.",
    503: "The registry is unavailable for a moment; try again shortly.",
}


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the shared context: the caller, the form token and the current path."""
    shared: dict[str, Any] = {"principal": getattr(request.state, "principal", None), "csrf": csrf_token(request),
                              "path": request.url.path, "status": status, "done": None}
    page = _env.get_template(template).render({**shared, **context})
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store",
                                                           "X-Content-Type-Options": "nosniff",
                                                           "Content-Security-Policy": "default-src 'self'"})


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    """An error page: what happened, and what to do about it."""
    return render(request, "error.html", status=status, title=title, detail=detail,
                  hint=_HINTS.get(status, "Go back to the tool list and try again."))


def _page_for(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RegistryError):
        response: Response = error_page(request, exc.status, exc.title, str(exc) or exc.title)
        if isinstance(exc, StaleKey):
            clear_key(response)
        return response
    if isinstance(exc, RequestValidationError):
        return error_page(request, 422, "Invalid request", "the address or the form has a field this page "
                                                           "does not accept")
    if isinstance(exc, HTTPException):
        return error_page(request, exc.status_code, "Error", str(exc.detail))
    if isinstance(exc, ToolboxError | OperationalError):
        error_id = uuid.uuid4().hex[:12]
        logger.error("console: service unavailable on %s [%s]: %s", request.url.path, error_id, exc)
        return error_page(request, 503, "Service unavailable", f"the registry could not answer (error id {error_id})")
    error_id = uuid.uuid4().hex[:12]
    logger.exception("console: unhandled error on %s %s [error_id=%s]", request.method, request.url.path, error_id)
    return error_page(request, 500, "Internal error",
                      f"the console failed to show this page; report error id {error_id} to the operator")


class ConsoleRoute(APIRoute):
    """An ``APIRoute`` whose errors become HTML pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped so that every exception becomes an error page."""
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:
                try:
                    return _page_for(request, exc)
                except Exception:  # rendering the error itself failed: a bare page, still no trace
                    logger.exception("console: the error page failed on %s", request.url.path)
                    return HTMLResponse("<h1>Internal error</h1><p>See the server log.</p>", status_code=500)

        return handler
