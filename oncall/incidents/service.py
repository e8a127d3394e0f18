"""Incidents: Alertmanager ingest (dedup, grouping, auto-resolve, reopen) and the lifecycle.

Every function works inside the caller's transaction: the state change, its timeline rows
and the outbox rows for its side effects are committed together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlmodel import Session, col, select

from oncall.db import dump_json
from oncall.escalation import service as escalation
from oncall.incidents import flows
from oncall.incidents.alertmanager import AlertmanagerAlert, AlertmanagerPayload, is_firing
from oncall.incidents.models import (
    Alert,
    EventKind,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Severity,
)
from oncall.incidents.routing import RoutingDecision, route_labels
from oncall.incidents.timeline import add_event

log = logging.getLogger(__name__)

ALERTS: Table = Alert.__table__  # type: ignore[attr-defined]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}
DEFAULT_FLAP_WINDOW = timedelta(minutes=10)
MAX_TITLE = 300


class UnknownIncident(LookupError):
    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        super().__init__(f"unknown incident {incident_id}")


class InvalidTransition(ValueError):
    """An action that the incident's status does not allow (e.g. acknowledging a resolved one)."""


@dataclass
class IngestResult:
    incident_id: int | None
    outcome: str  # created, updated, reopened, resolved, unchanged, ignored
    new_alerts: int = 0
    resolved_alerts: int = 0
    warnings: list[str] = field(default_factory=list)


def normalize_severity(value: str | None) -> str:
    value = (value or "").strip().lower()
    aliases = {
        "page": "critical",
        "high": "error",
        "medium": "warning",
        "low": "info",
        "none": "info",
    }
    value = aliases.get(value, value)
    return value if value in SEVERITY_RANK else str(Severity.warning)


def _worst_severity(alerts: list[AlertmanagerAlert], *, default: str) -> str:
    # A storm repeats a handful of values hundreds of times: normalise each value once.
    values = {a.labels.get("severity") for a in alerts}
    return max(
        (normalize_severity(v) for v in values), key=SEVERITY_RANK.__getitem__, default=default
    )


def _title(payload: AlertmanagerPayload) -> str:
    summary = payload.commonAnnotations.get("summary")
    if summary:
        return summary[:MAX_TITLE]
    names = sorted({a.labels.get("alertname", "") for a in payload.alerts})
    rest = ", ".join(f"{k}={v}" for k, v in sorted(payload.groupLabels.items()) if k != "alertname")
    title = "/".join(names) + (f" ({rest})" if rest else "")
    return title[:MAX_TITLE]


def _event(
    session: Session,
    incident: Incident,
    now: datetime,
    kind: str,
    text: str,
    actor: str = "alertmanager",
    data: dict[str, object] | None = None,
) -> None:
    add_event(
        session=session,
        incident_id=incident.id,
        at=now,
        kind=kind,
        text=text,
        actor=actor,
        data=data,
    )


def _describe(alerts: list[AlertmanagerAlert]) -> str:
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


def _assignee(session: Session, rotation_id: str | None, now: datetime) -> str | None:
    if rotation_id is None:
        return None
    from oncall.rotations.service import who_is_on_call

    shift = who_is_on_call(session=session, rotation_id=rotation_id, at=now)
    return shift.person_id if shift else None


# Hot statements are built once with bound parameters (building one costs as much as running it).
_LATEST = (
    select(Incident)
    .where(Incident.group_key == bindparam("group_key"))
    .order_by(col(Incident.id).desc())
    .limit(1)
)
_LATEST_LOCKED = _LATEST.with_for_update()
_KNOWN = select(Alert.id, Alert.fingerprint, Alert.starts_at, Alert.status).where(
    Alert.incident_id == bindparam("incident_id")
)
_FIRING = (
    select(Alert.id)
    .where(Alert.incident_id == bindparam("incident_id"))
    .where(Alert.status == "firing")
    .limit(1)
)


def _latest_incident(session: Session, group_key: str) -> Incident | None:
    """The group's newest incident: the open one if any is open (a group never has an open
    incident older than a resolved one: only the newest is ever reopened). Locked on
    PostgreSQL so that two deliveries of one group are applied one after the other."""
    locked = session.get_bind().dialect.name == "postgresql"
    return session.exec(
        _LATEST_LOCKED if locked else _LATEST, params={"group_key": group_key}
    ).first()


