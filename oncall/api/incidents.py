"""Incidents over HTTP: list, show, and the actions people take (token-protected)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from sqlmodel import Session

from oncall.actors import check_actor
from oncall.api.deps import NowDep, SessionDep, TokenDep
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
    return check_actor(session=session, by="api" if person is None else person)


def _detail(session: Session, incident_id: int) -> IncidentDetail:
    incident = service.get_incident(session=session, incident_id=incident_id)
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


@router.post("/{incident_id}/ack", response_model=IncidentDetail, dependencies=[TokenDep])
def ack_incident(
    incident_id: int,
    session: SessionDep,
    now: NowDep,
    body: Annotated[ActorBody | None, Body()] = None,
    by_query: ByQuery = None,
) -> IncidentDetail:
    by = _actor(session, body, by_query)
    service.acknowledge(session=session, incident_id=incident_id, by=by, now=now)
    session.commit()
    return _detail(session, incident_id)


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
    service.resolve(session=session, incident_id=incident_id, by=by, now=now, note=note)
    session.commit()
    return _detail(session, incident_id)


@router.post("/{incident_id}/notes", response_model=IncidentDetail, dependencies=[TokenDep])
def add_note(
    incident_id: int, body: NoteBody, session: SessionDep, now: NowDep, by_query: ByQuery = None
) -> IncidentDetail:
    by = _actor(session, body, by_query)
    service.add_note(session=session, incident_id=incident_id, by=by, text=body.text, now=now)
    session.commit()
    return _detail(session, incident_id)


@router.post("/{incident_id}/escalate", response_model=IncidentDetail, dependencies=[TokenDep])
def escalate_incident(
    incident_id: int,
    session: SessionDep,
    now: NowDep,
    body: Annotated[ActorBody | None, Body()] = None,
    by_query: ByQuery = None,
) -> IncidentDetail:
    by = _actor(session, body, by_query)
    service.escalate(session=session, incident_id=incident_id, by=by, now=now)
    session.commit()
    return _detail(session, incident_id)
