"""RCA tables: one document per incident and its action items.

The readiness domain reads `rca_action_items` for the RCA follow-through check (action items
closed by their due date), so these tables import nothing from the rest of the product."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from oncall.db import UTCDateTime


class RcaStatus(StrEnum):
    draft = "draft"
    in_review = "in_review"
    done = "done"


class ActionStatus(StrEnum):
    open = "open"
    done = "done"


class RcaDocument(SQLModel, table=True):
    """The RCA of one incident: the generated draft and what people completed in it."""

    __tablename__ = "rca_documents"

    incident_id: int = Field(foreign_key="incidents.id", primary_key=True)
    # Copied from the incident so follow-through and "related incidents" need no join.
    model_id: str | None = Field(default=None, max_length=128, index=True)
    team_id: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(default=RcaStatus.draft, max_length=16, index=True)
    markdown: str = Field(default="", sa_column=Column(Text, nullable=False))
    root_cause: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    template: str = Field(default="default", max_length=256)
    generated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class RcaActionItem(SQLModel, table=True):
    """One follow-up of an RCA, numbered 1..N within it (`oncall rca action done ID N`)."""

    __tablename__ = "rca_action_items"
    __table_args__ = (UniqueConstraint("incident_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="rca_documents.incident_id")
    number: int
    title: str = Field(sa_column=Column(Text, nullable=False))
    # The PRS check this item closes, when it came from a readiness gap.
    check_id: str | None = Field(default=None, max_length=128)
    model_id: str | None = Field(default=None, max_length=128, index=True)
    # A catalog person id; plain text, so removing a person from the catalog keeps the history.
    owner_id: str | None = Field(default=None, max_length=64)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default=ActionStatus.open, max_length=16)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
