"""incident storms and the posted slack channel id

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 04:28:28.764976

Storms (`incident_storms`: one Slack message for a burst of incidents in one channel, and its
ts), each incident's `storm_id`, and `slack_channel_id`: the channel id Slack answered the
incident's post with, which chat.update needs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import oncall.db


revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_storms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("started_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_joined_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("slack_channel_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("slack_ts", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incident_storms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_storms_channel"), ["channel"], unique=False)

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "slack_channel_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )
        batch_op.add_column(sa.Column("storm_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_incidents_storm_id_incident_storms", "incident_storms", ["storm_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_constraint("fk_incidents_storm_id_incident_storms", type_="foreignkey")
        batch_op.drop_column("storm_id")
        batch_op.drop_column("slack_channel_id")

    with op.batch_alter_table("incident_storms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_storms_channel"))

    op.drop_table("incident_storms")
