"""Escalation tables: the policies (from oncall.yaml) and each incident's escalation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from oncall.db import UTCDateTime


class EscalationPolicy(SQLModel, table=True):
    __tablename__ = "escalation_policies"

    id: str = Field(primary_key=True, max_length=64)
    steps: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class Escalation(SQLModel, table=True):
    """Where one incident's escalation stands. The steps are frozen when its clock starts (the
    trigger or a reopening): editing the policy changes incidents opened afterwards only.

    `next_step` and `due_at` are the idempotency token: a step fires only through a
    conditional UPDATE that moves `next_step` on from the value it read, so two schedulers, a
    restart or an ack racing the job can never fire a step twice."""

    __tablename__ = "escalations"

    incident_id: int = Field(primary_key=True, foreign_key="incidents.id")
    policy_id: str | None = Field(default=None, max_length=64)
    steps: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # 1 at the trigger, +1 at each reopening: PagerDuty events of one run share its number.
    run: int = 1
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    next_step: int = 0  # index of the next step to fire
    # When the next step falls due; NULL once acknowledged, resolved or out of steps.
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When this run first paged PagerDuty: an ack or resolve is then sent there too.
    paged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
