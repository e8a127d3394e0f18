"""RCA tables: one document per incident and its action items.

The readiness domain reads `rca_action_items` for the RCA follow-through check (action items
closed by their due date), so these tables import nothing from the rest of the product."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from oncall.db import UTCDateTime


class RcaStatus(StrEnum):
    draft = "draft"
    in_review = "in_review"
    done = "done"


class ActionStatus(StrEnum):
    open = "open"
    done = "done"


# The sections a person completes, besides the root cause (which has its own column).
HUMAN_SECTIONS: dict[str, str] = {
    "contributing_factors": "Contributing factors",
    "went_well": "What went well",
    "went_wrong": "What went wrong",
    "lucky": "Where we got lucky",
}


class RcaDocument(SQLModel, table=True):
    """The RCA of one incident: the generated draft and what people completed in it."""

    __tablename__ = "rca_documents"

    incident_id: int = Field(foreign_key="incidents.id", primary_key=True)
    # Copied from the incident so follow-through and "related incidents" need no join.
    model_id: str | None = Field(default=None, max_length=128, index=True)
    team_id: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(default=RcaStatus.draft, max_length=16, index=True)
    # The rendered document (the team's template or the default), re-rendered on every change.
    markdown: str = Field(default="", sa_column=Column(Text, nullable=False))
    # What was generated from the incident (summary, impact, timeline, alerts, PRS at the time,
    # related incidents): the one content both the Markdown and the HTML page render.
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    root_cause: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # What people wrote in the other sections (HUMAN_SECTIONS keys); kept on regeneration.
    sections: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
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


# --- read and write schemas ------------------------------------------------------------------


class ActionItemPatch(BaseModel):
    """A change to one action item, named by its number."""

    model_config = ConfigDict(extra="forbid")

    number: int = PydanticField(ge=1)
    status: ActionStatus | None = None
    owner: str | None = PydanticField(default=None, max_length=64)
    due: datetime | None = None


class RcaPatch(BaseModel):
    """`PATCH /api/v1/incidents/{id}/rca`: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    status: RcaStatus | None = None
    root_cause: str | None = PydanticField(default=None, max_length=20000)
    contributing_factors: str | None = PydanticField(default=None, max_length=20000)
    went_well: str | None = PydanticField(default=None, max_length=20000)
    went_wrong: str | None = PydanticField(default=None, max_length=20000)
    lucky: str | None = PydanticField(default=None, max_length=20000)
    action_items: list[ActionItemPatch] = PydanticField(default_factory=list, max_length=500)


class ActionItemPublic(BaseModel):
    number: int
    title: str
    check_id: str | None
    model_id: str | None
    owner: str | None
    due_at: datetime | None
    status: str
    done_at: datetime | None
    overdue: bool


class RcaPublic(BaseModel):
    incident_id: int
    model_id: str | None
    team_id: str | None
    status: str
    template: str
    root_cause: str | None
    sections: dict[str, str]
    generated_at: datetime
    updated_at: datetime
    action_items: list[ActionItemPublic]
    url: str
    markdown_url: str
