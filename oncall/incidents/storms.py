"""Storms: when incidents open in one channel faster than Slack lets us post, the rest are
gathered into one storm message for that channel, updated in place as more arrive.

Decided when an incident opens, in the transaction that opens it, so the outbox row carries
the decision (`storm` in its payload) and the clock is the caller's `now`.

Starting a storm serialises per channel, so two transactions (two webhook deliveries at once,
or two replicas) never start two storms for one channel: a transaction that finds the channel
busy enough for a storm and no storm open takes the channel's lock, looks again, and holds the
lock until it commits. On PostgreSQL that is a transaction-scoped advisory lock keyed by the
channel (other channels go on in parallel), and the storm query after it sees what the lock's
previous holder committed; on SQLite, writes are serialised by the database already. Joining
a storm that is open needs no lock."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam, func, text
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from oncall.db import DriverQuery, DriverStatement, read_sqlite_timestamp
from oncall.incidents.models import Incident, IncidentFacts, IncidentStatus, IncidentStorm

# More than this many incidents opening in one channel within WINDOW make a storm.
OWN_MESSAGES = 3
WINDOW = timedelta(seconds=10)
JOIN_GRANULARITY = timedelta(seconds=1)


INCIDENTS: Table = Incident.__table__  # type: ignore[attr-defined]
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def channel_lock_key(channel: str) -> int:
    """A stable signed 64-bit key for the channel's advisory lock (the same in every process)."""
    digest = hashlib.blake2b(f"oncall-storm:{channel}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_channel(session: Session, channel: str) -> None:
    """Hold the channel's storm lock until the caller's transaction ends (PostgreSQL)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"key": channel_lock_key(channel)})


STORMS: Table = IncidentStorm.__table__  # type: ignore[attr-defined]

# Hot statements (every new incident with a Slack channel asks): built once; on SQLite run on
# the driver's cursor.
_RECENT = DriverQuery(
    select_columns(INCIDENTS.c.id)
    .where(INCIDENTS.c.slack_channel == bindparam("channel"))
    .where(INCIDENTS.c.triggered_at >= bindparam("since"))
    .where(INCIDENTS.c.id != bindparam("incident_id"))
    .limit(OWN_MESSAGES)
)
_OPEN_STORM = DriverQuery(
    select_columns(STORMS.c.id, STORMS.c.last_joined_at)
    .where(STORMS.c.channel == bindparam("channel"))
    .where(STORMS.c.last_joined_at >= bindparam("since"))
    .order_by(STORMS.c.id.desc())
    .limit(1),
    {"last_joined_at": read_sqlite_timestamp},
)
_JOIN = DriverStatement(
    INCIDENTS.update()
    .where(INCIDENTS.c.id == bindparam("incident_id"))
    .values(storm_id=bindparam("storm_id"))
)
_TOUCH = DriverStatement(
    STORMS.update()
    .where(STORMS.c.id == bindparam("storm_id"))
    .values(last_joined_at=bindparam("now"))
)


# PostgreSQL: the touch is skipped while another transaction holds the storm's row (it is
# touching it at the same moment), so joining transactions never queue behind each other.
_TOUCH_UNLESS_HELD = (
    STORMS.update()
    .where(
        STORMS.c.id
        == select_columns(STORMS.c.id)
        .where(STORMS.c.id == bindparam("storm_id"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    .values(last_joined_at=bindparam("now"))
)


def gather(*, session: Session, incident: IncidentFacts, channel: str, now: datetime) -> int | None:
    """Put a newly opened incident into its channel's storm when more than OWN_MESSAGES
    incidents opened there within WINDOW (this one included); return the storm id, or None
    when the incident gets a message of its own."""
    since = now - WINDOW
    connection = session.connection()
    recent = _RECENT.rows(
        connection, {"channel": channel, "since": since, "incident_id": incident.id}
    )
    if len(recent) < OWN_MESSAGES:
        return None
    found = _OPEN_STORM.first(connection, {"channel": channel, "since": since})
    if found is None:
        # Busy enough for a storm and none open: one transaction at a time per channel from
        # here to its commit, and look again under the lock (on PostgreSQL each statement
        # sees what was committed before it began, so what the lock's previous holder
        # started). Joining an open storm takes no lock: a cluster failure's incidents are
        # stored in parallel once their storm exists.
        lock_channel(session, channel)
        found = _OPEN_STORM.first(connection, {"channel": channel, "since": since})
    if found is None:
        storm = IncidentStorm(channel=channel, started_at=now, last_joined_at=now)
        session.add(storm)
        session.flush()
        assert storm.id is not None
        storm_id = storm.id
    else:
        storm_id = int(found.id)
        if now - found.last_joined_at >= JOIN_GRANULARITY:
            # At most one write a second to the storm's row: a cluster failure opens hundreds
            # of incidents a second in one channel, and each write would queue behind the last.
            if connection.dialect.name == "postgresql":
                connection.execute(_TOUCH_UNLESS_HELD, {"storm_id": storm_id, "now": now})
            else:
                _TOUCH.run(connection, {"storm_id": storm_id, "now": now})
    if isinstance(incident, Incident):
        incident.storm_id = storm_id
        session.add(incident)
    else:  # the plain record of an incident just inserted on the driver's cursor
        _JOIN.run(connection, {"incident_id": incident.id, "storm_id": storm_id})
    return storm_id


@dataclass(frozen=True)
class StormSummary:
    """How many incidents a storm holds, by status, severity and model, and the first ones."""

    total: int
    open: int
    severities: dict[str, int]
    models: dict[str, int]
    listed: list[Incident]


def summary(*, session: Session, storm_id: int, listed: int) -> StormSummary:
    """Counts in SQL, and only the first `listed` incidents loaded: a storm may hold
    thousands of incidents (a cluster failure), and its message is rendered often."""
    query = (
        select_columns(
            INCIDENTS.c.status,
            INCIDENTS.c.severity,
            INCIDENTS.c.model_id,
            INCIDENTS.c.team_id,
            func.count(),
        )
        .where(INCIDENTS.c.storm_id == storm_id)
        .group_by(
            INCIDENTS.c.status, INCIDENTS.c.severity, INCIDENTS.c.model_id, INCIDENTS.c.team_id
        )
    )
    severities: dict[str, int] = {}
    models: dict[str, int] = {}
    total = opened = 0
    for status, severity, model_id, team_id, count in session.connection().execute(query):
        model = model_id or team_id or "unrouted"
        total += count
        opened += count if status != IncidentStatus.resolved else 0
        severities[severity] = severities.get(severity, 0) + count
        models[model] = models.get(model, 0) + count
    first = list(
        session.exec(
            select(Incident)
            .where(Incident.storm_id == storm_id)
            .order_by(col(Incident.id))
            .limit(listed)
        )
    )
    return StormSummary(total, opened, severities, models, first)
