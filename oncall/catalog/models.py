"""Catalog tables: the database copy of oncall.yaml. Retired rows stay: history keeps names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from oncall.db import UTCDateTime
from oncall.escalation.models import EscalationPolicy  # the catalog loads policies too

__all__ = [
    "CatalogRevision",
    "EscalationPolicy",
    "Model",
    "Person",
    "Rotation",
    "Route",
    "Team",
]


def _json(factory: type[list[Any]] | type[dict[str, Any]]) -> Any:
    return Field(default_factory=factory, sa_column=Column(JSON, nullable=False))


def _when(nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable)


class Team(SQLModel, table=True):
    __tablename__ = "teams"

    id: str = Field(primary_key=True, max_length=64)
    name: str
    slack_channel: str | None = None
    leads: list[str] = _json(list)
    pagerduty_routing_key: str | None = None
    # The source of the team's own RCA template (read from `rca_template:` by config apply).
    rca_template: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    retired_at: datetime | None = _when()


class Person(SQLModel, table=True):
    __tablename__ = "people"

    id: str = Field(primary_key=True, max_length=64)
    name: str
    slack_user: str | None = Field(default=None, index=True)
    email: str | None = None
    timezone: str
    retired_at: datetime | None = _when()


class Rotation(SQLModel, table=True):
    __tablename__ = "rotations"

    id: str = Field(primary_key=True, max_length=64)
    team_id: str = Field(foreign_key="teams.id", max_length=64)
    timezone: str
    # The layers exactly as declared (name, members, start, shift, restrict): shifts are computed.
    layers: list[dict[str, Any]] = _json(list)
    # The Slack user group (id) kept set to whoever is on call; None: no group.
    slack_usergroup: str | None = Field(default=None, max_length=64)
    retired_at: datetime | None = _when()


class Model(SQLModel, table=True):
    """A machine-learning model in production; an alert's `model` label names its id."""

    __tablename__ = "models"

    id: str = Field(primary_key=True, max_length=64)
    name: str
    team_id: str = Field(foreign_key="teams.id", max_length=64)
    rotation_id: str | None = Field(default=None, foreign_key="rotations.id", max_length=64)
    escalation_policy_id: str | None = Field(
        default=None, foreign_key="escalation_policies.id", max_length=64
    )
    readiness: dict[str, Any] = _json(dict)
    # What the model does for the business, in words (shown in an RCA's impact).
    serves: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    retired_at: datetime | None = _when()


class Route(SQLModel, table=True):
    """Routing for alerts that name no known model; the lowest position that matches wins."""

    __tablename__ = "routes"

    position: int = Field(primary_key=True)
    match: dict[str, str] = _json(dict)
    rotation_id: str = Field(foreign_key="rotations.id", max_length=64)
    escalation_policy_id: str = Field(foreign_key="escalation_policies.id", max_length=64)


class CatalogRevision(SQLModel, table=True):
    """One row per `config apply` that changed something: when, from where, what."""

    __tablename__ = "catalog_revisions"

    id: int | None = Field(default=None, primary_key=True)
    applied_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    source: str
    sha256: str = Field(max_length=64)
    changes: list[str] = _json(list)
