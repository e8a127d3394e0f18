"""Read and write schemas of the incidents API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from oncall.escalation.models import Escalation
from oncall.incidents.models import Alert, Incident, IncidentEvent


class IncidentPublic(BaseModel):
    id: int
    title: str
    status: str
    severity: str
    group_key: str
    team_id: str | None
    model_id: str | None
    rotation_id: str | None
    escalation_policy_id: str | None
    assignee_id: str | None
    routing_warning: str | None
    labels: dict[str, str]
    truncated_alerts: int
    triggered_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    escalation_step: int
    escalation_due_at: datetime | None
    paged_at: datetime | None
    delivery_error: str | None

    @classmethod
    def of(cls, incident: Incident, escalation: Escalation | None = None) -> IncidentPublic:
        return cls.model_validate(
            {
                **{name: getattr(incident, name) for name in _INCIDENT_FIELDS},
                "escalation_step": escalation.next_step if escalation else 0,
                "escalation_due_at": escalation.due_at if escalation else None,
                "paged_at": escalation.paged_at if escalation else None,
            }
        )


_ESCALATION_FIELDS = ("escalation_step", "escalation_due_at", "paged_at")
_INCIDENT_FIELDS = tuple(n for n in IncidentPublic.model_fields if n not in _ESCALATION_FIELDS)


class AlertPublic(BaseModel):
    fingerprint: str
    alertname: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str

    @classmethod
    def of(cls, alert: Alert) -> AlertPublic:
        return cls.model_validate(alert, from_attributes=True)


class EventPublic(BaseModel):
    at: datetime
    kind: str
    actor: str
    text: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: IncidentEvent) -> EventPublic:
        return cls.model_validate(event, from_attributes=True)


class IncidentDetail(IncidentPublic):
    alerts: list[AlertPublic]
    timeline: list[EventPublic]


class ActorBody(BaseModel):
    by: str | None = Field(None, max_length=64, description="Person id recorded as the actor.")


class ResolveBody(ActorBody):
    note: str | None = Field(None, max_length=4000)


class NoteBody(ActorBody):
    text: str = Field(min_length=1, max_length=4000)
