"""Incidents over HTTP: list, show, and the actions people take (token-protected)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException, Query
from sqlmodel import Session

from oncall.api.deps import NowDep, SessionDep, TokenDep
from oncall.catalog.models import Person
from oncall.escalation import service as escalation
from oncall.incidents import service
from oncall.incidents.schemas import (
    ActorBody,
    AlertPublic,
    EventPublic,
    IncidentDetail,
    IncidentPublic,
    NoteBody,
    ResolveBody,
)

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
StatusFilter = Literal["triggered", "acknowledged", "resolved"]
ByQuery = Annotated[
    str | None, Query(alias="by", max_length=64, description="Person id recorded as the actor.")
]


def _actor(session: Session, body: ActorBody | None, by: str | None = None) -> str:
    """The person acting: `by` in the JSON body or in the query string; `api` without it."""
    person = body.by if body is not None and body.by is not None else by
    if person is None:
        return "api"
    if session.get(Person, person) is None:
        raise HTTPException(422, f"unknown person {person!r} in 'by'")
    return person


def _detail(session: Session, incident_id: int) -> IncidentDetail:
    try:
        incident = service.get_incident(session=session, incident_id=incident_id)
    except service.UnknownIncident as exc:
        raise HTTPException(404, str(exc)) from None
    state = escalation.state_of(session=session, incident_id=incident_id)
    return IncidentDetail(
        **IncidentPublic.of(incident, state).model_dump(),
        alerts=[
            AlertPublic.of(a) for a in service.alerts_of(session=session, incident_id=incident_id)
        ],
        timeline=[
            EventPublic.of(e) for e in service.timeline_of(session=session, incident_id=incident_id)
        ],
    )


@router.get("", response_model=list[IncidentPublic])
def list_incidents(
    session: SessionDep,
    status: Annotated[StatusFilter | None, Query()] = None,
    team: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[IncidentPublic]:
    rows = service.list_incidents(session=session, status=status, team_id=team, limit=limit)
    states = escalation.states_of(session=session, incident_ids=[i.id for i in rows if i.id])
    return [IncidentPublic.of(i, states.get(i.id or 0)) for i in rows]


@router.get("/{incident_id}", response_model=IncidentDetail)
def show_incident(incident_id: int, session: SessionDep) -> IncidentDetail:
    return _detail(session, incident_id)


def _act(session: Session, incident_id: int, change: Callable[[], object]) -> IncidentDetail:
    """Run one change, commit it, answer with the incident; domain errors become 404/409."""
    try:
        change()
        session.commit()
    except service.UnknownIncident as exc:
        session.rollback()
        raise HTTPException(404, str(exc)) from None
    except service.InvalidTransition as exc:
        session.rollback()
        raise HTTPException(409, str(exc)) from None
    return _detail(session, incident_id)


@router.post("/{incident_id}/ack", response_model=IncidentDetail, dependencies=[TokenDep])
def ack_incident(
    incident_id: int,
    session: SessionDep,
    now: NowDep,
    body: Annotated[ActorBody | None, Body()] = None,
    by_query: ByQuery = None,
) -> IncidentDetail:
    by = _actor(session, body, by_query)
    return _act(
        session,
        incident_id,
        lambda: service.acknowledge(session=session, incident_id=incident_id, by=by, now=now),
    )


@router.post("/{incident_id}/resolve", response_model=IncidentDetail, dependencies=[TokenDep])
def resolve_incident(
    incident_id: int,
    session: SessionDep,
    now: NowDep,
    body: Annotated[ResolveBody | None, Body()] = None,
    by_query: ByQuery = None,
) -> IncidentDetail:
    by = _actor(session, body, by_query)
    note = body.note if body else None
    return _act(
        session,
        incident_id,
        lambda: service.resolve(
            session=session, incident_id=incident_id, by=by, now=now, note=note
        ),
    )


@router.post("/{incident_id}/notes", response_model=IncidentDetail, dependencies=[TokenDep])
def add_note(
    incident_id: int, body: NoteBody, session: SessionDep, now: NowDep, by_query: ByQuery = None
) -> IncidentDetail:
    by = _actor(session, body, by_query)
    if not body.text.strip():
        raise HTTPException(422, "a note needs text")
    return _act(
        session,
        incident_id,
        lambda: service.add_note(
            session=session, incident_id=incident_id, by=by, text=body.text, now=now
        ),
    )


@router.post("/{incident_id}/escalate", response_model=IncidentDetail, dependencies=[TokenDep])
def escalate_incident(
    incident_id: int,
    session: SessionDep,
    now: NowDep,
    body: Annotated[ActorBody | None, Body()] = None,
    by_query: ByQuery = None,
) -> IncidentDetail:
    by = _actor(session, body, by_query)
    return _act(
        session,
        incident_id,
        lambda: service.escalate(session=session, incident_id=incident_id, by=by, now=now),
    )
