"""Trajectories (teacher runs on tasks) and the behavioural fingerprint of tool versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 13:24:17.796462
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "trajectory",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("teacher_model", sa.String(length=128), nullable=False),
        sa.Column("prompt_version", sa.String(length=64), nullable=False),
        sa.Column("ftp", sa.Text(), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("final_answer", sa.Text(), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trajectory", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trajectory_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_trajectory_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trajectory_task_id"), ["task_id"], unique=False)

    with op.batch_alter_table("tool_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_tool_version_fingerprint"), ["fingerprint"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("tool_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_version_fingerprint"))
        batch_op.drop_column("fingerprint")

    with op.batch_alter_table("trajectory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trajectory_task_id"))
        batch_op.drop_index(batch_op.f("ix_trajectory_run_id"))
        batch_op.drop_index(batch_op.f("ix_trajectory_created_at"))

    op.drop_table("trajectory")
