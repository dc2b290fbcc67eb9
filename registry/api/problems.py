"""RFC 9457 problem details: every error the REST API answers is ``application/problem+json``.

``type`` is a ``urn:distillery:problem:<slug>`` URN naming the kind of problem; ``title`` is short
and fixed per kind; ``detail`` says what happened and what to do; ``instance`` is the request path.
Extension members carry structured context: ``errors`` (each field error of a 422),
``reasons``/``findings``/``test_report`` (a rejected publish), ``max_body_bytes`` (a 413),
``error_id`` (a 500, to find the logged traceback; the response never includes a stack trace).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from registry.errors import RegistryError, Unauthorized
from toolbox.errors import AnalysisError, SpecError, ToolboxError
from toolbox.logging import get_logger

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "Problem",
    "install_problem_handlers",
    "problem_response",
    "send_problem",
    "validation_errors",
]

logger = get_logger("registry.api")
PROBLEM_MEDIA_TYPE = "application/problem+json"
WWW_AUTHENTICATE = 'Bearer realm="distillery"'


class Problem(BaseModel):
    """An RFC 9457 problem document; kinds add extension members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URN naming the kind of problem.")
    title: str
    status: int
    detail: str = ""
    instance: str | None = None


def _problem_ref(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_ref("No API key, or an unknown or revoked one (with WWW-Authenticate: Bearer)."),
    403: _problem_ref("The API key lacks the role or the namespace."),
    404: _problem_ref("No such tool, version, alias or pin."),
    413: _problem_ref("The request body is larger than the server accepts."),
    422: _problem_ref("The request breaks a rule; `errors` lists each field error."),
}


def _slug(title: str) -> str:
    return "-".join(title.lower().split())


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def problem_response(status: int, detail: str, *, title: str | None = None, instance: str | None = None,
                     headers: Mapping[str, str] | None = None, **extensions: Any) -> Response:
    """A ``problem+json`` response; ``extensions`` become extension members."""
    title = title or HTTPStatus(status).phrase
    body = {"type": f"urn:distillery:problem:{_slug(title)}", "title": title, "status": status,
            "detail": detail, **({"instance": instance} if instance else {}), **_json_safe(extensions)}
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def send_problem(scope: Scope, receive: Receive, send: Send, status: int, detail: str, *,
                       title: str | None = None, headers: Mapping[str, str] | None = None,
                       **extensions: Any) -> None:
    """Send a problem from raw ASGI code (middleware that runs outside the routes, the MCP auth gate)."""
    response = problem_response(status, detail, title=title, instance=scope.get("path"), headers=headers,
                                **extensions)
    await response(scope, receive, send)


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Each field error as ``{loc, msg, type}`` (inputs and exception objects left out)."""
    out = []
    for error in errors:
        loc = [part if isinstance(part, int | str) else str(part) for part in error.get("loc", ())]
        out.append({"loc": loc, "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))})
    return out


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


async def _registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    headers = {"WWW-Authenticate": getattr(exc, "www_authenticate", WWW_AUTHENTICATE)} \
        if isinstance(exc, Unauthorized) else None
    return problem_response(exc.status, str(exc) or exc.title, title=exc.title, instance=request.url.path,
                            headers=headers)


async def _toolbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ToolboxError)
    if isinstance(exc, AnalysisError):
        findings = [f.model_dump(mode="json") if isinstance(f, BaseModel) else f for f in exc.findings]
        return problem_response(422, str(exc), title="Analysis failed", instance=request.url.path,
                                findings=findings)
    if isinstance(exc, SpecError):
        return problem_response(422, str(exc), title="Invalid tool", instance=request.url.path)
    logger.error("toolbox failure on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(503, f"{type(exc).__name__}: {exc}", title="Service unavailable",
                            instance=request.url.path)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    return problem_response(422, _summary(errors) or "the request is invalid", title="Validation error",
                            instance=request.url.path, errors=errors)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status < 400:  # pragma: no cover - redirects are not raised here
        return Response(status_code=status, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
    if status == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"no route {request.url.path}; the REST API is under /api/v1 (see /docs)"
    return problem_response(status, detail, instance=request.url.path, headers=exc.headers)


async def _database_down(request: Request, exc: Exception) -> Response:
    error_id = uuid.uuid4().hex[:12]
    logger.error("database unavailable on %s %s [%s]: %s", request.method, request.url.path, error_id, exc)
    return problem_response(503, "the registry database is unavailable; try again shortly",
                            title="Service unavailable", instance=request.url.path, error_id=error_id)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the problem+json exception handlers on ``app``."""
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(ToolboxError, _toolbox_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(OperationalError, _database_down)
