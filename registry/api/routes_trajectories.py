"""Trajectory routes: browse the teacher's runs, and record one with a curator key."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from registry.api.deps import ContextDep, CuratorKey, Reader, actor_of
from registry.api.problems import PROBLEM_RESPONSES
from registry.schemas import TrajectoryPage, TrajectoryRecord
from registry.service.trajectories import MAX_LIST

__all__ = ["router"]

router = APIRouter(tags=["trajectories"], responses={401: PROBLEM_RESPONSES[401], 422: PROBLEM_RESPONSES[422]})
_ID = Annotated[str, Path(min_length=1, max_length=128, description="The trajectory's id.")]
_FILTER = {"min_length": 1, "max_length": 128}


@router.get("/trajectories", summary="List trajectories")
def list_trajectories_route(
    context: ContextDep,
    _principal: Reader,
    task_id: Annotated[str | None, Query(**_FILTER, description="Only runs on this task.")] = None,
    run_id: Annotated[str | None, Query(**_FILTER, description="Only trajectories of this teacher run.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> TrajectoryPage:
    """Trajectories oldest first, filtered by task and/or run, one page at a time."""
    items = context.services.trajectories.list(task_id=task_id, run_id=run_id, limit=limit + 1, offset=offset)
    more = len(items) > limit
    return TrajectoryPage(items=items[:limit], limit=limit, offset=offset,
                          next_offset=offset + limit if more else None)


@router.get("/trajectories/{trajectory_id}", summary="Get one trajectory",
            responses={404: PROBLEM_RESPONSES[404]})
def get_trajectory_route(context: ContextDep, _principal: Reader, trajectory_id: _ID) -> TrajectoryRecord:
    """Everything recorded about one trajectory."""
    return context.services.trajectories.get(trajectory_id)


@router.post("/trajectories", status_code=201, summary="Record a trajectory",
             responses={200: {"model": TrajectoryRecord, "description": "A trajectory with this id existed: "
                                                                          "the stored one, unchanged."},
                        403: PROBLEM_RESPONSES[403]})
async def record_trajectory_route(context: ContextDep, principal: CuratorKey, record: TrajectoryRecord,
                                  response: Response) -> TrajectoryRecord:
    """Store a trajectory (idempotent on its id: 201 when stored now, 200 when it was already there)."""
    service = context.services.trajectories
    stored = await run_in_threadpool(lambda: service.record_if_new(record, actor=actor_of(principal)))
    response.status_code = 201 if stored else 200
    response.headers["Location"] = f"/api/v1/trajectories/{quote(record.id, safe='')}"
    return await run_in_threadpool(service.get, record.id)
