"""outbox pending rows by channel and id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 08:45:00.000000

`ix_outbox_pending_by_channel`: the rows still to deliver, per channel in id order. A claim
takes the oldest rows that can go and stops, instead of reading and sorting the channel's
whole backlog, and the Slack handler's "a later row of this storm" check reads from the end.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "delivered_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_pending_by_channel",
        "outbox",
        ["channel", "id"],
        unique=False,
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_by_channel", table_name="outbox")
