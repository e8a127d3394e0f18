"""Storms: when incidents open in one channel faster than Slack lets us post, the rest are
gathered into one storm message for that channel, updated in place as more arrive.

Decided when an incident opens, in the transaction that opens it, so the outbox row carries
the decision (`storm` in its payload) and the clock is the caller's `now`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from oncall.incidents.models import Incident, IncidentStorm

# More than this many incidents opening in one channel within WINDOW make a storm.
OWN_MESSAGES = 3
WINDOW = timedelta(seconds=10)


INCIDENTS: Table = Incident.__table__  # type: ignore[attr-defined]


def gather(*, session: Session, incident: Incident, channel: str, now: datetime) -> int | None:
    """Put a newly opened incident into its channel's storm when more than OWN_MESSAGES
    incidents opened there within WINDOW (this one included); return the storm id, or None
    when the incident gets a message of its own."""
    since = now - WINDOW
    recent = session.connection().execute(
        select_columns(INCIDENTS.c.id)
        .where(INCIDENTS.c.slack_channel == channel)
        .where(INCIDENTS.c.triggered_at >= since)
        .where(INCIDENTS.c.id != incident.id)
        .limit(OWN_MESSAGES)
    )
    if len(recent.all()) < OWN_MESSAGES:
        return None
    storm = session.exec(
        select(IncidentStorm)
        .where(IncidentStorm.channel == channel)
        .where(col(IncidentStorm.last_joined_at) >= since)
        .order_by(col(IncidentStorm.id).desc())
        .limit(1)
    ).first()
    if storm is None:
        storm = IncidentStorm(channel=channel, started_at=now, last_joined_at=now)
    storm.last_joined_at = max(storm.last_joined_at, now)
    session.add(storm)
    session.flush()
    incident.storm_id = storm.id
    session.add(incident)
    return storm.id


def members(*, session: Session, storm_id: int) -> list[Incident]:
    """The storm's incidents, oldest first."""
    return list(
        session.exec(
            select(Incident).where(Incident.storm_id == storm_id).order_by(col(Incident.id))
        )
    )
