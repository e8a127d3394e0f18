"""Alert occurrences of an incident: deduplication by (fingerprint, startsAt), bulk storage,
and the timeline rows for alerts joining and resolving."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from oncall.db import driver_executemany
from oncall.incidents.alertmanager import AlertmanagerAlert
from oncall.incidents.models import Alert, EventKind, Incident, IncidentFacts
from oncall.incidents.timeline import record_event

ALERTS: Table = Alert.__table__  # type: ignore[attr-defined]
# Labels and annotations are str -> str maps (the payload schema checks it): plain orjson is
# the JSON the column type would write, without a Python call per value.
_dump_str_map = orjson.dumps

# Hot statements are built once with bound parameters (building one costs as much as running it).
_KNOWN = select(Alert.id, Alert.fingerprint, Alert.starts_at, Alert.status).where(
    Alert.incident_id == bindparam("incident_id")
)
_FIRING = (
    select(Alert.id)
    .where(Alert.incident_id == bindparam("incident_id"))
    .where(Alert.status == "firing")
    .limit(1)
)


@dataclass
class KnownAlert:
    id: int
    status: str


def known_alerts(session: Session, incident_id: int) -> dict[tuple[str, datetime], KnownAlert]:
    """The occurrences an incident holds, by (fingerprint, startsAt): only what dedup needs."""
    rows = session.execute(_KNOWN, {"incident_id": incident_id})
    return {(fp, starts): KnownAlert(alert_id, status) for alert_id, fp, starts, status in rows}


def record_alerts(
    session: Session,
    incident: IncidentFacts,
    alerts: list[AlertmanagerAlert],
    known: dict[tuple[str, datetime], KnownAlert],
    now: datetime,
) -> tuple[int, int]:
    """Record new occurrences and status changes; return (joined, resolved) counts.

    Rows are written in bulk (one INSERT and one UPDATE at most): a storm delivers hundreds
    of alerts a request, and Alertmanager waits for the answer.
    """
    joined: list[AlertmanagerAlert] = []
    resolved: list[AlertmanagerAlert] = []
    inserts: list[tuple[Any, ...]] = []
    updates: list[dict[str, Any]] = []
    seen: set[tuple[str, datetime]] = set()
    stamp = _timestamp_writer(session)
    seen_at = stamp(now)
    dumps = _dump_str_map
    for alert in alerts:
        key = (alert.fingerprint, alert.startsAt)
        if key in seen:  # the same occurrence twice in one payload
            continue
        seen.add(key)
        row = known.get(key)
        if row is None:
            ends_at = alert.ends_at
            inserts.append(
                (
                    incident.id,
                    alert.fingerprint,
                    stamp(alert.startsAt),
                    stamp(ends_at) if ends_at else None,
                    alert.status,
                    alert.labels.get("alertname", "")[:256],
                    dumps(alert.labels).decode(),
                    dumps(alert.annotations).decode(),
                    alert.generatorURL,
                    seen_at,
                    seen_at,
                )
            )
            (joined if alert.status == "firing" else resolved).append(alert)
        elif row.status == "resolved" and alert.status == "firing":
            updates.append(
                {"alert_id": row.id, "status": "firing", "ends_at": None, "last_seen_at": now}
            )
            row.status = "firing"
            joined.append(alert)
        elif row.status == "firing" and alert.status == "resolved":
            updates.append(
                {
                    "alert_id": row.id,
                    "status": "resolved",
                    "ends_at": alert.ends_at or now,
                    "last_seen_at": now,
                }
            )
            row.status = "resolved"
            resolved.append(alert)
    if inserts:
        _insert_alerts(session, inserts)
    if updates:
        session.connection().execute(
            update(ALERTS)
            .where(ALERTS.c.id == bindparam("alert_id"))
            .values(
                status=bindparam("status"),
                ends_at=bindparam("ends_at"),
                last_seen_at=bindparam("last_seen_at"),
            ),
            updates,
        )
    # Alerts that opened the incident are in its "triggered" event already.
    if joined and incident.triggered_at != now:
        record_event(
            session,
            incident,
            now,
            EventKind.alert_joined,
            f"{len(joined)} alert{'s' if len(joined) != 1 else ''} joined: "
            + describe_alerts(joined),
            data={"fingerprints": [a.fingerprint for a in joined[:200]]},
        )
    if resolved:
        record_event(
            session,
            incident,
            now,
            EventKind.alert_resolved,
            f"{len(resolved)} alert{'s' if len(resolved) != 1 else ''} resolved: "
            + describe_alerts(resolved),
            data={"fingerprints": [a.fingerprint for a in resolved[:200]]},
        )
    return len(joined), len(resolved)


_ALERT_COLUMNS = (
    "incident_id",
    "fingerprint",
    "starts_at",
    "ends_at",
    "status",
    "alertname",
    "labels",
    "annotations",
    "generator_url",
    "first_seen_at",
    "last_seen_at",
)


def _timestamp_writer(session: Session) -> Callable[[datetime], Any]:
    """How a UTC timestamp is passed to the driver, as UTCDateTime would pass it."""
    if session.get_bind().dialect.name != "sqlite":
        return lambda value: value.astimezone(UTC)
    cache: dict[datetime, str] = {}  # a storm's alerts share a few startsAt values

    def sqlite_text(value: datetime) -> str:
        text = cache.get(value)
        if text is None:
            text = cache[value] = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return text

    return sqlite_text


def _insert_alerts(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Insert alert rows (in `_ALERT_COLUMNS` order) in one go on the driver: an executemany on
    SQLite, a COPY on PostgreSQL (about twice as fast there as an executemany).

    A storm brings hundreds of alerts a request; SQLAlchemy's per-parameter type processing
    costs more than the insert itself there. The values are written exactly as the column
    types write them (JSON text; UTC timestamps, as DATETIME text on SQLite), which the
    incident tests check by reading the rows back through the ORM on both databases.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy_alerts(connection, rows)
        return
    sql = (
        f"INSERT INTO {ALERTS.name} ({', '.join(_ALERT_COLUMNS)}) "
        f"VALUES ({', '.join(['?'] * len(_ALERT_COLUMNS))})"
    )
    driver_executemany(connection, sql, rows)


def _copy_alerts(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    """COPY on the session's own psycopg connection (same transaction). Its errors are
    raised as SQLAlchemy's, as any other statement's: a unique violation is IntegrityError."""
    import psycopg

    sql = f"COPY {ALERTS.name} ({', '.join(_ALERT_COLUMNS)}) FROM STDIN"
    driver = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def all_resolved(session: Session, incident: Incident) -> bool:
    return session.execute(_FIRING, {"incident_id": incident.id}).first() is None


def describe_alerts(alerts: list[AlertmanagerAlert]) -> str:
    shown = []
    for alert in alerts[:5]:
        extra = ", ".join(
            f"{k}={v}"
            for k, v in sorted(alert.labels.items())
            if k in ("model", "node", "gpu", "xid", "job_name", "feature", "cluster")
        )
        shown.append(alert.labels.get("alertname", "?") + (f" ({extra})" if extra else ""))
    more = f" and {len(alerts) - 5} more" if len(alerts) > 5 else ""
    return "; ".join(shown) + more
