"""The console's pages (GET): the tool list and search, a tool, the review queue, the audit log, login.

Reads follow the REST API's rules exactly (``registry.api.deps``): anonymous only when reads are
open, a key's namespaces limit what it sees, a tool outside them is a 404. Path parts are checked
against the same patterns as REST; anything else under ``/ui`` is the 404 page.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from registry.api.deps import REF_PATTERN, ApiContext, get_context, require_reader
from registry.console.auth import StaleKey, clear_key, principal_of
from registry.console.render import ConsoleRoute, render
from registry.console.views import recent_audit, review_page, search_page, tool_list, tool_page
from registry.errors import NotFound, Unauthorized
from registry.models import Role
from registry.schemas import Principal
from registry.service.keys import has_role
from toolbox.spec import NAME_PATTERN

__all__ = ["DONE_MESSAGES", "caller", "check_names", "router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_NAME = re.compile(NAME_PATTERN)
_REF = re.compile(REF_PATTERN)
DONE_MESSAGES = {"approve": "Approved", "deprecate": "Deprecated", "yank": "Yanked", "restore": "Restored",
                 "reject": "Rejected", "alias": "Alias set", "pin": "Pin set", "login": "Logged in",
                 "logout": "Logged out", "applied": "Suggestion applied (see the audit log for each step)"}
Text = Annotated[str | None, Query(max_length=1000)]


def caller(request: Request) -> tuple[ApiContext, Principal | None]:
    """The API context and the logged-in key (also kept on ``request.state`` for the templates)."""
    context = get_context(request)
    principal = principal_of(request, context)
    request.state.principal = principal
    return context, principal


def check_names(namespace: str, name: str, *refs: str | None) -> None:
    """A 404 unless the path parts look like a tool name and version refs (as REST validates them)."""
    if not (_NAME.match(namespace) and _NAME.match(name)) or any(r and not _REF.match(r) for r in refs):
        raise NotFound(f"no tool {namespace}.{name}" if _NAME.match(namespace) and _NAME.match(name)
                       else "no such tool: names are lower-case letters, digits and '_'")


def _done(done: str | None) -> str | None:
    return DONE_MESSAGES.get(done or "")


@router.get("/ui")
@router.get("/ui/")
async def tools_page(request: Request, q: Text = None, cursor: Annotated[str | None, Query(max_length=512)] = None,
                     done: Text = None) -> Response:
    """The tool list, or search results for ``q``."""
    context, principal = caller(request)
    require_reader(context, principal)
    query = (q or "").strip()
    if query:
        rows = await run_in_threadpool(search_page, context.services, principal, query)
        next_cursor = None
    else:
        rows, next_cursor = await run_in_threadpool(tool_list, context.services.engine, principal, cursor)
    return render(request, "tools.html", rows=rows, query=query, next_cursor=next_cursor, done=_done(done),
                  paged=bool(cursor))


@router.get("/ui/tools/{namespace}/{name}")
async def tool_detail_page(request: Request, namespace: str, name: str, v: Text = None, base: Text = None,
                           head: Text = None, done: Text = None) -> Response:
    """A tool: versions, source, tests, provenance, usage, a schema diff and the curation forms."""
    context, principal = caller(request)
    require_reader(context, principal)
    check_names(namespace, name, v, base, head)
    page = await run_in_threadpool(lambda: tool_page(context.services.engine, principal, namespace, name, ref=v,
                                                     base=base, head=head))
    can_curate = principal is not None and has_role(principal.role, Role.curator) and principal.can_see(namespace)
    return render(request, "tool.html", page=page, tool=page.tool, version=page.version, done=_done(done),
                  can_curate=can_curate)


@router.get("/ui/review")
async def review_queue_page(request: Request, done: Text = None) -> Response:
    """Draft and flagged versions waiting for a decision, with their findings."""
    context, principal = caller(request)
    require_reader(context, principal)
    entries = await run_in_threadpool(review_page, context.services.engine, principal)
    return render(request, "review.html", entries=entries, done=_done(done))


@router.get("/ui/audit")
async def audit_page(request: Request) -> Response:
    """The newest audit entries (needs a logged-in key; limited to its namespaces)."""
    context, principal = caller(request)
    if principal is None:
        raise Unauthorized("the audit log needs an API key: log in first")
    entries = await run_in_threadpool(recent_audit, context.services.engine, principal)
    return render(request, "audit.html", entries=entries)


@router.get("/ui/login")
async def login_page(request: Request, done: Text = None) -> Response:
    """The login form (paste an API key); a stale cookie is simply forgotten here."""
    try:
        caller(request)
    except StaleKey:
        response = render(request, "login.html", done=None, error="Your key is unknown or revoked: log in again.")
        clear_key(response)
        return response
    return render(request, "login.html", done=_done(done), error=None)


def redirect(path: str, done: str) -> RedirectResponse:
    """A 303 back to a page after a POST, with a fixed message code."""
    return RedirectResponse(f"{path}?done={done}", status_code=303)
