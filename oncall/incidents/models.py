"""Incident tables: incidents, their alerts and their timeline."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from oncall.db import UTCDateTime


class IncidentStatus(StrEnum):
    triggered = "triggered"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Severity(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"


class EventKind(StrEnum):
    triggered = "triggered"
    alert_joined = "alert_joined"
    alert_resolved = "alert_resolved"
    acknowledged = "acknowledged"
    escalated = "escalated"
    note = "note"
    resolved = "resolved"
    reopened = "reopened"
    routing_warning = "routing_warning"
    delivery_failed = "delivery_failed"


def group_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode("utf-8")).hexdigest()


class IncidentStorm(SQLModel, table=True):
    """A burst of incidents in one channel, shown as one message (its members' `storm_id`)."""

    __tablename__ = "incident_storms"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=128, index=True)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # A storm goes on while incidents keep joining within WINDOW of the last one.
    last_joined_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    slack_channel_id: str | None = Field(default=None, max_length=64)
    slack_ts: str | None = Field(default=None, max_length=64)


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"

    id: int | None = Field(default=None, primary_key=True)
    group_key: str = Field(sa_column=Column(Text, nullable=False))
    # Indexes use the SHA-256 of the key: Alertmanager's keys can be longer than an index entry.
    group_hash: str = Field(max_length=64, index=True)
    # group_hash while open, NULL once resolved: the unique index keeps one open incident a group.
    open_group_hash: str | None = Field(default=None, max_length=64, unique=True)
    title: str
    status: str = Field(default=IncidentStatus.triggered, max_length=16, index=True)
    severity: str = Field(default=Severity.warning, max_length=16)
    team_id: str | None = Field(default=None, foreign_key="teams.id", max_length=64)
    model_id: str | None = Field(default=None, max_length=128, index=True)
    rotation_id: str | None = Field(default=None, foreign_key="rotations.id", max_length=64)
    escalation_policy_id: str | None = Field(
        default=None, foreign_key="escalation_policies.id", max_length=64
    )
    assignee_id: str | None = Field(default=None, foreign_key="people.id", max_length=64)
    routing_warning: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    truncated_alerts: int = 0
    triggered_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    # Where its escalation stands lives in the escalation domain (`escalations`).
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = None
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    # The channel id Slack answered the post with: chat.update needs the id, not a name.
    slack_channel_id: str | None = Field(default=None, max_length=64)
    # Set when the incident opened inside a storm and is shown on the storm's message.
    # (No foreign key: SQLite adds a referencing column only by copying `incidents`.)
    storm_id: int | None = Field(default=None, index=True)
    delivery_error: str | None = None
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class IncidentFacts(Protocol):
    """What the outbox payloads and the timeline read of an incident: a stored `Incident`, or
    the plain record of one just opened (`ingest.NewIncident`), which needs no ORM object."""

    id: int | None
    title: str
    severity: str
    team_id: str | None
    model_id: str | None
    rotation_id: str | None
    assignee_id: str | None
    labels: dict[str, str]
    slack_channel: str | None
    triggered_at: datetime


class Alert(SQLModel, table=True):
    """One occurrence of an Alertmanager alert: fingerprint + startsAt."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("incident_id", "fingerprint", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: the unique (incident_id, fingerprint, starts_at) index leads with it.
    incident_id: int = Field(foreign_key="incidents.id")
    fingerprint: str = Field(max_length=64)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(max_length=16)
    alertname: str = Field(default="", max_length=256)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    generator_url: str = Field(default="", sa_column=Column(Text, nullable=False))
    first_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class IncidentEvent(SQLModel, table=True):
    """The timeline: one row per thing that happened to an incident."""

    __tablename__ = "incident_events"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    kind: str = Field(max_length=32)
    actor: str = Field(default="system", max_length=128)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
