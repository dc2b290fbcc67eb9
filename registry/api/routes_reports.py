"""Report routes: the health report of the box and the clusters of similar tools (reads, same rules as tools)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from registry.api.deps import ContextDep, Reader, visible_namespaces
from registry.api.problems import PROBLEM_RESPONSES
from registry.service.clusters import Cluster, similar_tool_clusters
from registry.service.health import MAX_DAYS, health_report
from registry.service.health_models import HealthReport

__all__ = ["router"]

router = APIRouter(tags=["reports"], responses={401: PROBLEM_RESPONSES[401], 422: PROBLEM_RESPONSES[422]})


@router.get("/health-report", summary="Health report of the box")
def health_report_route(
    context: ContextDep,
    principal: Reader,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="The last N UTC days, today included.")] = 30,
) -> HealthReport:
    """Calls, error rate, p50/p95 latency, last call and the share reached via search_tools per version,
    with findings (unused, superseded but still called, error rate jumped) and the curation each suggests."""
    return health_report(context.services.engine, days=days, visible_namespaces=visible_namespaces(principal))


@router.get("/clusters", summary="Clusters of similar tools")
def clusters_route(context: ContextDep, principal: Reader) -> list[Cluster]:
    """Tools linked by near-duplicate detection at publish, equal behaviour fingerprints or consolidation."""
    return similar_tool_clusters(context.services.engine, visible_namespaces=visible_namespaces(principal))