@dataclass
class _KnownAlert:
    id: int
    status: str


def _known_alerts(session: Session, incident_id: int) -> dict[tuple[str, datetime], _KnownAlert]:
    """The occurrences an incident holds, by (fingerprint, startsAt): only what dedup needs."""
    rows = session.execute(_KNOWN, {"incident_id": incident_id})
    return {(fp, starts): _KnownAlert(alert_id, status) for alert_id, fp, starts, status in rows}


def ingest_alertmanager(
    *,
    session: Session,
    payload: AlertmanagerPayload,
    now: datetime,
    flap_window: timedelta = DEFAULT_FLAP_WINDOW,
) -> IngestResult:
    """Fold one webhook delivery into incidents. Re-delivering the same payload changes nothing."""
    with session.no_autoflush:  # flushes happen where ids are needed, not on every query
        return _ingest(session, payload, now, flap_window)


def _ingest(
    session: Session, payload: AlertmanagerPayload, now: datetime, flap_window: timedelta
) -> IngestResult:
    latest = _latest_incident(session, payload.groupKey)
    incident = latest if latest is not None and latest.open_group_key is not None else None
    firing = [a for a in payload.alerts if is_firing(a)]
    outcome = "updated"

    if incident is None:
        previous = latest
        known = _known_alerts(session, previous.id) if previous and previous.id else {}
        # New occurrences, and known ones firing again after Alertmanager resolved them (it
        # does so when Prometheus stops re-sending for a while; the startsAt stays the same).
        new_firing = [
            a
            for a in firing
            if (a.fingerprint, a.startsAt) not in known
            or known[(a.fingerprint, a.startsAt)].status == "resolved"
        ]
        if not new_firing:
            # A repeat or a resolve of alerts we already hold (or never saw): nothing to open.
            if previous is not None and previous.id is not None:
                changed = _apply_alerts(session, previous, payload.alerts, known, now)
                return IngestResult(
                    previous.id,
                    "unchanged" if not changed[1] else "updated",
                    resolved_alerts=changed[1],
                )
            return IngestResult(None, "ignored")
        if (
            previous is not None
            and previous.resolved_at is not None
            and now - previous.resolved_at <= flap_window
        ):
            incident = previous
            _reopen(session, incident, now)
            outcome = "reopened"
        else:
            incident = _create(session, payload, now)
            outcome = "created"

    assert incident.id is not None
    known = _known_alerts(session, incident.id) if outcome != "created" else {}
    added, resolved = _apply_alerts(session, incident, payload.alerts, known, now)
    incident.truncated_alerts = payload.truncatedAlerts
    worst = _worst_severity(firing, default=incident.severity)
    severity_rose = SEVERITY_RANK[worst] > SEVERITY_RANK.get(incident.severity, 0)
    if severity_rose:
        incident.severity = worst

    if outcome == "reopened":
        incident.assignee_id = _assignee(session, incident.rotation_id, now) or incident.assignee_id
        flows.incident_changed(session=session, incident=incident, now=now, reason="reopened")
        escalation.start(session=session, incident=incident, now=now)

    if not firing and incident.truncated_alerts == 0 and _all_resolved(session, incident):
        _resolve(
            session, incident, now, actor="alertmanager", text="all alerts of the group resolved"
        )
        outcome = "resolved" if outcome != "created" else outcome
    elif outcome == "updated" and (added or resolved or severity_rose):
        flows.incident_changed(session=session, incident=incident, now=now, reason="alerts")
    elif outcome == "updated":
        outcome = "unchanged"
    incident.updated_at = now
    session.add(incident)
    session.flush()
    return IngestResult(
        incident.id,
        outcome,
        new_alerts=added,
        resolved_alerts=resolved,
        warnings=[incident.routing_warning]
        if incident.routing_warning and outcome == "created"
        else [],
    )


