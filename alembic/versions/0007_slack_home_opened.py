"""slack home opened

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00.000000

Who has opened the bot's App Home (`slack_home_opened`): only their homes are refreshed
when what they show changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import oncall.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_home_opened",
        sa.Column("person_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("first_opened_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_opened_at", oncall.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("slack_home_opened")
