"""Alertmanager ingest: one delivery folded into incidents (grouping, dedup, routing,
auto-resolve, reopen) inside the caller's transaction, with its timeline and outbox rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam
from sqlalchemy import select as select_columns
from sqlmodel import Session, col

from oncall.db import DriverQuery, RowInserter
from oncall.escalation import service as escalation
from oncall.incidents import flows
from oncall.incidents.alertmanager import AlertmanagerAlert, AlertmanagerPayload, is_firing
from oncall.incidents.alerts import (
    KnownAlert,
    all_resolved,
    describe_alerts,
    known_alerts,
    record_alerts,
)
from oncall.incidents.models import (
    EventKind,
    Incident,
    IncidentFacts,
    IncidentStatus,
    Severity,
    group_hash,
)
from oncall.incidents.routing import RoutingDecision, route_labels
from oncall.incidents.service import close_incident, notify_steps
from oncall.incidents.timeline import record_event
from oncall.rotations.queries import on_call_person

log = logging.getLogger(__name__)

DEFAULT_FLAP_WINDOW = timedelta(minutes=10)
MAX_TITLE = 300
MAX_MODEL_ID = 128  # Incident.model_id: a `model` label not in the catalog is kept as sent
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}


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
    # alertname is a label like any other: an alert may come without one.
    names = sorted({name for a in payload.alerts if (name := a.labels.get("alertname"))})
    labels = payload.groupLabels if names or payload.groupLabels else payload.commonLabels
    rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    title = ("/".join(names) or "Alert without alertname") + (f" ({rest})" if rest else "")
    return title[:MAX_TITLE]


# Hot statements are built once with bound parameters (building one costs as much as running it).
_LATEST = (
    select_columns(col(Incident.id))
    .where(col(Incident.group_hash) == bindparam("group_hash"))
    .order_by(col(Incident.id).desc())
    .limit(1)
)
_LATEST_LOCKED = _LATEST.with_for_update()
_LATEST_ON_DRIVER = DriverQuery(_LATEST)


def _latest_incident(session: Session, group_key: str) -> Incident | None:
    """The group's newest incident: the open one if any is open (a group never has an open
    incident older than a resolved one: only the newest is ever reopened). Locked on
    PostgreSQL so that two deliveries of one group are applied one after the other.

    The id is looked up first and the incident loaded only if there is one: a new group,
    the case that has to be fast in a storm, then costs one small query."""
    connection = session.connection()
    params = {"group_hash": group_hash(group_key)}
    if connection.dialect.name == "postgresql":
        incident_id = connection.scalar(_LATEST_LOCKED, params)
    else:
        row = _LATEST_ON_DRIVER.first(connection, params)
        incident_id = row.id if row is not None else None
    return None if incident_id is None else session.get(Incident, incident_id)


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
    incident = latest if latest is not None and latest.open_group_hash is not None else None
    firing = [a for a in payload.alerts if is_firing(a)]
    outcome = "updated"
    known: dict[tuple[str, datetime], KnownAlert] | None = None  # read once per delivery

    if incident is None:
        previous = latest
        known = known_alerts(session, previous.id) if previous and previous.id else {}
        # New occurrences, and known ones firing again after Alertmanager resolved them (it
        # does so when Prometheus stops re-sending for a while; the startsAt stays the same).
        new_firing = (
            [
                a
                for a in firing
                if (a.fingerprint, a.startsAt) not in known
                or known[(a.fingerprint, a.startsAt)].status == "resolved"
            ]
            if known
            else firing
        )
        if not new_firing:
            # A repeat or a resolve of alerts we already hold (or never saw): nothing to open.
            if previous is not None and previous.id is not None:
                changed = record_alerts(session, previous, payload.alerts, known, now)
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
            return _create(session, payload, firing, now)

    assert incident.id is not None
    if known is None:  # an open incident (a reopened one was read above)
        known = known_alerts(session, incident.id)
    added, resolved = record_alerts(session, incident, payload.alerts, known, now)
    truncation_changed = incident.truncated_alerts != payload.truncatedAlerts
    incident.truncated_alerts = payload.truncatedAlerts
    worst = _worst_severity(firing, default="info")
    severity_rose = SEVERITY_RANK[worst] > SEVERITY_RANK.get(incident.severity, 0)
    if severity_rose:
        incident.severity = worst

    if outcome == "reopened":
        incident.assignee_id = (
            on_call_person(session=session, rotation_id=incident.rotation_id, at=now)
            or incident.assignee_id
        )
        flows.incident_changed(session=session, incident=incident, now=now, reason="reopened")
        due = escalation.restart(
            session=session,
            incident_id=incident.id,
            policy_id=incident.escalation_policy_id,
            now=now,
        )
        if due:
            notify_steps(
                session=session,
                incident_id=incident.id,
                steps=due,
                now=now,
                actor="escalation",
                opening=True,
            )

    if not firing and incident.truncated_alerts == 0 and all_resolved(session, incident):
        close_incident(
            session, incident, now, actor="alertmanager", text="all alerts of the group resolved"
        )
        outcome = "resolved"
    elif outcome == "updated" and (added or resolved or severity_rose):
        flows.incident_changed(session=session, incident=incident, now=now, reason="alerts")
    elif outcome == "updated" and not truncation_changed:
        outcome = "unchanged"  # a re-delivery: nothing is written, not even updated_at
    if outcome != "unchanged":
        incident.updated_at = now
        session.add(incident)
        session.flush()
    if outcome in ("reopened", "resolved"):
        _log_outcome(incident, outcome, payload)
    return IngestResult(incident.id, outcome, new_alerts=added, resolved_alerts=resolved)


def _log_outcome(incident: IncidentFacts, outcome: str, payload: AlertmanagerPayload) -> None:
    log.info(
        "incident %s %s: %r (%s, %d alerts in this delivery)",  # %r: no raw newlines
        incident.id,
        outcome,
        incident.title,
        incident.model_id or incident.team_id or "unrouted",
        len(payload.alerts),
    )


@dataclass
class NewIncident:
    """The incident a delivery opens, as it was inserted: what its timeline and outbox rows
    read (`IncidentFacts`). A plain record: building, attaching and flushing an ORM object
    cost more than everything else a new incident writes."""

    id: int | None
    title: str
    severity: str
    team_id: str | None
    model_id: str | None
    rotation_id: str | None
    assignee_id: str | None
    labels: dict[str, str]
    slack_channel: str | None
    triggered_at: datetime


def _create(
    session: Session, payload: AlertmanagerPayload, firing: list[AlertmanagerAlert], now: datetime
) -> IngestResult:
    """Open an incident: every column is decided before the one INSERT, then the alerts, the
    timeline, the outbox rows and the first escalation steps are written against its id."""
    decision: RoutingDecision = route_labels(session=session, labels=payload.commonLabels)
    hashed = group_hash(payload.groupKey)
    incident = NewIncident(
        id=None,
        title=_title(payload),
        severity=_worst_severity(firing, default=Severity.info),
        team_id=decision.team_id,
        model_id=decision.model_id[:MAX_MODEL_ID] if decision.model_id else None,
        rotation_id=decision.rotation_id,
        assignee_id=on_call_person(session=session, rotation_id=decision.rotation_id, at=now),
        labels=dict(payload.commonLabels),
        slack_channel=decision.slack_channel or flows.team_channel(session, decision.team_id),
        triggered_at=now,
    )
    values = {
        **vars(incident),  # its id (None) is not a column the INSERT names
        "group_key": payload.groupKey,
        "group_hash": hashed,
        "open_group_hash": hashed,
        "status": IncidentStatus.triggered,
        "escalation_policy_id": decision.escalation_policy_id,
        "routing_warning": decision.warning,
        "truncated_alerts": payload.truncatedAlerts,
        "updated_at": now,
    }
    # The id is needed by the alert, timeline and outbox rows.
    incident.id = incident_id = _INSERT_INCIDENT(session.connection(), values)
    assert incident_id is not None
    added, resolved = record_alerts(session, incident, payload.alerts, {}, now)
    due = escalation.begin(
        session=session,
        incident_id=incident_id,
        policy_id=decision.escalation_policy_id,
        steps=decision.escalation_steps,
        now=now,
    )
    record_event(
        session,
        incident,
        now,
        EventKind.triggered,
        f"triggered by {describe_alerts(firing)}",
        data={"routed_via": decision.via},
    )
    if decision.warning:
        record_event(
            session, incident, now, EventKind.routing_warning, decision.warning, actor="system"
        )
        log.warning("incident %s: %s", incident_id, decision.warning)
    flows.incident_opened(session=session, incident=incident, now=now)
    if due:
        flows.escalation_fired(
            session=session,
            incident=incident,
            steps=due,
            now=now,
            actor="escalation",
            opening=True,
            run=1,
        )
    _log_outcome(incident, "created", payload)
    return IngestResult(
        incident_id,
        "created",
        new_alerts=added,
        resolved_alerts=resolved,
        warnings=[decision.warning] if decision.warning else [],
    )


INCIDENTS: Table = Incident.__table__  # type: ignore[attr-defined]
_INSERT_INCIDENT = RowInserter(INCIDENTS)


def _reopen(session: Session, incident: Incident, now: datetime) -> None:
    incident.status = IncidentStatus.triggered
    incident.open_group_hash = incident.group_hash
    incident.resolved_at = None
    incident.resolved_by = None
    incident.acknowledged_at = None
    incident.acknowledged_by = None
    record_event(
        session, incident, now, EventKind.reopened, "an alert fired again within the flap window"
    )
