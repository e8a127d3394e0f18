"""incident storms and the posted slack channel id

Revision ID: 0005
Revises: 0004
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
down_revision: str | None = "0004"
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
    op.create_index("ix_incident_storms_channel", "incident_storms", ["channel"], unique=False)

    # Plain ALTER TABLE, also on SQLite: a batch copy would drop and re-create `incidents`,
    # which the foreign keys of alerts, events, outbox and escalations forbid.
    op.add_column(
        "incidents",
        sa.Column("slack_channel_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.add_column("incidents", sa.Column("storm_id", sa.Integer(), nullable=True))
    op.create_index("ix_incidents_storm_id", "incidents", ["storm_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_incidents_storm_id", table_name="incidents")
    op.drop_column("incidents", "storm_id")
    op.drop_column("incidents", "slack_channel_id")
    op.drop_index("ix_incident_storms_channel", table_name="incident_storms")
    op.drop_table("incident_storms")
