"""Trajectories: the teacher's runs on tasks, stored append-only and browsable.

A trajectory is evidence, not part of the served box: recording one does not bump the registry
revision (no tool list changes), but it is audited like every other write. ``record`` is
idempotent on the trajectory id, so a resumed teacher run can record everything again safely;
the first record of an id wins and later ones change nothing.
"""

from __future__ import annotations

import builtins

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from registry.db import audit, read_session
from registry.errors import InvalidRequest, NotFound
from registry.models import Trajectory, utcnow
from registry.schemas import TrajectoryRecord
from toolbox.logging import get_logger

__all__ = ["MAX_LIST", "TrajectoryService"]

log = get_logger("registry.trajectories")
MAX_LIST = 500
"""The most trajectories one ``list`` call returns."""


def _record_of(row: Trajectory) -> TrajectoryRecord:
    return TrajectoryRecord.model_validate(row.model_dump(exclude={"created_by"}))


class TrajectoryService:
    """Records, reads and lists trajectories in the registry behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        """Store trajectories in ``engine``'s database."""
        self.engine = engine

    def record(self, rec: TrajectoryRecord, *, actor: str = "system") -> str:
        """Store ``rec`` unless a trajectory with its id exists; returns the id either way."""
        self.record_if_new(rec, actor=actor)
        return rec.id

    def record_if_new(self, rec: TrajectoryRecord, *, actor: str = "system") -> bool:
        """Store ``rec`` unless a trajectory with its id exists; True when it was stored by this call."""
        with read_session(self.engine) as session:
            if session.get(Trajectory, rec.id) is not None:
                return False
        row = Trajectory(**rec.model_dump(exclude={"created_at"}), created_at=rec.created_at or utcnow(),
                         created_by=actor)
        with Session(self.engine) as session:
            session.add(row)
            audit(session, actor=actor, action="trajectory.record", target=rec.id[:256], run_id=rec.run_id,
                  task_id=rec.task_id, status=rec.status)
            try:
                session.commit()
            except IntegrityError:  # another writer recorded the same id in between: theirs wins
                session.rollback()
                if session.get(Trajectory, rec.id) is None:
                    raise
                return False
        log.debug("recorded trajectory %s (run %s, task %s, %s)", rec.id, rec.run_id, rec.task_id, rec.status)
        return True

    def get(self, trajectory_id: str) -> TrajectoryRecord:
        """The trajectory ``trajectory_id``; ``NotFound`` when there is none."""
        with read_session(self.engine) as session:
            row = session.get(Trajectory, trajectory_id)
        if row is None:
            raise NotFound(f"no trajectory {trajectory_id!r}; list them with GET /api/v1/trajectories")
        return _record_of(row)

    def list(self, *, task_id: str | None = None, run_id: str | None = None, limit: int = 50,
             offset: int = 0) -> builtins.list[TrajectoryRecord]:
        """Trajectories oldest first, optionally of one task and/or one run; ``limit`` at most ``MAX_LIST``."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIST}, not {limit}")
        if offset < 0:
            raise InvalidRequest(f"offset must be 0 or more, not {offset}")
        query = select(Trajectory)
        if task_id is not None:
            query = query.where(Trajectory.task_id == task_id)
        if run_id is not None:
            query = query.where(Trajectory.run_id == run_id)
        query = query.order_by(col(Trajectory.created_at), col(Trajectory.id)).offset(offset).limit(limit)
        with read_session(self.engine) as session:
            rows = session.exec(query).all()
        return [_record_of(row) for row in rows]
