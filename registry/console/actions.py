"""The console's form POSTs: log in and out, curation actions, aliases, pins and review decisions.

Each action calls the same ``Curator`` method as its REST route, after the same checks in the same
order as REST: the key's role (``require_role``), then the namespace (``check_write``; for a
deprecation also the replacement's namespace). Before any of that, the form must pass the CSRF
check (``registry.console.auth``). The service writes the audit entry, as it does for REST.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from registry.api.deps import REF_PATTERN, actor_of, check_write, require_role
from registry.api.routes_curation import ALIAS_PATTERN, REPLACEMENT_PATTERN, SCOPE_PATTERN
from registry.console.auth import CSRF_FIELD, check_csrf, check_origin, clear_key, remember_key
from registry.console.render import ConsoleRoute, render
from registry.console.routes import caller, check_names, redirect
from registry.errors import InvalidRequest, NotFound
from registry.models import Role
from registry.schemas import Principal
from registry.service.keys import verify_key

__all__ = ["curator_form", "form_field", "router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
LIFECYCLE = ("approve", "deprecate", "yank", "restore")
REVIEW = ("approve", "reject")
MAX_REASON = 1000


def form_field(form: FormData, name: str, *, pattern: str | None = None, max_length: int = MAX_REASON,
           required: bool = False) -> str:
    """One text field of the form, stripped; checked against ``pattern`` when not empty."""
    raw = form.get(name)
    value = raw.strip() if isinstance(raw, str) else ""
    if required and not value:
        raise InvalidRequest(f"the form needs a value for {name!r}")
    if len(value) > max_length:
        raise InvalidRequest(f"{name!r} is longer than {max_length} characters")
    if value and pattern is not None and not re.match(pattern, value):
        raise InvalidRequest(f"{name!r} is not valid here: {value[:80]!r}")
    return value


async def curator_form(request: Request) -> tuple[Any, Principal, FormData]:
    """The CSRF check, then a curator key (as ``CuratorKey`` over REST); answers the form too."""
    form = await request.form()
    check_csrf(request, form_field(form, CSRF_FIELD, max_length=128))
    context, principal = caller(request)
    return context, require_role(Role.curator)(principal), form


@router.post("/ui/login")
async def login(request: Request) -> Response:
    """Check the pasted key and keep it in the console cookie."""
    check_origin(request)
    caller_form = await request.form()
    secret = form_field(caller_form, "key", max_length=256)
    context = request.app.state.distillery_api
    principal = await run_in_threadpool(verify_key, context.services.engine, secret) if secret else None
    if principal is None:
        request.state.principal = None
        return render(request, "login.html", status=401, done=None,
                      error="That key is unknown or revoked. Paste a key made with 'distillery keys create'.")
    response = redirect("/ui", "login")
    remember_key(request, response, secret)
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """Forget the console cookie."""
    check_origin(request)
    response = redirect("/ui/login", "logout")
    clear_key(response)
    return response


@router.post("/ui/tools/{namespace}/{name}/versions/{ref}/{action}")
async def lifecycle(request: Request, namespace: str, name: str, ref: str, action: str) -> Response:
    """approve | deprecate (with an optional replacement) | yank | restore one version."""
    check_names(namespace, name, ref)
    if action not in LIFECYCLE:
        raise NotFound(f"no action {action!r}; the actions are {', '.join(LIFECYCLE)}")
    context, principal, form = await curator_form(request)
    check_write(principal, namespace)
    reason = form_field(form, "reason")
    extra: dict[str, str | None] = {}
    if action == "deprecate":
        replacement = form_field(form, "replacement", pattern=REPLACEMENT_PATTERN, max_length=200) or None
        if replacement is not None:
            check_write(principal, replacement.split(".", 1)[0])
        extra["replacement"] = replacement
    method = getattr(context.services.curator, action)
    await run_in_threadpool(lambda: method(namespace, name, ref, actor=actor_of(principal), reason=reason, **extra))
    return redirect(f"/ui/tools/{namespace}/{name}", action)


@router.post("/ui/tools/{namespace}/{name}/alias")
async def set_alias(request: Request, namespace: str, name: str) -> Response:
    """Point an alias at a version."""
    check_names(namespace, name)
    context, principal, form = await curator_form(request)
    check_write(principal, namespace)
    alias = form_field(form, "alias", pattern=ALIAS_PATTERN, max_length=64, required=True)
    ref = form_field(form, "ref", pattern=REF_PATTERN, max_length=64, required=True)
    reason = form_field(form, "reason")
    await run_in_threadpool(lambda: context.services.curator.set_alias(namespace, name, alias, ref,
                                                                       actor=actor_of(principal), reason=reason))
    return redirect(f"/ui/tools/{namespace}/{name}", "alias")


@router.post("/ui/tools/{namespace}/{name}/pin")
async def set_pin(request: Request, namespace: str, name: str) -> Response:
    """Pin a version for a scope (an API key id or a toolset name)."""
    check_names(namespace, name)
    context, principal, form = await curator_form(request)
    check_write(principal, namespace)
    scope = form_field(form, "scope", pattern=SCOPE_PATTERN, max_length=64, required=True)
    ref = form_field(form, "ref", pattern=REF_PATTERN, max_length=64, required=True)
    reason = form_field(form, "reason")
    await run_in_threadpool(lambda: context.services.curator.pin(scope, namespace, name, ref,
                                                                 actor=actor_of(principal), reason=reason))
    return redirect(f"/ui/tools/{namespace}/{name}", "pin")


@router.post("/ui/review/{namespace}/{name}/{ref}/{decision}")
async def review_decision(request: Request, namespace: str, name: str, ref: str, decision: str) -> Response:
    """Approve (draft → active) or reject (draft → yanked) a queued version."""
    check_names(namespace, name, ref)
    if decision not in REVIEW:
        raise NotFound(f"no decision {decision!r}; the decisions are approve and reject")
    context, principal, form = await curator_form(request)
    check_write(principal, namespace)
    reason = form_field(form, "reason")
    method = getattr(context.services.curator, decision)
    await run_in_threadpool(lambda: method(namespace, name, ref, actor=actor_of(principal), reason=reason))
    return redirect("/ui/review", decision)


@router.api_route("/ui/{rest:path}", methods=["GET", "POST"])
async def not_found(request: Request, rest: str) -> Response:
    """Anything else under /ui: the 404 page."""
    try:
        caller(request)
    except Exception:
        request.state.principal = None
    raise NotFound(f"there is no console page at /ui/{rest[:200]}")
