"""Initial registry schema: tools, versions, aliases, pins, links, usage, keys, audit log, revision row.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:34:55.405526
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.Enum("reader", "curator", "admin", name="role"), nullable=False),
        sa.Column("namespaces", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "tool",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("namespace", "name", name="uq_tool_namespace_name"),
    )
    with op.batch_alter_table("tool", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tool_changed_revision"), ["changed_revision"], unique=False)
        batch_op.create_index(batch_op.f("ix_tool_namespace"), ["namespace"], unique=False)

    op.create_table(
        "tool_version",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tool_id", sa.String(length=32), nullable=False),
        sa.Column("semver", sa.String(length=32), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("patch", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("ast_hash", sa.String(length=64), nullable=False),
        sa.Column("entrypoint", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("input_schema", sa.JSON(), nullable=False),
        sa.Column("output_schema", sa.JSON(), nullable=True),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.Column("allowed_imports", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("validation_report", sa.JSON(), nullable=False),
        sa.Column("changelog", sa.Text(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Enum("draft", "active", "deprecated", "yanked", name="versionstatus"), nullable=False),
        sa.Column("replacement_id", sa.String(length=32), nullable=True),
        sa.Column("embedder", sa.String(length=64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("changed_revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tool.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tool_id", "content_hash", name="uq_version_content"),
        sa.UniqueConstraint("tool_id", "semver", name="uq_version_semver"),
    )
    with op.batch_alter_table("tool_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tool_version_ast_hash"), ["ast_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_tool_version_changed_revision"), ["changed_revision"], unique=False)
        batch_op.create_index(batch_op.f("ix_tool_version_content_hash"), ["content_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_tool_version_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_tool_version_tool_id"), ["tool_id"], unique=False)
        batch_op.create_index("ix_version_tool_order", ["tool_id", "major", "minor", "patch"], unique=False)

    op.create_table(
        "tool_alias",
        sa.Column("tool_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tool.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tool_version.id"],
        ),
        sa.PrimaryKeyConstraint("tool_id", "alias"),
    )
    op.create_table(
        "tool_pin",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("tool_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tool.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tool_version.id"],
        ),
        sa.PrimaryKeyConstraint("scope", "tool_id"),
    )
    op.create_table(
        "usage_stat",
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("total_latency_ms", sa.Float(), nullable=False),
        sa.Column("max_latency_ms", sa.Float(), nullable=False),
        sa.Column("last_called_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tool_version.id"],
        ),
        sa.PrimaryKeyConstraint("version_id", "day"),
    )
    op.create_table(
        "version_link",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("other_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.Enum("equivalent", "consolidates", "replaces", name="linkkind"), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["other_id"],
            ["tool_version.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tool_version.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("version_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_version_link_other_id"), ["other_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_version_link_version_id"), ["version_id"], unique=False)

    registry_state = sa.table("registry_state", sa.column("id", sa.Integer()), sa.column("revision", sa.Integer()))
    op.bulk_insert(registry_state, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("version_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_version_link_version_id"))
        batch_op.drop_index(batch_op.f("ix_version_link_other_id"))

    op.drop_table("version_link")
    op.drop_table("usage_stat")
    op.drop_table("tool_pin")
    op.drop_table("tool_alias")
    with op.batch_alter_table("tool_version", schema=None) as batch_op:
        batch_op.drop_index("ix_version_tool_order")
        batch_op.drop_index(batch_op.f("ix_tool_version_tool_id"))
        batch_op.drop_index(batch_op.f("ix_tool_version_status"))
        batch_op.drop_index(batch_op.f("ix_tool_version_content_hash"))
        batch_op.drop_index(batch_op.f("ix_tool_version_changed_revision"))
        batch_op.drop_index(batch_op.f("ix_tool_version_ast_hash"))

    op.drop_table("tool_version")
    with op.batch_alter_table("tool", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_namespace"))
        batch_op.drop_index(batch_op.f("ix_tool_changed_revision"))

    op.drop_table("tool")
    op.drop_table("registry_state")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("api_key")
    bind = op.get_bind()
    for enum_name in ("role", "versionstatus", "linkkind"):
        sa.Enum(name=enum_name).drop(bind, checkfirst=True)
