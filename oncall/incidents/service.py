"""Incidents: reading them and the lifecycle people drive (acknowledge, resolve, notes,
escalate); Alertmanager ingest is in `ingest`.

Every function works inside the caller's transaction: the state change, its timeline rows
and the outbox rows for its side effects are committed together or not at all.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from oncall.errors import Conflict, InvalidRequest, UnknownEntity
from oncall.escalation import service as escalation
from oncall.incidents import flows
from oncall.incidents.models import (
    Alert,
    EventKind,
    Incident,
    IncidentEvent,
    IncidentStatus,
)
from oncall.incidents.timeline import add_event, record_event

log = logging.getLogger(__name__)


class UnknownIncident(UnknownEntity):
    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        super().__init__("incident", str(incident_id), message=f"unknown incident {incident_id}")


class InvalidTransition(Conflict):
    """An action that the incident's status does not allow (e.g. acknowledging a resolved one)."""


def close_incident(
    session: Session, incident: Incident, now: datetime, *, actor: str, text: str
) -> None:
    """Resolve: stop escalating, free the group for a new incident, update Slack and PagerDuty."""
    incident.status = IncidentStatus.resolved
    incident.open_group_hash = None
    incident.resolved_at = now
    incident.resolved_by = actor
    escalation.stop(incident)
    record_event(session, incident, now, EventKind.resolved, text, actor=actor)
    flows.incident_changed(session=session, incident=incident, now=now, reason="resolved")
    if incident.paged_at is not None:
        flows.page(session=session, incident=incident, now=now, action="resolve")


# --- the lifecycle, driven by people -------------------------------------------------------


def get_incident(*, session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise UnknownIncident(incident_id)
    return incident


def list_incidents(
    *, session: Session, status: str | None = None, limit: int = 200, team_id: str | None = None
) -> list[Incident]:
    query = select(Incident).order_by(col(Incident.id).desc()).limit(limit)
    if status is not None:
        query = query.where(Incident.status == status)
    if team_id is not None:
        query = query.where(Incident.team_id == team_id)
    return list(session.exec(query))


def alerts_of(*, session: Session, incident_id: int) -> list[Alert]:
    return list(
        session.exec(select(Alert).where(Alert.incident_id == incident_id).order_by(col(Alert.id)))
    )


def timeline_of(*, session: Session, incident_id: int) -> list[IncidentEvent]:
    return list(
        session.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
        )
    )


def acknowledge(*, session: Session, incident_id: int, by: str, now: datetime) -> Incident:
    """Stop the escalation; idempotent for an incident that is already acknowledged."""
    incident = get_incident(session=session, incident_id=incident_id)
    if incident.status == IncidentStatus.resolved:
        raise InvalidTransition(f"incident {incident_id} is resolved; nothing to acknowledge")
    if incident.status == IncidentStatus.acknowledged:
        return incident
    incident.status = IncidentStatus.acknowledged
    incident.acknowledged_at = now
    incident.acknowledged_by = by
    incident.updated_at = now
    escalation.stop(incident)
    record_event(session, incident, now, EventKind.acknowledged, f"acknowledged by {by}", actor=by)
    flows.incident_changed(session=session, incident=incident, now=now, reason="acknowledged")
    if incident.paged_at is not None:
        flows.page(session=session, incident=incident, now=now, action="acknowledge")
    session.add(incident)
    session.flush()
    return incident


def resolve(
    *, session: Session, incident_id: int, by: str, now: datetime, note: str | None = None
) -> Incident:
    incident = get_incident(session=session, incident_id=incident_id)
    if incident.status == IncidentStatus.resolved:
        return incident
    close_incident(
        session, incident, now, actor=by, text=f"resolved by {by}" + (f": {note}" if note else "")
    )
    incident.updated_at = now
    session.add(incident)
    session.flush()
    return incident


def add_note(
    *, session: Session, incident_id: int, by: str, text: str, now: datetime
) -> IncidentEvent:
    incident = get_incident(session=session, incident_id=incident_id)
    text = text.strip()
    if not text:
        raise InvalidRequest("a note needs text", field="text")
    record_event(session, incident, now, EventKind.note, text[:4000], actor=by)
    incident.updated_at = now
    session.add(incident)
    session.flush()
    return timeline_of(session=session, incident_id=incident_id)[-1]


def escalate(*, session: Session, incident_id: int, by: str, now: datetime) -> str:
    """Fire the next escalation step now; returns what happened."""
    incident = get_incident(session=session, incident_id=incident_id)
    if incident.status == IncidentStatus.resolved:
        raise InvalidTransition(f"incident {incident_id} is resolved; nothing to escalate")
    step = escalation.escalate_now(session=session, incident=incident, now=now, actor=by)
    incident.updated_at = now
    session.add(incident)
    session.flush()
    if step is None:
        raise InvalidTransition(f"incident {incident_id} has no escalation step left")
    return f"step {step.index + 1}: {', '.join(step.notify)}"


def fire_due_escalations(*, session: Session, now: datetime) -> int:
    """The scheduler's job body: fire every due step of every triggered incident."""
    fired = 0
    for incident_id in escalation.due_incident_ids(session=session, now=now):
        query = select(Incident).where(Incident.id == incident_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        incident = session.exec(query).first()
        if incident is None:
            continue
        steps = escalation.fire_due(session=session, incident=incident, now=now)
        if steps:
            incident.updated_at = now
            session.add(incident)
            fired += len(steps)
    session.flush()
    return fired


def record_delivery_failure(
    *, session: Session, incident_id: int, what: str, error: str, now: datetime
) -> None:
    """A side effect the target refused for good (a 4xx): show it on the incident."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return
    incident.delivery_error = f"{what}: {error}"[:2000]
    incident.updated_at = now
    session.add(incident)
    add_event(
        session=session,
        incident_id=incident_id,
        at=now,
        kind=EventKind.delivery_failed,
        text=f"{what} failed for good: {error}"[:4000],
    )
