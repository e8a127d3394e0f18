"""What an incident change sets off: outbox rows for Slack and PagerDuty, in the caller's
transaction. Payloads carry intent and ids; adapters render from the stored incident when
they deliver, so a late delivery shows the latest state."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from oncall.catalog.models import Team
from oncall.incidents.models import Incident
from oncall.outbox import Channel, enqueue


def pagerduty_dedup_key(incident_id: int | None) -> str:
    return f"oncall-{incident_id}"


def team_channel(session: Session, team_id: str | None) -> str | None:
    """The Slack channel incidents of a team are posted in."""
    team = session.get(Team, team_id) if team_id else None
    return team.slack_channel if team else None


def incident_opened(*, session: Session, incident: Incident, now: datetime) -> None:
    """Post the incident message in its channel (the message mentions the assignee)."""
    if incident.slack_channel is None:
        incident.slack_channel = team_channel(session, incident.team_id)
    enqueue(
        session=session,
        channel=Channel.slack,
        kind="post_incident",
        payload={"channel": incident.slack_channel},
        incident_id=incident.id,
        now=now,
    )


def incident_changed(*, session: Session, incident: Incident, now: datetime, reason: str) -> None:
    """Update the incident message in place (chat.update on its stored ts)."""
    enqueue(
        session=session,
        channel=Channel.slack,
        kind="update_incident",
        payload={"channel": incident.slack_channel, "reason": reason},
        incident_id=incident.id,
        now=now,
    )


def thread_message(
    *,
    session: Session,
    incident: Incident,
    now: datetime,
    text: str,
    mention: list[str] | None = None,
    here: bool = False,
) -> None:
    """A reply in the incident's thread: escalation mentions, notes."""
    enqueue(
        session=session,
        channel=Channel.slack,
        kind="thread_message",
        payload={
            "channel": incident.slack_channel,
            "text": text,
            "mention": list(mention or []),
            "here": here,
        },
        incident_id=incident.id,
        now=now,
    )


def page(*, session: Session, incident: Incident, now: datetime, action: str) -> None:
    """A PagerDuty Events API v2 event; dedup_key is the incident's, so PagerDuty deduplicates."""
    enqueue(
        session=session,
        channel=Channel.pagerduty,
        kind=action,
        payload={
            "event_action": action,
            "dedup_key": pagerduty_dedup_key(incident.id),
            "team_id": incident.team_id,
            "summary": incident.title[:1024],
            "severity": incident.severity,
            "source": incident.model_id or incident.labels.get("cluster") or "oncall",
            "component": incident.model_id,
            "group": incident.team_id,
            "class": incident.labels.get("category"),
        },
        incident_id=incident.id,
        dedup_key=f"{pagerduty_dedup_key(incident.id)}:{action}:{now.isoformat()}",
        now=now,
    )
