"""Usage for the health report: latency histogram buckets per (version, day), and calls reached via search.

Existing ``usage_stat`` rows keep their totals and get ``search_calls = 0``; their calls have no
buckets (percentiles cover the calls recorded from this revision on).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "usage_latency",
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["tool_version.id"]),
        sa.PrimaryKeyConstraint("version_id", "day", "bucket"),
    )
    with op.batch_alter_table("usage_stat", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_calls", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("usage_stat", schema=None) as batch_op:
        batch_op.drop_column("search_calls")
    op.drop_table("usage_latency")