def _create(session: Session, payload: AlertmanagerPayload, now: datetime) -> Incident:
    """Open an incident: every column is decided before the one INSERT, then the timeline,
    the outbox rows and the first escalation steps are written against its id."""
    decision: RoutingDecision = route_labels(session=session, labels=payload.commonLabels)
    firing = [a for a in payload.alerts if is_firing(a)]
    incident = Incident(
        group_key=payload.groupKey,
        open_group_key=payload.groupKey,
        title=_title(payload),
        status=IncidentStatus.triggered,
        severity=_worst_severity(firing, default=Severity.info),
        assignee_id=_assignee(session, decision.rotation_id, now),
        team_id=decision.team_id,
        model_id=decision.model_id,
        rotation_id=decision.rotation_id,
        escalation_policy_id=decision.escalation_policy_id,
        routing_warning=decision.warning,
        labels=dict(payload.commonLabels),
        truncated_alerts=payload.truncatedAlerts,
        slack_channel=flows.team_channel(session, decision.team_id),
        triggered_at=now,
        escalation_started_at=now,
        updated_at=now,
    )
    due = escalation.begin(session=session, incident=incident, now=now)
    session.add(incident)
    session.flush()  # the id is needed by the alert, timeline and outbox rows
    _event(
        session,
        incident,
        now,
        EventKind.triggered,
        f"triggered by {_describe(firing)}",
        data={"routed_via": decision.via},
    )
    if decision.warning:
        _event(session, incident, now, EventKind.routing_warning, decision.warning, actor="system")
        log.warning("incident %s: %s", incident.id, decision.warning)
    flows.incident_opened(session=session, incident=incident, now=now)
    escalation.record(session=session, incident=incident, steps=due, now=now, opening=True)
    return incident


def _reopen(session: Session, incident: Incident, now: datetime) -> None:
    incident.status = IncidentStatus.triggered
    incident.open_group_key = incident.group_key
    incident.resolved_at = None
    incident.resolved_by = None
    incident.acknowledged_at = None
    incident.acknowledged_by = None
    _event(
        session, incident, now, EventKind.reopened, "an alert fired again within the flap window"
    )


def _apply_alerts(
    session: Session,
    incident: Incident,
    alerts: list[AlertmanagerAlert],
    known: dict[tuple[str, datetime], _KnownAlert],
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
    dumps = dump_json
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
                    dumps(alert.labels),
                    dumps(alert.annotations),
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
        _event(
            session,
            incident,
            now,
            EventKind.alert_joined,
            f"{len(joined)} alert{'s' if len(joined) != 1 else ''} joined: {_describe(joined)}",
            data={"fingerprints": [a.fingerprint for a in joined[:200]]},
        )
    if resolved:
        _event(
            session,
            incident,
            now,
            EventKind.alert_resolved,
            f"{len(resolved)} alert{'s' if len(resolved) != 1 else ''} resolved: "
            + _describe(resolved),
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
    """Insert alert rows (in `_ALERT_COLUMNS` order) with one executemany on the driver.

    A storm brings hundreds of alerts a request; SQLAlchemy's per-parameter type processing
    costs more than the insert itself there. The values are written exactly as the column
    types write them (JSON text; UTC timestamps, as DATETIME text on SQLite), which the
    incident tests check by reading the rows back through the ORM on both databases.
    """
    connection = session.connection()
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    sql = (
        f"INSERT INTO {ALERTS.name} ({', '.join(_ALERT_COLUMNS)}) "
        f"VALUES ({', '.join([marker] * len(_ALERT_COLUMNS))})"
    )
    connection.exec_driver_sql(sql, rows)


def _all_resolved(session: Session, incident: Incident) -> bool:
    return session.execute(_FIRING, {"incident_id": incident.id}).first() is None


def _resolve(session: Session, incident: Incident, now: datetime, *, actor: str, text: str) -> None:
    incident.status = IncidentStatus.resolved
    incident.open_group_key = None
    incident.resolved_at = now
    incident.resolved_by = actor
    escalation.stop(incident)
    _event(session, incident, now, EventKind.resolved, text, actor=actor)
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
    _event(session, incident, now, EventKind.acknowledged, f"acknowledged by {by}", actor=by)
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
    _resolve(
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
        raise ValueError("a note needs text")
    _event(session, incident, now, EventKind.note, text[:4000], actor=by)
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
