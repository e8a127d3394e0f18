"""Incidents: reading them and the lifecycle people drive (acknowledge, resolve, notes,
escalate); Alertmanager ingest is in `ingest`.

Every function works inside the caller's transaction: the state change, its timeline rows
and the outbox rows for its side effects are committed together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.errors import Conflict, InvalidRequest, UnknownEntity
from oncall.escalation import scheduled
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
from oncall.outbox import MessageKind

INCIDENTS: Table = Incident.__table__  # type: ignore[attr-defined]

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
    """Resolve an incident the caller holds (ingest: locked on PostgreSQL): stop escalating,
    free the group for a new incident, update Slack and PagerDuty."""
    incident.status = IncidentStatus.resolved
    incident.open_group_hash = None
    incident.resolved_at = now
    incident.resolved_by = actor
    _resolved(session, incident, now, actor=actor, text=text)


def _resolved(
    session: Session,
    incident: Incident,
    now: datetime,
    *,
    actor: str,
    text: str,
    tell_pagerduty: bool = True,
) -> None:
    stopped = escalation.stop(session=session, incident_id=_id(incident), now=now)
    record_event(session, incident, now, EventKind.resolved, text, actor=actor)
    flows.incident_changed(session=session, incident=incident, now=now, reason="resolved")
    if stopped.paged and tell_pagerduty:
        flows.page(
            session=session, incident=incident, now=now, action=MessageKind.resolve, run=stopped.run
        )


def _id(incident: Incident) -> int:
    if incident.id is None:
        raise ValueError("the incident must be stored first")
    return incident.id


def _transition(
    session: Session, incident_id: int, *, allowed_from: tuple[str, ...], values: dict[str, Any]
) -> tuple[bool, Incident]:
    """Change the incident with one conditional UPDATE on its status, then read it back.

    The UPDATE is the serialisation point of ack, resolve and escalate against each other and
    against the escalation job: it waits for PostgreSQL's row lock and re-checks the status,
    and on SQLite it takes the write lock before anything is read. Returns whether this call
    made the change, and the incident as it now is."""
    changed = session.connection().execute(
        update(INCIDENTS)
        .where(INCIDENTS.c.id == incident_id)
        .where(INCIDENTS.c.status.in_(allowed_from))
        .values(**values)
    )
    incident = session.get(Incident, incident_id, populate_existing=True)
    if incident is None:
        raise UnknownIncident(incident_id)
    return bool(changed.rowcount), incident


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


def acknowledge(
    *, session: Session, incident_id: int, by: str, now: datetime, tell_pagerduty: bool = True
) -> Incident:
    """Stop the escalation; idempotent for an incident that is already acknowledged. An ack
    that races a page still acknowledges PagerDuty: the page's commit is read after ours.
    `tell_pagerduty=False`: the ack came from PagerDuty, so it is not echoed back there."""
    changed, incident = _transition(
        session,
        incident_id,
        allowed_from=(IncidentStatus.triggered,),
        values={
            "status": IncidentStatus.acknowledged,
            "acknowledged_at": now,
            "acknowledged_by": by,
            "updated_at": now,
        },
    )
    if not changed:
        if incident.status == IncidentStatus.acknowledged:
            return incident
        raise InvalidTransition(f"incident {incident_id} is resolved; nothing to acknowledge")
    stopped = escalation.stop(session=session, incident_id=incident_id, now=now)
    record_event(session, incident, now, EventKind.acknowledged, f"acknowledged by {by}", actor=by)
    flows.incident_changed(session=session, incident=incident, now=now, reason="acknowledged")
    if stopped.paged and tell_pagerduty:
        flows.page(
            session=session,
            incident=incident,
            now=now,
            action=MessageKind.acknowledge,
            run=stopped.run,
        )
    return incident


def resolve(
    *,
    session: Session,
    incident_id: int,
    by: str,
    now: datetime,
    note: str | None = None,
    tell_pagerduty: bool = True,
) -> Incident:
    """Resolve by hand; idempotent for an incident that is already resolved."""
    changed, incident = _transition(
        session,
        incident_id,
        allowed_from=(IncidentStatus.triggered, IncidentStatus.acknowledged),
        values={
            "status": IncidentStatus.resolved,
            "open_group_hash": None,
            "resolved_at": now,
            "resolved_by": by,
            "updated_at": now,
        },
    )
    if changed:
        text = f"resolved by {by}" + (f": {note}" if note else "")
        _resolved(session, incident, now, actor=by, text=text, tell_pagerduty=tell_pagerduty)
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
    """Fire the next escalation step now (acknowledged or not); returns what happened."""
    changed, _incident = _transition(
        session,
        incident_id,
        allowed_from=(IncidentStatus.triggered, IncidentStatus.acknowledged),
        values={"updated_at": now},
    )
    if not changed:
        raise InvalidTransition(f"incident {incident_id} is resolved; nothing to escalate")
    step = escalation.fire_next(session=session, incident_id=incident_id, now=now)
    if step is None:
        raise InvalidTransition(f"incident {incident_id} has no escalation step left")
    notify_steps(
        session=session, incident_id=incident_id, steps=[step], now=now, actor=by, opening=False
    )
    return f"step {step.index + 1}: {', '.join(step.notify)}"


def notify_steps(
    *,
    session: Session,
    incident_id: int,
    steps: Sequence[escalation.Step],
    now: datetime,
    actor: str,
    opening: bool,
) -> None:
    """The escalation domain's `Notify`: what fired steps set off, for the incident."""
    incident = get_incident(session=session, incident_id=incident_id)
    state = escalation.state_of(session=session, incident_id=incident_id)
    flows.escalation_fired(
        session=session,
        incident=incident,
        steps=steps,
        now=now,
        actor=actor,
        opening=opening,
        run=state.run if state else 1,
    )


def fire_due_escalations(*, engine: Engine, now: datetime) -> int:
    """The scheduler's escalation job: every due step of every incident, one transaction each."""
    return scheduled.fire_due_escalations(engine=engine, now=now, notify=notify_steps)


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


def open_incidents_of_rotation(session: Session, rotation_id: str) -> list[dict[str, Any]]:
    """Incidents not resolved yet that were routed to a rotation (what a hand-off lists)."""
    rows = session.exec(
        select(Incident)
        .where(Incident.rotation_id == rotation_id)
        .where(Incident.status != IncidentStatus.resolved)
        .order_by(col(Incident.id))
    )
    return [{"id": i.id, "title": i.title, "severity": i.severity} for i in rows]
