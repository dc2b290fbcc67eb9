"""The review queue over REST: list the drafts waiting for a decision, approve or reject one.

Listing is a read (open or key-protected like every read, limited to the key's namespaces);
approve and reject need a curator key within the tool's namespace, exactly as the curation routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.concurrency import run_in_threadpool

from registry.api.deps import (
    ContextDep,
    CuratorKey,
    NameParam,
    NamespaceParam,
    Reader,
    RefParam,
    actor_of,
    check_write,
    visible_namespaces,
)
from registry.api.problems import PROBLEM_RESPONSES
from registry.api.routes_curation import ReasonRequest
from registry.schemas import ReviewEntry, VersionSummary
from registry.service.review import MAX_QUEUE, review_queue
from toolbox.spec import NAME_PATTERN

__all__ = ["router"]

router = APIRouter(tags=["review"], responses={
    **{code: PROBLEM_RESPONSES[code] for code in (401, 403, 404, 422)},
    409: {**PROBLEM_RESPONSES[422], "description": "The version is not a draft waiting for review."},
})
Reason = Annotated[ReasonRequest | None, Body()]


@router.get("/review", summary="List the review queue")
def review_route(
    context: ContextDep,
    principal: Reader,
    namespace: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    flagged_only: Annotated[bool, Query(description="Only versions flagged at publish (findings or no tests).")]
    = False,
    limit: Annotated[int, Query(ge=1, le=MAX_QUEUE)] = 100,
) -> list[ReviewEntry]:
    """Draft versions the caller may see, flagged first, each with why it waits and its poisoning findings."""
    return review_queue(context.services.engine, namespace=namespace, visible_namespaces=visible_namespaces(principal),
                        flagged_only=flagged_only, limit=limit)


@router.post("/review/{namespace}/{name}/{ref}/approve", summary="Approve a queued version")
async def review_approve_route(context: ContextDep, principal: CuratorKey, namespace: NamespaceParam,
                               name: NameParam, ref: RefParam, body: Reason = None) -> VersionSummary:
    """draft → active: it is served from now on; the audit entry records the findings and the reason."""
    check_write(principal, namespace)
    return await run_in_threadpool(context.services.curator.approve, namespace, name, ref,
                                   actor=actor_of(principal), reason=(body or ReasonRequest()).reason)


@router.post("/review/{namespace}/{name}/{ref}/reject", summary="Reject a queued version")
async def review_reject_route(context: ContextDep, principal: CuratorKey, namespace: NamespaceParam,
                              name: NameParam, ref: RefParam, body: Reason = None) -> VersionSummary:
    """draft → yanked: it is never served; the audit entry records the findings and the reason."""
    check_write(principal, namespace)
    return await run_in_threadpool(context.services.curator.reject, namespace, name, ref,
                                   actor=actor_of(principal), reason=(body or ReasonRequest()).reason)
