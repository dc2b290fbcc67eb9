"""Retrieval corpora: the passages the builtin ``retrieve`` tool searches.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "corpus_document",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("corpus", sa.String(length=64), nullable=False),
        sa.Column("doc_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedder", sa.String(length=64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("corpus", "doc_id", name="uq_corpus_doc"),
    )
    with op.batch_alter_table("corpus_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_corpus_document_corpus"), ["corpus"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("corpus_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_corpus_document_corpus"))
    op.drop_table("corpus_document")
