"""escalation state in its own table, the scheduler lease, outbox leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:32:01.233512

Each incident's escalation moves from columns of `incidents` to `escalations` (the
escalation domain's own table), with its values copied. Outbox rows gain a lease
(`claimed_by`, `lease_until`) and `attempts_since` (when the current delivery effort began,
for the dead-letter age); `dedup_key` becomes unique per channel. `leases` holds the
scheduler lease: one leader per database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import oncall.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOVED = (
    "escalation_steps",
    "paged_at",
    "escalation_step",
    "escalation_due_at",
    "escalation_started_at",
)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("acquired_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "escalations",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("started_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("due_at", oncall.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", oncall.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paged_at", oncall.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalations_due_at"), ["due_at"], unique=False)

    # Copy each incident's escalation before its columns go (a stopped one has no due time).
    op.execute(
        """
        INSERT INTO escalations
            (incident_id, policy_id, steps, run, started_at, next_step, due_at, stopped_at,
             paged_at)
        SELECT id, escalation_policy_id, COALESCE(escalation_steps, '[]'), 1,
               escalation_started_at, escalation_step,
               CASE WHEN status = 'triggered' THEN escalation_due_at END,
               CASE WHEN status = 'triggered' THEN NULL
                    ELSE COALESCE(acknowledged_at, resolved_at) END,
               paged_at
        FROM incidents
        """
    )

    # Plain ALTER TABLE, also on SQLite (3.35+): a batch copy would drop and re-create
    # `incidents`, which the foreign keys of alerts, events, outbox and escalations forbid.
    op.drop_index("ix_incidents_escalation_due_at", table_name="incidents")
    for column in _MOVED:
        op.drop_column("incidents", column)

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempts_since", oncall.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lease_until", oncall.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE outbox SET attempts_since = created_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "attempts_since", existing_type=oncall.db.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.drop_index(batch_op.f("ix_outbox_channel"))
        batch_op.drop_index(batch_op.f("ix_outbox_next_attempt_at"))
        batch_op.create_unique_constraint("uq_outbox_channel_dedup_key", ["channel", "dedup_key"])
    # The worker's indexes cover only rows still to deliver (delivered ones stay 30 days).
    pending = sa.text("delivered_at IS NULL AND failed_at IS NULL")
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["channel", "next_attempt_at"],
        sqlite_where=pending,
        postgresql_where=pending,
    )
    op.create_index(
        "ix_outbox_pending_by_key",
        "outbox",
        ["ordering_key", "id"],
        sqlite_where=pending,
        postgresql_where=pending,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_by_key", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("uq_outbox_channel_dedup_key", type_="unique")
        batch_op.create_index(batch_op.f("ix_outbox_channel"), ["channel"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("attempts_since")

    # Plain ALTER TABLE ADD COLUMN (see upgrade); the columns stay nullable on SQLite.
    op.add_column(
        "incidents",
        sa.Column("escalation_started_at", oncall.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "incidents",
        sa.Column("escalation_due_at", oncall.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "incidents",
        sa.Column("escalation_step", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "incidents", sa.Column("paged_at", oncall.db.UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column("incidents", sa.Column("escalation_steps", sa.JSON(), nullable=True))
    op.execute(
        """
        UPDATE incidents SET
            escalation_started_at = COALESCE(
                (SELECT started_at FROM escalations e WHERE e.incident_id = incidents.id),
                triggered_at),
            escalation_due_at = (SELECT due_at FROM escalations e
                                 WHERE e.incident_id = incidents.id),
            escalation_step = COALESCE((SELECT next_step FROM escalations e
                                        WHERE e.incident_id = incidents.id), 0),
            paged_at = (SELECT paged_at FROM escalations e WHERE e.incident_id = incidents.id),
            escalation_steps = (SELECT steps FROM escalations e
                                WHERE e.incident_id = incidents.id)
        """
    )
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("incidents", "escalation_started_at", nullable=False)
        op.alter_column("incidents", "escalation_step", server_default=None)
    op.create_index(
        "ix_incidents_escalation_due_at", "incidents", ["escalation_due_at"], unique=False
    )

    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalations_due_at"))
    op.drop_table("escalations")
    op.drop_table("leases")
