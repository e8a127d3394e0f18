"""readiness snapshots and recorded runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:55:00

One row per stored Production Readiness Score of a model (daily by the scheduler, and on
demand), with the whole breakdown as JSON, so trends and "the PRS at the time of the
incident" exist from the first day; and the runs of tests and data checks pushed from CI
(`readiness_evidence`), whose latest one decides its check.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import oncall.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "readiness_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("taken_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("minimum_percent", sa.Float(), nullable=True),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("readiness_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_readiness_snapshots_model_id"), ["model_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_readiness_snapshots_taken_at"), ["taken_at"], unique=False
        )
    op.create_table(
        "readiness_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("check_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("result", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("ran_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("commit", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("recorded_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("readiness_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_readiness_evidence_model_id"), ["model_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("readiness_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readiness_evidence_model_id"))
    op.drop_table("readiness_evidence")
    with op.batch_alter_table("readiness_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readiness_snapshots_taken_at"))
        batch_op.drop_index(batch_op.f("ix_readiness_snapshots_model_id"))
    op.drop_table("readiness_snapshots")
