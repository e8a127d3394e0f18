"""The incident timeline: one row per thing that happened, written with the change itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlmodel import Session

from oncall.db import RowInserter
from oncall.incidents.models import IncidentEvent, IncidentFacts

EVENTS: Table = IncidentEvent.__table__  # type: ignore[attr-defined]
_INSERT = RowInserter(EVENTS)  # built once: parameters are bound per call


def add_event(
    *,
    session: Session,
    incident_id: int | None,
    at: datetime,
    kind: str,
    text: str,
    actor: str = "system",
    data: dict[str, Any] | None = None,
) -> None:
    """Append an event in the caller's transaction.

    A plain INSERT rather than an ORM object: nothing reads the row back in the same unit of
    work, and an ingest writes several events next to hundreds of alerts.
    """
    if incident_id is None:
        raise ValueError("the incident must be stored before its timeline")
    _INSERT(
        session.connection(),
        {
            "incident_id": incident_id,
            "at": at,
            "kind": kind,
            "actor": actor,
            "text": text,
            "data": dict(data or {}),
        },
    )


def record_event(
    session: Session,
    incident: IncidentFacts,
    now: datetime,
    kind: str,
    text: str,
    actor: str = "alertmanager",
    data: dict[str, Any] | None = None,
) -> None:
    """`add_event` for an incident at hand."""
    add_event(
        session=session,
        incident_id=incident.id,
        at=now,
        kind=kind,
        text=text,
        actor=actor,
        data=data,
    )
