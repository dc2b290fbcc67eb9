"""The console's health report (``/ui/health``, with one-click suggestions) and clusters (``/ui/clusters``).

Reads follow the REST reads' rules (``require_reader``). ``POST /ui/health/apply`` carries out one
suggestion through ``registry.service.health_actions`` (the ``Curator``, so each step is audited),
after the same checks as every console action: the CSRF token and Origin, a curator key, then the
tool's and the replacement's namespaces.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from registry.api.deps import REF_PATTERN, actor_of, check_write, require_reader
from registry.api.routes_curation import REPLACEMENT_PATTERN
from registry.console.actions import curator_form, form_field
from registry.console.insights import DAY_CHOICES, clusters_page, health_page
from registry.console.render import ConsoleRoute, render
from registry.console.routes import DONE_MESSAGES, caller, check_names
from registry.errors import InvalidRequest
from registry.service.health import MAX_DAYS
from registry.service.health_actions import apply_suggestion
from registry.service.health_models import SuggestionKind
from toolbox.spec import NAME_PATTERN

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Done = Annotated[str | None, Query(max_length=64)]


@router.get("/ui/health")
async def health_report_page(request: Request, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
                             done: Done = None) -> Response:
    """Usage per version with charts, and the findings with their one-click suggestions."""
    context, principal = caller(request)
    require_reader(context, principal)
    page = await run_in_threadpool(health_page, context.services.engine, principal, days)
    return render(request, "health.html", page=page, report=page.report, days=days, day_choices=DAY_CHOICES,
                  done=DONE_MESSAGES.get(done or ""))


@router.get("/ui/clusters")
async def clusters_view(request: Request) -> Response:
    """Clusters of similar tools (near duplicates found at publish, equal behaviour, consolidations)."""
    context, principal = caller(request)
    require_reader(context, principal)
    clusters = await run_in_threadpool(clusters_page, context.services.engine, principal)
    return render(request, "clusters.html", clusters=clusters, threshold=context.services.publisher.near_threshold)


@router.post("/ui/health/apply")
async def apply_health_suggestion(request: Request) -> Response:
    """Carry out one suggestion of the health report (deprecate, deprecate with replacement, roll back)."""
    context, principal, form = await curator_form(request)
    raw_kind = form_field(form, "kind", max_length=64, required=True)
    try:
        kind = SuggestionKind(raw_kind)
    except ValueError:
        choices = ", ".join(k.value for k in SuggestionKind)
        raise InvalidRequest(f"no suggestion kind {raw_kind!r}; the kinds are {choices}") from None
    namespace = form_field(form, "namespace", pattern=NAME_PATTERN, max_length=64, required=True)
    name = form_field(form, "name", pattern=NAME_PATTERN, max_length=64, required=True)
    ref = form_field(form, "ref", pattern=REF_PATTERN, max_length=64, required=True)
    check_names(namespace, name, ref)
    replacement = form_field(form, "replacement", pattern=REPLACEMENT_PATTERN, max_length=200) or None
    check_write(principal, namespace)
    if replacement is not None:
        check_write(principal, replacement.split(".", 1)[0])
    reason = form_field(form, "reason") or f"health report: {kind.value}"
    await run_in_threadpool(lambda: apply_suggestion(context.services.curator, kind, namespace, name, ref,
                                                     replacement=replacement, actor=actor_of(principal),
                                                     reason=reason))
    days = form_field(form, "days", pattern=r"^\d{1,3}$", max_length=3) or "30"
    return RedirectResponse(f"/ui/health?days={days}&done=applied", status_code=303)
